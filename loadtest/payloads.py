"""Request bodies, encoded once before the run so the load generator spends its CPU on sending.

Good requests carry what the response must contain (how many forecasts or results);
bad requests must be answered with a 4xx, anything else is a failure.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from loadtest.config import Kind, Sizes, harmonic_count
from loadtest.data import RealSeries, Review, real_window, synthetic_series

JSON = "application/json"


@dataclass(frozen=True)
class Payload:
    kind: Kind
    case: str  # "ok" for good requests, else the name of the bad case
    method: str
    path: str
    body: str  # geventhttpclient encodes it (UTF-8)
    content_type: str = JSON
    items: int = 0  # forecasts or results a good request must get back
    horizon: int | None = None  # forecast length a good request must get back, if known


@dataclass(frozen=True)
class ServedModels:
    """What the payloads need to know about the served models (from `GET /models`)."""

    forecast_features: int = 1
    forecast_min_length: int = 1
    forecast_horizon: int | None = None
    has_forecast: bool = True
    has_sentiment: bool = True

    @classmethod
    def from_listing(cls, listing: Any) -> ServedModels:
        """Read the default cards out of a `GET /models` answer.

        The default model of a task is the one named after the task, else the only one of
        that task (as the service resolves it), at its default version.
        """
        cards = _default_cards(listing)
        forecast = cards.get("forecast")
        has_sentiment = "sentiment" in cards
        if forecast is None:
            return cls(has_forecast=False, has_sentiment=has_sentiment)
        spec = forecast["forecast"]
        return cls(
            forecast_features=int(spec.get("n_features", 1)),
            forecast_min_length=int(spec.get("min_length", 1)),
            forecast_horizon=int(spec["horizon"]) if "horizon" in spec else None,
            has_forecast=True,
            has_sentiment=has_sentiment,
        )


def _default_cards(listing: Any) -> dict[str, dict[str, Any]]:
    """task -> card of the model a request without `model` gets."""
    models = listing.get("models", []) if isinstance(listing, dict) else []
    by_task: dict[str, list[dict[str, Any]]] = {}
    for model in models:
        if isinstance(model, dict) and isinstance(model.get("task"), str):
            by_task.setdefault(model["task"], []).append(model)
    cards: dict[str, dict[str, Any]] = {}
    for task, candidates in by_task.items():
        named = [m for m in candidates if m.get("name") == task]
        chosen = named[0] if named else (candidates[0] if len(candidates) == 1 else None)
        if chosen is None:
            continue
        versions = [v for v in chosen.get("versions", []) if isinstance(v, dict)]
        default = chosen.get("default_version")
        card = next((v.get("card") for v in versions if v.get("version") == default), None)
        if card is None and versions:
            card = versions[-1].get("card")
        if isinstance(card, dict):
            cards[task] = card
    return cards


def _dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), allow_nan=True)


def _series(
    length: int, served: ServedModels, real: list[RealSeries], sizes: Sizes, rng: random.Random
) -> list[Any]:
    if served.forecast_features == 1:
        if rng.random() < sizes.real_share:
            return real_window(real, length, rng)
        return synthetic_series(length, rng)
    columns = [synthetic_series(length, rng) for _ in range(served.forecast_features)]
    return [list(row) for row in zip(*columns, strict=True)]


def forecast_payload(
    served: ServedModels, real: list[RealSeries], sizes: Sizes, rng: random.Random
) -> Payload:
    count = harmonic_count(sizes.series_per_request, rng)
    low, high = sizes.points_per_series
    low = max(low, served.forecast_min_length)
    series = [_series(rng.randint(low, max(low, high)), served, real, sizes, rng)]
    series += [
        _series(rng.randint(low, max(low, high)), served, real, sizes, rng)
        for _ in range(count - 1)
    ]
    document: dict[str, Any] = {"series": series}
    horizon = served.forecast_horizon
    if horizon is not None and rng.random() < 0.5:
        document["horizon"] = horizon  # half the clients spell the default out
    return Payload(
        "forecast", "ok", "POST", "/forecast", _dumps(document), items=count, horizon=horizon
    )


def sentiment_payload(reviews: list[Review], sizes: Sizes, rng: random.Random) -> Payload:
    count = harmonic_count(sizes.texts_per_request, rng)
    texts = [review.text for review in rng.sample(reviews, min(count, len(reviews)))]
    document = {"texts": texts}
    return Payload("sentiment", "ok", "POST", "/sentiment", _dumps(document), items=len(texts))


def bad_payloads(served: ServedModels) -> list[Payload]:
    """Requests the API contract says must be refused with a 4xx; each one is cheap to send."""
    good_series = [round(math.sin(i / 5), 4) for i in range(max(60, served.forecast_min_length))]
    review = "A fine film, well acted and never dull."
    cases: list[tuple[str, str, Any]] = []
    if served.has_forecast:
        cases += [
            ("forecast_missing_series", "/forecast", {"horizon": 3}),
            ("forecast_extra_field", "/forecast", {"series": [good_series], "colour": "red"}),
            ("forecast_empty_list", "/forecast", {"series": []}),
            ("forecast_empty_series", "/forecast", {"series": [[]]}),
            ("forecast_not_a_number", "/forecast", {"series": [[*good_series[:-1], "x"]]}),
            ("forecast_null_value", "/forecast", {"series": [[*good_series[:-1], None]]}),
            ("forecast_nan", "/forecast", {"series": [[*good_series[:-1], math.nan]]}),
            ("forecast_infinity", "/forecast", {"series": [[*good_series[:-1], math.inf]]}),
            (
                "forecast_horizon_too_large",
                "/forecast",
                {"series": [good_series], "horizon": 1_000_000},
            ),
            ("forecast_horizon_zero", "/forecast", {"series": [good_series], "horizon": 0}),
            (
                "forecast_unknown_model",
                "/forecast",
                {"series": [good_series], "model": "no-such-model"},
            ),
            (
                "forecast_unknown_version",
                "/forecast",
                {"series": [good_series], "version": "999999"},
            ),
            ("forecast_not_an_object", "/forecast", [good_series]),
        ]
    if served.has_sentiment:
        cases += [
            ("sentiment_missing_texts", "/sentiment", {"text": review}),
            ("sentiment_empty_list", "/sentiment", {"texts": []}),
            ("sentiment_blank_text", "/sentiment", {"texts": [review, "   "]}),
            ("sentiment_not_a_string", "/sentiment", {"texts": [review, 42]}),
            ("sentiment_unknown_model", "/sentiment", {"texts": [review], "model": "nope"}),
        ]
    payloads = [Payload("bad", name, "POST", path, _dumps(doc)) for name, path, doc in cases]
    payloads += [
        Payload("bad", "malformed_json", "POST", "/forecast", '{"series": [[1.0, 2.0'),
        Payload(
            "bad",
            "wrong_content_type",
            "POST",
            "/sentiment",
            _dumps({"texts": [review]}),
            content_type="text/plain",
        ),
        Payload("bad", "unknown_route", "POST", "/predict", _dumps({"series": [good_series]})),
    ]
    return payloads


@dataclass(frozen=True)
class Pool:
    """Pre-encoded payloads per kind; `pick` draws one at random."""

    payloads: dict[Kind, list[Payload]]

    def pick(self, kind: Kind, rng: random.Random) -> Payload:
        return rng.choice(self.payloads[kind])

    def has(self, kind: Kind) -> bool:
        return bool(self.payloads.get(kind))


def build_pool(
    served: ServedModels,
    real: list[RealSeries],
    reviews: list[Review],
    sizes: Sizes,
    seed: int,
    size: int = 256,
) -> Pool:
    rng = random.Random(seed)
    payloads: dict[Kind, list[Payload]] = {"forecast": [], "sentiment": [], "bad": []}
    if served.has_forecast:
        payloads["forecast"] = [forecast_payload(served, real, sizes, rng) for _ in range(size)]
    if served.has_sentiment:
        payloads["sentiment"] = [sentiment_payload(reviews, sizes, rng) for _ in range(size)]
    payloads["bad"] = bad_payloads(served)
    return Pool(payloads)
