"""The model card: the contract between training (which writes it) and serving (which trusts it).

One card per artifact, stored as `models/<name>/<version>/card.json` beside `model.onnx`.
Training builds a `ModelCard`, serving loads it with `ModelCard.load`; both import this module,
so the two sides cannot drift. This module must not import TensorFlow or onnxruntime.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CARD_FILE = "card.json"
ONNX_FILE = "model.onnx"
VOCABULARY_FILE = "vocabulary.json"

Dim = int | str  # a fixed size, or the name of a dynamic axis ("batch", "time")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    name: str
    dtype: Literal["float32", "int64", "int32"]
    shape: list[Dim]


class Scaler(_Strict):
    """Standardisation fitted on the training split only: x_scaled = (x - mean) / scale."""

    mean: list[float]
    scale: list[float]

    @model_validator(mode="after")
    def _same_width(self) -> Scaler:
        if len(self.mean) != len(self.scale):
            raise ValueError("scaler mean and scale must have the same length")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scaler scale must be positive")
        return self


class ForecastSpec(_Strict):
    """How to turn raw series into the graph's input and its output back into raw units."""

    n_features: int = Field(ge=1)
    feature_names: list[str]
    target_names: list[str]  # which features are forecast (output columns, in order)
    horizon: int = Field(ge=1)  # steps the graph predicts at once
    min_length: int = Field(ge=1)  # shortest series the graph accepts
    input_scaler: Scaler  # one entry per input feature
    target_scaler: Scaler  # one entry per target


class TokenizerSpec(_Strict):
    """Settings of `contract.text.Tokenizer`; the vocabulary itself is a file beside the card."""

    num_words: int = Field(ge=2)  # ids 0..num_words-1; 0 = padding, 1 = out of vocabulary
    oov_token: str
    max_length: int = Field(ge=1)
    truncation: Literal["pre", "post"]  # "pre" keeps the end of a long text (Keras' default)
    lowercase: bool = True
    vocabulary_file: str = VOCABULARY_FILE
    vocabulary_sha256: str


class SentimentSpec(_Strict):
    labels: list[str]  # index 0 = negative class, index 1 = positive class
    threshold: float = Field(gt=0, lt=1)  # probability >= threshold -> labels[1]
    tokenizer: TokenizerSpec


class ParityReport(_Strict):
    """What the export gate checked before the artifact was written."""

    max_abs_diff: float
    tolerance: float
    lengths: list[int]
    batch_sizes: list[int]
    cases: int
    notes: str = ""


class ModelCard(_Strict):
    name: str
    version: str
    task: Literal["forecast", "sentiment"]
    description: str
    created_at: datetime
    onnx_file: str = ONNX_FILE
    sha256: str  # of the ONNX file
    opset: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    op_types: list[str]  # every op type in the graph, sorted
    recurrent_ops: list[str]  # op types that carry recurrence (RNN/GRU/LSTM, or Loop/Scan)
    exporter: str  # e.g. "native-onnx-builder" or "tf2onnx 1.17.0"
    framework: dict[str, str]  # library versions used for training/export
    training: dict[str, Any]  # data, split, seed, epochs, duration_s, command
    metrics: dict[str, float]
    parity: ParityReport
    forecast: ForecastSpec | None = None
    sentiment: SentimentSpec | None = None

    @model_validator(mode="after")
    def _task_spec_present(self) -> ModelCard:
        if self.task == "forecast" and self.forecast is None:
            raise ValueError("a forecast card needs the 'forecast' section")
        if self.task == "sentiment" and self.sentiment is None:
            raise ValueError("a sentiment card needs the 'sentiment' section")
        return self

    @classmethod
    def load(cls, directory: Path) -> ModelCard:
        return cls.model_validate_json((directory / CARD_FILE).read_text(encoding="utf-8"))

    def dump(self, directory: Path) -> None:
        (directory / CARD_FILE).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
