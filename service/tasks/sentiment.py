"""The sentiment task: request body -> token rows -> probabilities -> answer bytes.

Tokenizing, truncation and the label threshold all come from the model card; no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from contract.card import ModelCard, SentimentSpec
from contract.graph import SENTIMENT
from contract.text import Encoded, Tokenizer
from service.errors import Problems
from service.examples import sentiment_examples
from service.schemas import SentimentResponse
from service.tasks.base import Codec, Prepared, Task
from service.tasks.checks import (
    Limits,
    expect_object,
    item_list,
    json_type,
    name_schema,
    optional_name,
)

# A text without tokens: the tokenizer makes a token of every non-space character, except in
# HTML line breaks ("<br />"), which it reads as spaces. The space characters are spelled out
# (Python's str.isspace), since `\s` means fewer of them in JSON Schema's regex dialect.
_SPACE = "[" + "".join(f"\\u{c:04x}" for c in range(0x10000) if chr(c).isspace()) + "]"
_NO_TOKEN = f"^(?:{_SPACE}|<{_SPACE}*[bB][rR]{_SPACE}*/?{_SPACE}*>)*$"


@dataclass(frozen=True)
class SentimentQuery:
    texts: list[Any]
    model: str | None
    version: str | None


class SentimentCodec(Codec):
    def __init__(self, card: ModelCard, tokenizer: Tokenizer) -> None:
        super().__init__(card)
        self.spec: SentimentSpec = _spec(card)
        self.tokenizer = tokenizer

    def prepare(self, query: SentimentQuery, limits: Limits) -> Prepared:
        """Token ids per text (truncated by the card's rule), as int64 rows."""
        encoded = self.tokenizer.encode_batch(query.texts)
        problems = Problems()
        for index, item in enumerate(encoded):
            if not item.ids:
                problems.add(("texts", index), "contains no tokens")
        problems.raise_if_any()
        return Prepared([np.asarray(item.ids, dtype=np.int64) for item in encoded], encoded)

    def encode(self, prepared: Prepared, output: np.ndarray) -> bytes:
        encoded: list[Encoded] = prepared.context
        negative, positive = self.spec.labels[0], self.spec.labels[1]
        results = []
        for probability, item in zip(output.astype(np.float32), encoded, strict=True):
            p_negative = np.float32(1.0) - probability
            is_positive = bool(probability >= self.spec.threshold)
            results.append(
                {
                    "label": positive if is_positive else negative,
                    "score": probability if is_positive else p_negative,
                    "probabilities": {negative: p_negative, positive: probability},
                    "n_tokens": item.n_tokens,
                    "truncated": item.truncated,
                }
            )
        body = {"model": self.card.name, "version": self.card.version, "results": results}
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


class SentimentTask(Task):
    name = "sentiment"
    route = "/sentiment"
    graph = SENTIMENT
    summary = "Classify review texts; long texts are truncated by the card's rule"
    response_model = SentimentResponse

    def decode(self, body: Any, limits: Limits) -> SentimentQuery:
        fields = expect_object(body, ("texts",), ("model", "version"))
        texts = item_list(fields, "texts", "texts", limits)
        problems = Problems()
        for index, text in enumerate(texts):
            loc: tuple[str | int, ...] = ("texts", index)
            if not isinstance(text, str):
                problems.add(loc, f"must be a string, got {json_type(text)}")
            elif len(text) > limits.max_text_chars:
                problems.add(
                    loc,
                    f"has {len(text)} characters, more than the limit of {limits.max_text_chars}",
                )
            elif not text.strip():
                problems.add(loc, "is empty or only whitespace")
        problems.raise_if_any()
        return SentimentQuery(
            texts, optional_name(fields, "model"), optional_name(fields, "version")
        )

    def load_codec(self, directory: Path, card: ModelCard) -> SentimentCodec:
        spec = _spec(card).tokenizer
        try:
            tokenizer = Tokenizer.load(directory, spec)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{directory / spec.vocabulary_file}: {exc}") from exc
        return SentimentCodec(card, tokenizer)

    def check_card(self, card: ModelCard) -> list[str]:
        return [] if card.sentiment is not None else ["a sentiment card needs 'sentiment'"]

    def sample_rows(self, card: ModelCard, seed: int = 0) -> list[np.ndarray]:
        tokenizer = _spec(card).tokenizer
        rng = np.random.default_rng(seed)
        lengths = sorted({1, 8, max(1, tokenizer.max_length // 2), tokenizer.max_length})
        return [rng.integers(1, tokenizer.num_words, n).astype(np.int64) for n in lengths]

    def output_shape(self, card: ModelCard, batch_size: int) -> tuple[int, ...]:
        return (batch_size,)

    def check_output(self, output: np.ndarray) -> str | None:
        if not np.all(np.isfinite(output)):
            return "output is not finite"
        if not np.all((output >= 0) & (output <= 1)):
            return "probabilities are outside [0, 1]"
        return None

    def request_schema(self, limits: Limits, default: ModelCard | None) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["texts"],
            "properties": {
                "texts": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": limits.max_items,
                    "items": {
                        "type": "string",
                        "maxLength": limits.max_text_chars,
                        "not": {"pattern": _NO_TOKEN},
                    },
                    "description": "Raw review texts; each must contain a word or a symbol.",
                },
                "model": name_schema("Model name; default: the sentiment model."),
                "version": name_schema("Pinned version; default: the newest."),
            },
        }

    def examples(self, cards: list[ModelCard]) -> dict[str, dict[str, Any]]:
        return sentiment_examples(cards)


def _spec(card: ModelCard) -> SentimentSpec:
    assert card.sentiment is not None, "the sentiment task loads sentiment cards only"
    return card.sentiment
