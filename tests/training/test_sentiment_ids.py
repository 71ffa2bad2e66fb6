"""Training and serving turn the same review into the same ids.

Training side: the tokenizer fitted by the pipeline, its reviews encoded into the padded
matrix Keras trains on. Serving side: a tokenizer rebuilt from vocabulary.json + the card's
spec, exactly as the service loads it, encoding one review at a time.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from contract.text import Tokenizer
from training.sentiment.data import IMDB_FILE, default_cache_dir
from training.sentiment.pipeline import DataOptions, TokenizerOptions, prepare
from training.sentiment.sequences import encode_reviews

from .test_sentiment_data import make_reviews, write_csv

N_REVIEWS = 1000


def _source(tmp_path: Path) -> Path:
    """The first 3,000 real IMDB reviews when the CLI has cached the CSV, else synthetic ones."""
    cached = default_cache_dir() / IMDB_FILE
    if not cached.exists():
        return write_csv(tmp_path / "reviews.csv", make_reviews(3 * N_REVIEWS))
    with cached.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [(text, label) for text, label in itertools.islice(reader, 3 * N_REVIEWS)]
    return write_csv(tmp_path / "reviews.csv", rows)


@pytest.mark.parametrize("truncation", ["pre", "post"])
def test_training_and_serving_ids_are_identical(tmp_path: Path, truncation: str) -> None:
    prepared = prepare(
        DataOptions(
            source=_source(tmp_path),
            text_column="review",
            label_column="sentiment",
            cache_dir=None,
            seed=42,
            validation_size=N_REVIEWS,
            test_size=N_REVIEWS,
        ),
        TokenizerOptions(num_words=5000, max_length=50, truncation=truncation),  # type: ignore[arg-type]
        log=lambda _: None,
    )
    sha = prepared.tokenizer.save(tmp_path / "artifact")
    served = Tokenizer.load(tmp_path / "artifact", prepared.tokenizer.spec(sha))

    texts = prepared.split.test.texts
    training_side = prepared.test
    assert len(texts) == len(training_side) == N_REVIEWS
    truncated = 0
    for row, text in enumerate(texts):
        encoded = served.encode(text)
        assert encoded.ids == training_side.tokens[row, : training_side.lengths[row]].tolist()
        assert not training_side.tokens[row, training_side.lengths[row] :].any()  # right padding
        truncated += encoded.truncated
    assert truncated > 0  # the truncation rule was exercised, not just short reviews
    again = encode_reviews(served, prepared.split.test)
    assert (again.tokens == training_side.tokens).all()
