"""Server and model metadata of the protocol, from the model cards.

The protocol's tensors are in raw units, one per task (not the graph's padded token ids and
lengths): a forecast model takes FP32 `series` [batch, time, features] (or [batch, time] when
univariate) and answers FP32 `forecast` [batch, horizon, targets]; a sentiment model takes
BYTES `text` [batch] and answers FP32 `probability` [batch] (of the positive label) and BYTES
`label` [batch].
"""

from __future__ import annotations

from typing import Any

from contract.card import ModelCard
from service.v2.backend import ModelMetadata, TensorMetadata

SERVER_NAME = "rnn-serving"
SERVER_VERSION = "0.1.0"
# Triton's name of the binary tensor data extension (its server reports the same string).
EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "onnx_onnxv1"  # the protocol's name for an ONNX model run by ONNX Runtime
VARIABLE = -1

FORECAST_INPUT = "series"
FORECAST_OUTPUT = "forecast"
SENTIMENT_INPUT = "text"
SENTIMENT_PROBABILITY = "probability"
SENTIMENT_LABEL = "label"
# A request parameter of forecast models: forecast fewer steps than the model's horizon.
HORIZON_PARAMETER = "horizon"


def model_metadata(card: ModelCard) -> ModelMetadata:
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    if card.forecast is not None:
        spec = card.forecast
        inputs = (TensorMetadata(FORECAST_INPUT, "FP32", (VARIABLE, VARIABLE, spec.n_features)),)
        outputs = (
            TensorMetadata(
                FORECAST_OUTPUT, "FP32", (VARIABLE, spec.horizon, len(spec.target_names))
            ),
        )
    else:
        inputs = (TensorMetadata(SENTIMENT_INPUT, "BYTES", (VARIABLE,)),)
        outputs = (
            TensorMetadata(SENTIMENT_PROBABILITY, "FP32", (VARIABLE,)),
            TensorMetadata(SENTIMENT_LABEL, "BYTES", (VARIABLE,)),
        )
    return ModelMetadata(card.name, card.version, PLATFORM, inputs, outputs)


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
