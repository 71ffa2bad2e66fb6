"""The request bodies of the benchmark: one 50-step series, one IMDB review of typical length."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import orjson

DATA_DIR = Path(__file__).parent / "data"
MODELS = ("forecast", "sentiment")


@dataclass(frozen=True)
class Payload:
    model: str  # "forecast" or "sentiment"
    path: str  # HTTP path, e.g. "/forecast"
    body: bytes  # the exact body every request sends
    description: str
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # beyond Content-Type


def forecast_series() -> list[float]:
    data = json.loads((DATA_DIR / "forecast.json").read_text(encoding="utf-8"))
    return [float(v) for v in data["series"]]


def reviews() -> list[str]:
    data = json.loads((DATA_DIR / "reviews.json").read_text(encoding="utf-8"))
    return [str(item["review"]) for item in data["reviews"]]


def review() -> str:
    """The review every sentiment request sends (232 words)."""
    return reviews()[0]


def forecast_payload() -> Payload:
    series = forecast_series()
    return Payload(
        model="forecast",
        path="/forecast",
        body=orjson.dumps({"series": [series]}),
        description=f"one {len(series)}-step series",
    )


def sentiment_payload() -> Payload:
    text = review()
    return Payload(
        model="sentiment",
        path="/sentiment",
        body=orjson.dumps({"texts": [text]}),
        description=f"one IMDB review of {len(text.split())} words",
    )


def payload(model: str) -> Payload:
    if model == "forecast":
        return forecast_payload()
    if model == "sentiment":
        return sentiment_payload()
    raise ValueError(f"unknown model {model!r}")
