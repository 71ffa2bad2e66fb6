"""Each task's tensors in the protocol, in raw units, mapped onto the task's native query.

A V2 request becomes the body the native API would have received (`Task.decode` then checks
it with the native limits and messages, and the model's codec prepares the same graph rows),
and the batch output becomes the V2 outputs. The tensor names are the native fields', so the
native messages (`series[0][17] ...`, `texts[3] ...`) name the tensor and its index.

- forecast: input FP32 `series` [batch, time, features] (or [batch, time] for a univariate
  model); output FP32 `forecast` [batch, horizon, targets]; request parameter `horizon`; with
  the request parameter `quantiles` (the levels as one comma-separated string, since the
  protocol's parameters are scalars: "0.1,0.5,0.9"), also FP32 `quantiles`
  [batch, levels, horizon, targets] in the order the levels were asked (only for models with
  calibrated intervals; not in the metadata, whose outputs clients may ask for unconditionally).
- sentiment: input BYTES `texts` [batch] of UTF-8 texts; outputs FP32 `probability` [batch]
  (of the card's positive label) and BYTES `label` [batch].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from contract.card import ModelCard
from service.tasks import Prepared
from service.tasks.forecast import ForecastCodec
from service.tasks.sentiment import SentimentCodec
from service.v2.backend import ModelMetadata, TensorMetadata
from service.v2.tensors import invalid_tensor

PLATFORM = "onnx_onnxv1"  # the protocol's name for an ONNX model run by ONNX Runtime
VARIABLE = -1
HORIZON = "horizon"
QUANTILES = "quantiles"


class TensorAdapter(ABC):
    @abstractmethod
    def metadata(self, card: ModelCard) -> ModelMetadata: ...

    @abstractmethod
    def body(
        self, card: ModelCard, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The native request body of these (name- and datatype-checked) inputs."""

    @abstractmethod
    def outputs(self, codec: Any, prepared: Prepared, output: np.ndarray) -> dict[str, np.ndarray]:
        """The batch output rows of this request as the protocol's output tensors."""


class ForecastTensors(TensorAdapter):
    INPUT = "series"
    OUTPUT = "forecast"

    def metadata(self, card: ModelCard) -> ModelMetadata:
        assert card.forecast is not None
        spec = card.forecast
        return ModelMetadata(
            card.name,
            card.version,
            PLATFORM,
            (TensorMetadata(self.INPUT, "FP32", (VARIABLE, VARIABLE, spec.n_features)),),
            (
                TensorMetadata(
                    self.OUTPUT, "FP32", (VARIABLE, spec.horizon, len(spec.target_names))
                ),
            ),
        )

    def body(
        self, card: ModelCard, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert card.forecast is not None
        width = card.forecast.n_features
        series = inputs[self.INPUT]
        rank_ok = series.ndim == 3 and series.shape[2] == width
        if not (rank_ok or (series.ndim == 2 and width == 1)):
            takes = f"[batch, time, {width}]" + (" or [batch, time]" if width == 1 else "")
            raise invalid_tensor(
                f"input {self.INPUT!r} has shape {list(series.shape)}, "
                f"model {card.name!r} takes {takes}"
            )
        finite = np.isfinite(series)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise invalid_tensor(f"input {self.INPUT!r}: element {index} is not a finite number")
        rows: list[Any]
        if width == 1:
            # The native API's univariate form, as Python floats (the float64 values JSON
            # would have parsed): the codec's list path costs 20 against 29 us for array rows.
            flat = series[:, :, 0] if series.ndim == 3 else series
            rows = flat.astype(np.float64).tolist()
        else:
            rows = list(series.astype(np.float64))  # float64 arrays [time, features]
        body: dict[str, Any] = {self.INPUT: rows}
        if HORIZON in parameters:
            horizon = parameters[HORIZON]
            if type(horizon) is not int:
                raise invalid_tensor(f"parameter {HORIZON!r} must be an integer")
            body[HORIZON] = horizon
        if QUANTILES in parameters:
            body[QUANTILES] = _levels(parameters[QUANTILES])
        return body

    def outputs(
        self, codec: ForecastCodec, prepared: Prepared, output: np.ndarray
    ) -> dict[str, np.ndarray]:
        context = prepared.context
        steps = output[:, : context.horizon, :]
        raw = codec.transform.from_graph(steps, context.states)
        outputs = {self.OUTPUT: np.ascontiguousarray(raw, dtype=np.float32)}
        if context.quantiles:
            bands = codec.transform.quantiles(steps, context.states, context.quantiles)
            outputs[QUANTILES] = np.ascontiguousarray(bands.transpose(1, 0, 2, 3), np.float32)
        return outputs


def _levels(value: Any) -> Any:
    """`quantiles` as a list of levels: the string is split at commas."""
    if not isinstance(value, str):
        return value
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise invalid_tensor(f"parameter {QUANTILES!r} must be levels like '0.1,0.5,0.9'") from exc


class SentimentTensors(TensorAdapter):
    INPUT = "texts"
    PROBABILITY = "probability"
    LABEL = "label"

    def metadata(self, card: ModelCard) -> ModelMetadata:
        return ModelMetadata(
            card.name,
            card.version,
            PLATFORM,
            (TensorMetadata(self.INPUT, "BYTES", (VARIABLE,)),),
            (
                TensorMetadata(self.PROBABILITY, "FP32", (VARIABLE,)),
                TensorMetadata(self.LABEL, "BYTES", (VARIABLE,)),
            ),
        )

    def body(
        self, card: ModelCard, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        texts = inputs[self.INPUT]
        if not (texts.ndim == 1 or (texts.ndim == 2 and texts.shape[1] == 1)):
            raise invalid_tensor(
                f"input {self.INPUT!r} has shape {list(texts.shape)}, "
                f"model {card.name!r} takes [batch] (or [batch, 1])"
            )
        decoded: list[str] = []
        for index, value in enumerate(texts.ravel()):
            try:
                decoded.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
            except UnicodeDecodeError as exc:
                raise invalid_tensor(
                    f"input {self.INPUT!r}: element {index} is not UTF-8 ({exc.reason})"
                ) from exc
        return {self.INPUT: decoded}

    def outputs(
        self, codec: SentimentCodec, prepared: Prepared, output: np.ndarray
    ) -> dict[str, np.ndarray]:
        probability = np.ascontiguousarray(output, dtype=np.float32)
        negative, positive = (label.encode("utf-8") for label in codec.spec.labels[:2])
        labels = np.where(probability >= codec.spec.threshold, positive, negative).astype(object)
        return {self.PROBABILITY: probability, self.LABEL: labels}


ADAPTERS: dict[str, TensorAdapter] = {
    "forecast": ForecastTensors(),
    "sentiment": SentimentTensors(),
}
