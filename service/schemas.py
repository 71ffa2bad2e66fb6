"""Pydantic models of the answers, for the OpenAPI document (/docs) and for tests.

Request bodies of the data plane are described by each task's `request_schema`
(service.tasks), which states exactly what its hand-written checks accept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForecastResponse(_Model):
    model: str
    version: str
    horizon: int
    forecasts: list[list[float] | list[list[float]]] = Field(
        description="Per series, `horizon` values (one target) or rows of target values."
    )
    points_used: list[int] = Field(
        description="Per series, how many of its most recent points the model looked at "
        "(at most the model's window: older points change nothing)."
    )
    quantile_forecasts: dict[str, list[list[float] | list[list[float]]]] | None = Field(
        default=None,
        description="With `quantiles`: per requested level (written as Python writes the "
        'float, e.g. "0.1"), forecasts shaped like `forecasts`. Conformal intervals from '
        "held-out residuals, scaled by each window's normalisation; they never cross.",
    )
    timestamps: list[list[str]] | None = Field(
        default=None,
        description="With `last_timestamp`: per series, the ISO 8601 time of each step.",
    )
    warnings: list[str] | None = Field(
        default=None,
        description="Present when an input lies far outside the training range or is "
        "shorter than the model's window; each names the series.",
    )


class SentimentResult(_Model):
    label: str
    score: float = Field(description="Probability of the predicted label.")
    probabilities: dict[str, float]
    n_tokens: int = Field(description="Tokens in the text before truncation.")
    truncated: bool = Field(description="True if the text was cut to the model's max length.")


class SentimentResponse(_Model):
    model: str
    version: str
    results: list[SentimentResult]


class ErrorDetail(_Model):
    loc: list[str | int]
    message: str


class ErrorInfo(_Model):
    code: str
    message: str
    details: list[ErrorDetail | dict[str, Any]]


class ErrorResponse(_Model):
    error: ErrorInfo


class ModelVersion(_Model):
    version: str
    card: dict[str, Any]
    stats: dict[str, Any] = Field(
        description="Dynamic batching counters of this process, and the rows per onnxruntime"
        " run it uses."
    )


class ModelInfo(_Model):
    name: str
    task: str
    default_version: str
    versions: list[ModelVersion]


class LoadFailure(_Model):
    name: str
    version: str
    directory: str
    error: str = Field(description="Why the version is not served (the file and the check).")
    detected_at: float = Field(description="Unix time of the failed load.")


class ModelList(_Model):
    models: list[ModelInfo]
    load_failures: list[LoadFailure] = Field(
        default_factory=list,
        description="Version directories that failed verification and are not served.",
    )


class ReloadResult(_Model):
    loaded: list[str] = Field(description="<name>/<version> now served.")
    failed: list[str] = Field(description="<name>/<version> that failed (see GET /models).")


class Health(_Model):
    status: str


class Readiness(_Model):
    status: str
    models: dict[str, list[str]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "Malformed JSON, or a body that is not valid gzip or deflate data",
    },
    404: {
        "model": ErrorResponse,
        "description": "Unknown model or version, or a model of another task",
    },
    405: {
        "model": ErrorResponse,
        "description": "Wrong method (the Allow header names the right one)",
    },
    409: {
        "model": ErrorResponse,
        "description": "Several models of the task are served and the request names none",
    },
    413: {"model": ErrorResponse, "description": "Body larger than the limit (decompressed, too)"},
    415: {
        "model": ErrorResponse,
        "description": "Content type is not application/json, or a Content-Encoding other"
        " than gzip or deflate",
    },
    422: {"model": ErrorResponse, "description": "Invalid request; the message names the field"},
    401: {"model": ErrorResponse, "description": "API key missing or wrong (when one is set)"},
    503: {
        "model": ErrorResponse,
        "description": "Models not loaded yet, or the model's queue is full (see Retry-After)",
    },
    504: {"model": ErrorResponse, "description": "Waited past the deadline; not computed"},
}
