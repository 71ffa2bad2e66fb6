"""The Keras models of the Keras baseline.

A `.keras` file saved by training is used when there is one (`BENCH_KERAS_FORECAST` /
`BENCH_KERAS_SENTIMENT` name it, else the first match of `KERAS_GLOBS`). Otherwise the same
architecture is rebuilt with fresh weights: the baseline measures what `model.predict` costs
per request, which does not depend on the weights. `*_SOURCE` says which one ran.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from service.card import ModelCard

REPO = Path(__file__).resolve().parents[2]

KERAS_GLOBS = {
    task: (f"models/{task}/*/*.keras", f"training/{task}/**/*.keras", f"artifacts/**/{task}*.keras")
    for task in ("forecast", "sentiment")
}


def find_keras_file(task: str, root: Path = REPO) -> Path | None:
    named = os.environ.get(f"BENCH_KERAS_{task.upper()}")
    if named:
        return Path(named)
    for pattern in KERAS_GLOBS[task]:
        matches = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        if matches:
            return matches[0]
    return None


def load_forecast_model(card: ModelCard) -> tuple[Any, str]:
    import keras

    path = find_keras_file("forecast")
    if path is not None:
        return keras.models.load_model(path, compile=False), f"loaded {path}"
    from training.forecast.models import served_seq2seq

    assert card.forecast is not None
    spec = card.forecast
    model = served_seq2seq(spec.horizon, spec.n_features, len(spec.target_names))
    return model, "rebuilt training.forecast.models.served_seq2seq with fresh weights"


def load_sentiment_model(card: ModelCard) -> tuple[Any, str]:
    import keras

    path = find_keras_file("sentiment")
    if path is not None:
        return keras.models.load_model(path, compile=False), f"loaded {path}"
    assert card.sentiment is not None
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int64"),
            keras.layers.Embedding(card.sentiment.tokenizer.num_words, 64, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.GRU(32)),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    return model, "rebuilt Embedding(64, mask_zero) + BiGRU(32) + Dense(1) with fresh weights"
