"""The protocol's server metadata, and model metadata as JSON (service.v2.adapters makes it)."""

from __future__ import annotations

from typing import Any

from service.v2.backend import ModelMetadata, TensorMetadata

SERVER_NAME = "rnn-serving"
SERVER_VERSION = "0.1.0"
# Triton's name of the binary tensor data extension (its server reports the same string).
EXTENSIONS = ("binary_tensor_data",)


def server_json() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}


def model_json(model: ModelMetadata, versions: list[str]) -> dict[str, Any]:
    return {
        "name": model.name,
        "versions": versions,
        "platform": model.platform,
        "inputs": [_tensor_json(tensor) for tensor in model.inputs],
        "outputs": [_tensor_json(tensor) for tensor in model.outputs],
    }


def _tensor_json(tensor: TensorMetadata) -> dict[str, Any]:
    return {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
