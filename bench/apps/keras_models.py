"""The Keras models of the Keras baseline.

A `.keras` file saved by training is used when there is one (`BENCH_KERAS_FORECAST` /
`BENCH_KERAS_SENTIMENT` name it, else the newest match of `KERAS_GLOBS`). Otherwise the served
architecture is rebuilt by the training package's own builder, sized from the card's training
record, with fresh weights: the baseline measures what `model.predict` costs per request,
which does not depend on the weights. `describe` says which one runs (without importing Keras).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from contract.card import ModelCard

REPO = Path(__file__).resolve().parents[2]
KERAS_GLOBS = {
    task: (f"models/{task}/*/*.keras", f"training/{task}/**/*.keras", f"artifacts/**/{task}*.keras")
    for task in ("forecast", "sentiment")
}
SENTIMENT_DEFAULTS: dict[str, Any] = {
    "kind": "bigru_avg",
    "embedding_dim": 64,
    "units": 32,
    "dropout": 0.0,
}
FORECAST_DEFAULTS: dict[str, Any] = {"kind": "gru", "units": 64}


def find_keras_file(task: str, root: Path = REPO) -> Path | None:
    named = os.environ.get(f"BENCH_KERAS_{task.upper()}")
    if named:
        return Path(named)
    for pattern in KERAS_GLOBS[task]:
        matches = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        if matches:
            return matches[0]
    return None


def _recorded(card: ModelCard, defaults: dict[str, Any]) -> dict[str, Any]:
    """The architecture settings the card's training record holds, else the defaults."""
    recorded = card.training.get("model")
    recorded = recorded if isinstance(recorded, dict) else {}
    return {key: recorded.get(key, value) for key, value in defaults.items()}


_CELL = re.compile(r"\b(GRU|LSTM|SimpleRNN)\((\d+)\)")
_KINDS = {"GRU": "gru", "LSTM": "lstm", "SimpleRNN": "simple_rnn"}


def _forecast_config(card: ModelCard) -> dict[str, Any]:
    """Cell kind and units, from the record's `model` settings or its `architecture` text
    (e.g. "Conv1D(8, 4, causal, relu) + LSTM(16) x2 + Dense(10) on every step")."""
    settings = _recorded(card, FORECAST_DEFAULTS)
    if not isinstance(card.training.get("model"), dict):
        found = _CELL.search(str(card.training.get("architecture", "")))
        if found:
            settings = {"kind": _KINDS[found.group(1)], "units": int(found.group(2))}
    return settings


def _sentiment_config(card: ModelCard) -> dict[str, Any]:
    assert card.sentiment is not None
    return {**_recorded(card, SENTIMENT_DEFAULTS), "num_words": card.sentiment.tokenizer.num_words}


def describe(task: str, card: ModelCard) -> str:
    path = find_keras_file(task)
    if path is not None:
        return f"loaded {path}"
    if task == "forecast":
        settings = _forecast_config(card)
        builder = "training.forecast.models.served_seq2seq"
    else:
        settings = _sentiment_config(card)
        builder = "training.sentiment.models.build_model"
    shown = ", ".join(f"{k}={v}" for k, v in settings.items())
    return f"no .keras file saved: rebuilt with {builder}({shown}), fresh weights"


def load_forecast_model(card: ModelCard) -> Any:
    import keras

    path = find_keras_file("forecast")
    if path is not None:
        return keras.models.load_model(path, compile=False)
    from training.forecast.models import served_seq2seq

    assert card.forecast is not None
    spec = card.forecast
    settings = _forecast_config(card)
    return served_seq2seq(
        spec.horizon,
        spec.n_features,
        len(spec.target_names),
        units=int(settings["units"]),
        kind=str(settings["kind"]),
    )


def load_sentiment_model(card: ModelCard) -> Any:
    import keras

    path = find_keras_file("sentiment")
    if path is not None:
        return keras.models.load_model(path, compile=False)
    from training.sentiment.models import ModelConfig, build_model

    return build_model(ModelConfig(**_sentiment_config(card)))
