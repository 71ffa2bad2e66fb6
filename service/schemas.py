"""Pydantic models of the API, for the OpenAPI document (/docs) and for tests.

The hot endpoints do not parse with these (see service.payload); they describe the same shapes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORECAST_EXAMPLE: dict[str, Any] = {
    # yearly sunspot numbers 1700-1729 (statsmodels' sunspots data set)
    "series": [
        [
            *(5, 11, 16, 23, 36, 58, 29, 20, 10, 8, 3, 0, 0, 2, 11),
            *(27, 47, 63, 60, 39, 28, 26, 22, 11, 21, 40, 78, 122, 103, 73),
        ]
    ],
    "horizon": 5,
}
SENTIMENT_EXAMPLE: dict[str, Any] = {
    "texts": ["A wonderful film, I loved every minute.", "Dull plot and wooden acting."]
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForecastRequest(_Model):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FORECAST_EXAMPLE]})

    series: list[list[float] | list[list[float]]] = Field(
        description=(
            "One entry per series: a list of numbers (univariate model) or a list of rows of "
            "the model's n_features numbers. Series may have different lengths."
        ),
        min_length=1,
        max_length=256,
    )
    horizon: int | None = Field(
        default=None, ge=1, description="Steps to forecast; default and maximum: the model's."
    )
    model: str | None = Field(default=None, description="Model name; default: the forecast model.")
    version: str | None = Field(default=None, description="Pinned version; default: the newest.")


class ForecastResponse(_Model):
    model: str
    version: str
    horizon: int
    forecasts: list[list[float] | list[list[float]]] = Field(
        description="Per series, `horizon` values (one target) or rows of target values."
    )


class SentimentRequest(_Model):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SENTIMENT_EXAMPLE]})

    texts: list[str] = Field(min_length=1, max_length=256, description="Raw review texts.")
    model: str | None = Field(default=None, description="Model name; default: the sentiment model.")
    version: str | None = Field(default=None, description="Pinned version; default: the newest.")


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
    stats: dict[str, Any] = Field(description="Dynamic batching counters of this process.")


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
        description="Versions found by hot reload that failed verification and are not served.",
    )


class ReloadResult(_Model):
    loaded: list[str] = Field(description="<name>/<version> now served.")
    failed: list[str] = Field(description="<name>/<version> that failed (see GET /models).")


class Health(_Model):
    status: str


class Readiness(_Model):
    status: str
    models: dict[str, list[str]]


def request_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the endpoint reads itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(),
                    "examples": {"example": {"value": example}},
                }
            },
        }
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON"},
    404: {"model": ErrorResponse, "description": "Unknown model or version"},
    413: {"model": ErrorResponse, "description": "Body larger than the limit"},
    415: {"model": ErrorResponse, "description": "Content type is not application/json"},
    422: {"model": ErrorResponse, "description": "Invalid request; the message names the field"},
    401: {"model": ErrorResponse, "description": "API key missing or wrong (when one is set)"},
    503: {
        "model": ErrorResponse,
        "description": "Models not loaded yet, or the model's queue is full (see Retry-After)",
    },
    504: {"model": ErrorResponse, "description": "Waited past the deadline; not computed"},
}
