"""A backend of two tiny models, to test the protocol front ends without onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.errors import ServiceError
from service.v2.backend import InferResult, ModelMetadata, TensorMetadata

SCALE = {"1": 2.0, "2": 3.0}  # double/1 doubles, double/2 triples
MODELS = (
    *(
        ModelMetadata(
            "double",
            version,
            "onnx_onnxv1",
            (TensorMetadata("x", "FP32", (-1, -1)),),
            (TensorMetadata("y", "FP32", (-1, -1)),),
        )
        for version in SCALE
    ),
    ModelMetadata(
        "words",
        "1",
        "onnx_onnxv1",
        (TensorMetadata("text", "BYTES", (-1,)),),
        (TensorMetadata("length", "INT64", (-1,)), TensorMetadata("upper", "BYTES", (-1,))),
    ),
)


class FakeBackend:
    def __init__(self) -> None:
        self.is_ready = True
        self.calls: list[dict[str, Any]] = []

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.is_ready

    def models(self) -> Sequence[ModelMetadata]:
        return MODELS

    def model(self, name: str, version: str | None) -> ModelMetadata:
        versions = [model for model in MODELS if model.name == name]
        if not versions:
            raise ServiceError(404, "unknown_model", f"unknown model {name!r}")
        if version is None:
            return versions[-1]
        for model in versions:
            if model.version == version:
                return model
        raise ServiceError(404, "unknown_version", f"model {name!r} has no version {version!r}")

    def model_ready(self, name: str, version: str | None) -> bool:
        return self.is_ready

    async def infer(
        self,
        model_name: str,
        version: str | None,
        inputs: Mapping[str, np.ndarray],
        requested_outputs: Sequence[str] | None,
        parameters: Mapping[str, Any],
    ) -> InferResult:
        self.calls.append({"model": model_name, "version": version, "parameters": parameters})
        if "fail" in parameters:
            status = int(parameters["fail"])
            raise ServiceError(status, "failed", f"asked to fail with {status}")
        model = self.model(model_name, version)
        if model_name == "double":
            x = inputs["x"]
            if x.ndim != 2:
                raise ServiceError(422, "invalid_request", f"input 'x' must be 2-D, got {x.ndim}")
            outputs = {"y": (x * SCALE[model.version]).astype(np.float32)}
        else:
            texts = inputs["text"]
            outputs = {
                "length": np.array([len(t) for t in texts], dtype=np.int64),
                "upper": np.array([t.upper() for t in texts], dtype=object),
            }
        return InferResult(model.name, model.version, outputs)
