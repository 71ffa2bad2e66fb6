"""The sentiment data plane: request body -> token rows -> probabilities -> response bytes.

Tokenizing, truncation and the label threshold all come from the model card; no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from contract.card import ModelCard, SentimentSpec
from contract.text import Encoded, Tokenizer
from service.errors import Problems
from service.payload import Limits, expect_object, item_list, json_type, optional_name


@dataclass(frozen=True)
class SentimentQuery:
    texts: list[Any]
    model: str | None
    version: str | None


def decode(body: Any, limits: Limits) -> SentimentQuery:
    """Model-independent checks of a parsed request body."""
    fields = expect_object(body, ("texts",), ("model", "version"))
    texts = item_list(fields, "texts", "texts", limits)
    problems = Problems()
    for index, text in enumerate(texts):
        loc: tuple[str | int, ...] = ("texts", index)
        if not isinstance(text, str):
            problems.add(loc, f"must be a string, got {json_type(text)}")
        elif len(text) > limits.max_text_chars:
            problems.add(
                loc, f"has {len(text)} characters, more than the limit of {limits.max_text_chars}"
            )
        elif not text.strip():
            problems.add(loc, "is empty or only whitespace")
    problems.raise_if_any()
    return SentimentQuery(texts, optional_name(fields, "model"), optional_name(fields, "version"))


def prepare(query: SentimentQuery, tokenizer: Tokenizer) -> tuple[list[np.ndarray], list[Encoded]]:
    """Token ids per text (truncated by the card's rule), as int64 rows."""
    encoded = tokenizer.encode_batch(query.texts)
    problems = Problems()
    for index, item in enumerate(encoded):
        if not item.ids:
            problems.add(("texts", index), "contains no tokens")
    problems.raise_if_any()
    return [np.asarray(item.ids, dtype=np.int64) for item in encoded], encoded


def encode(card: ModelCard, probabilities: np.ndarray, encoded: list[Encoded]) -> bytes:
    spec = _spec(card)
    negative, positive = spec.labels[0], spec.labels[1]
    results = []
    for probability, item in zip(probabilities.astype(np.float32), encoded, strict=True):
        p_negative = np.float32(1.0) - probability
        is_positive = bool(probability >= spec.threshold)
        results.append(
            {
                "label": positive if is_positive else negative,
                "score": probability if is_positive else p_negative,
                "probabilities": {negative: p_negative, positive: probability},
                "n_tokens": item.n_tokens,
                "truncated": item.truncated,
            }
        )
    body = {"model": card.name, "version": card.version, "results": results}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _spec(card: ModelCard) -> SentimentSpec:
    assert card.sentiment is not None, "registry.resolve checks the task"
    return card.sentiment
