"""Request examples for the OpenAPI document, one per served model, each naming its model.

Built from the cards, so every example fits the model it names (length, features) and a
test can send each one and check the answer against that model.
"""

from __future__ import annotations

import math
from typing import Any

from contract.card import ModelCard

_REVIEWS = ["A wonderful film, I loved every minute.", "Dull plot and wooden acting."]


def forecast_examples(cards: list[ModelCard]) -> dict[str, dict[str, Any]]:
    examples = {}
    for card in cards:
        assert card.forecast is not None
        spec = card.forecast
        length = max(spec.min_length, int(card.training.get("window", 0) or 0), 20)
        mean, scale = spec.input_scaler.mean, spec.input_scaler.scale
        # A smooth series around the training data's mean, one training std wide.
        rows = [
            [
                round(m + s * math.sin(2 * math.pi * t / 12 + f), 4)
                for f, (m, s) in enumerate(zip(mean, scale, strict=True))
            ]
            for t in range(length)
        ]
        series: list[Any] = [row[0] for row in rows] if spec.n_features == 1 else rows
        horizon = min(spec.horizon, 5)
        examples[f"{card.name}/{card.version}"] = {
            "summary": f"{length} points for model {card.name!r} version {card.version!r}",
            "value": {
                "series": [series],
                "horizon": horizon,
                "model": card.name,
                "version": card.version,
            },
        }
    return examples


def sentiment_examples(cards: list[ModelCard]) -> dict[str, dict[str, Any]]:
    return {
        f"{card.name}/{card.version}": {
            "summary": f"two reviews for model {card.name!r} version {card.version!r}",
            "value": {"texts": _REVIEWS, "model": card.name, "version": card.version},
        }
        for card in cards
    }
