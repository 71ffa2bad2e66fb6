"""The model card: the contract between training (which writes it) and serving (which trusts it).

One card per artifact, stored as `models/<name>/<version>/card.json` beside `model.onnx`.
Training builds a `ModelCard`, serving loads it with `ModelCard.load`; both import this module,
so the two sides cannot drift. This module must not import TensorFlow or onnxruntime.
"""

from __future__ import annotations

import itertools
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


class Smoothing(_Strict):
    """Parameters of the additive Holt-Winters base (see `contract.holt_winters`): level
    `alpha`, trend `beta` (0: no trend), seasonal `gamma`, trend damping `phi`."""

    alpha: float = Field(gt=0, le=1)
    beta: float = Field(ge=0, le=1)
    gamma: float = Field(ge=0, le=1)
    phi: float = Field(gt=0, le=1)

    @classmethod
    def of(cls, values: tuple[float, float, float, float]) -> Smoothing:
        alpha, beta, gamma, phi = values
        return cls(alpha=alpha, beta=beta, gamma=gamma, phi=phi)


class WindowNormalisation(_Strict):
    """Per-window normalisation, feature by feature, of the most recent `window` points.

    With T = log (transform "log") or the identity: level = mean of T(x) over the window's last
    `level_points` points, scale = mean |T(x)_t - T(x)_{t-m}| over the window (m = base_season,
    or 1 when it is 0), graph input z = (T(x) - level) / scale. The graph output is added to the
    base forecast of z with period m = `base_season` (0: no base), then mapped back with
    T^-1(level + scale * z). Base "seasonal_naive" repeats the window's last m points;
    "seasonal_mean" is the mean of the last m points plus the seasonal pattern averaged over
    every full season in the window (each season minus its own mean); "blend" is the mean of
    those two (a forecast combination, steadier than either); "holt_winters_blend" is the
    mean of seasonal naive and additive Holt-Winters with the parameters `smoothing`, run
    over the window (fitted once on the windows before the test part, the same for every request).
    With `drift`, the base also grows by the window's trend: slope = (mean of the last m
    points - mean of the first m) / (window - m) per step, and the forecast k seasons ahead
    (k = h // m + 1) adds k * m * slope. Last, `naive_weight` w mixes that base with seasonal
    naive: w * seasonal naive + (1 - w) * base (chosen on the validation windows).
    """

    transform: Literal["none", "log"]
    level_points: int = Field(ge=1)
    base_season: int = Field(ge=0)
    base: Literal["seasonal_naive", "seasonal_mean", "blend", "holt_winters_blend"] = (
        "seasonal_naive"
    )
    drift: bool = False
    smoothing: Smoothing | None = None  # required by (and only for) "holt_winters_blend"
    naive_weight: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _smoothing_matches_base(self) -> WindowNormalisation:
        if (self.base == "holt_winters_blend") != (self.smoothing is not None):
            raise ValueError('"smoothing" is required with base "holt_winters_blend" only')
        return self


class ValueRange(_Strict):
    """Range per input feature of the normalised training inputs (graph units)."""

    low: list[float]
    high: list[float]


class Intervals(_Strict):
    """Conformal prediction intervals: held-out residual quantiles in graph output units.

    `residuals[h][t][i]` is the `levels[i]` quantile of (truth - forecast) at horizon step h
    for target t, in the units of the graph output (per-window normalised units, or the
    target scaler's units without per-window normalisation). Quantiles for any level are
    interpolated between the grid's levels, so they are monotone and never cross.
    """

    levels: list[float]  # strictly increasing, each in (0, 1)
    residuals: list[list[list[float]]]  # [horizon][target][level]
    calibration: str  # where the residuals come from
    calibration_windows: int = Field(ge=1)
    evaluation: str  # where coverage was measured
    evaluation_windows: int = Field(ge=0)
    coverage_80: float | None = None  # share of true values inside the [0.1, 0.9] band
    width_80: float | None = None  # mean width of that band, raw units
    width_80_normalised: float | None = None  # mean width of that band, graph output units

    @model_validator(mode="after")
    def _grid(self) -> Intervals:
        levels = self.levels
        if not levels or any(not 0 < q < 1 for q in levels):
            raise ValueError("interval levels must lie strictly between 0 and 1")
        if any(b <= a for a, b in itertools.pairwise(levels)):
            raise ValueError("interval levels must be strictly increasing")
        for step in self.residuals:
            for row in step:
                if len(row) != len(levels):
                    raise ValueError("every residual row needs one value per level")
                if any(b < a for a, b in itertools.pairwise(row)):
                    raise ValueError("residual quantiles must not decrease with the level")
        return self


class ForecastSpec(_Strict):
    """How to turn raw series into the graph's input and its output back into raw units."""

    n_features: int = Field(ge=1)
    feature_names: list[str]
    target_names: list[str]  # which features are forecast (output columns, in order)
    horizon: int = Field(ge=1)  # steps the graph predicts at once
    min_length: int = Field(ge=1)  # shortest series the graph accepts
    input_scaler: Scaler  # one entry per input feature (identity with per-window normalisation)
    target_scaler: Scaler  # one entry per target
    window: int | None = Field(default=None, ge=1)  # points the model looks at (the most recent)
    seasons: list[int] = Field(default_factory=list)  # seasonal periods, in steps
    frequency: str | None = None  # pandas offset alias of the time column, e.g. "MS", "30min"
    last_timestamp: str | None = None  # ISO 8601, last time stamp of the training data
    normalisation: WindowNormalisation | None = None  # None: the global scalers above
    input_range: ValueRange | None = None  # normalised training inputs
    intervals: Intervals | None = None


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
