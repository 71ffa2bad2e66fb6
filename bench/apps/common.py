"""What the baseline apps share: where the models are, and the card-driven pre/post-processing
a reader of the notes would write with numpy (no dynamic batching, no hand-made validation).

Settings come from the environment, since uvicorn imports the apps by name in each worker:
`BENCH_MODELS_DIR` (default `models`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from contract.card import ModelCard
from contract.text import Tokenizer

MODELS_DIR_ENV = "BENCH_MODELS_DIR"


class ForecastRequest(BaseModel):
    """The baselines' body models: the pydantic parsing a reader of the notes would write."""

    series: list[list[float]]


class SentimentRequest(BaseModel):
    texts: list[str]


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_DIR_ENV, "models"))


def latest_version_dir(name: str, root: Path | None = None) -> Path:
    """`<models>/<name>/<highest numeric version>`."""
    base = (root or models_dir()) / name
    versions = [p for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"no version of model {name!r} under {base}")
    return max(versions, key=lambda p: int(p.name))


def task_model_name(task: str, root: Path | None = None) -> str:
    """The model the service answers a task's requests with when none is named: the model
    called like the task, else the only model of that task (the service's own rule)."""
    base = root or models_dir()
    if (base / task).is_dir():
        return task
    names = sorted(
        directory.name
        for directory in base.iterdir()
        if directory.is_dir()
        and not directory.name.startswith(".")
        and ModelCard.load(latest_version_dir(directory.name, base)).task == task
    )
    if len(names) != 1:
        raise FileNotFoundError(f"expected one {task} model under {base}, found {names}")
    return names[0]


def load_card(task: str, root: Path | None = None) -> tuple[Path, ModelCard]:
    """The directory and card of the newest version of the task's default model."""
    directory = latest_version_dir(task_model_name(task, root), root)
    return directory, ModelCard.load(directory)


def load_tokenizer(directory: Path, card: ModelCard) -> Tokenizer:
    assert card.sentiment is not None
    return Tokenizer.load(directory, card.sentiment.tokenizer)


def forecast_inputs(card: ModelCard, series: list[list[float]]) -> np.ndarray:
    """Scaled float32 [batch, time, n_features]; every series must have the same length."""
    assert card.forecast is not None
    spec = card.forecast
    values = np.asarray(series, dtype=np.float32).reshape(len(series), -1, spec.n_features)
    mean = np.asarray(spec.input_scaler.mean, dtype=np.float32)
    scale = np.asarray(spec.input_scaler.scale, dtype=np.float32)
    return (values - mean) / scale


def forecast_answer(card: ModelCard, output: np.ndarray) -> dict[str, Any]:
    """Model output [batch, horizon, targets] (scaled) -> the service's answer shape."""
    assert card.forecast is not None
    spec = card.forecast
    mean = np.asarray(spec.target_scaler.mean, dtype=np.float32)
    scale = np.asarray(spec.target_scaler.scale, dtype=np.float32)
    raw = output * scale + mean
    forecasts = raw[:, :, 0] if raw.shape[2] == 1 else raw
    return {
        "model": card.name,
        "version": card.version,
        "horizon": spec.horizon,
        "forecasts": forecasts.tolist(),
    }


def token_inputs(
    tokenizer: Tokenizer, texts: list[str]
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Right-padded int64 tokens [batch, time], int32 lengths, and the encodings."""
    encoded = tokenizer.encode_batch(texts)
    lengths = np.asarray([max(len(item.ids), 1) for item in encoded], dtype=np.int32)
    tokens = np.zeros((len(encoded), int(lengths.max())), dtype=np.int64)
    for i, item in enumerate(encoded):
        tokens[i, : len(item.ids)] = item.ids
    return tokens, lengths, encoded


def sentiment_answer(
    card: ModelCard, probabilities: np.ndarray, encoded: list[Any]
) -> dict[str, Any]:
    assert card.sentiment is not None
    negative, positive = card.sentiment.labels[0], card.sentiment.labels[1]
    results = []
    for probability, item in zip(probabilities.reshape(-1).tolist(), encoded, strict=True):
        is_positive = probability >= card.sentiment.threshold
        results.append(
            {
                "label": positive if is_positive else negative,
                "score": probability if is_positive else 1.0 - probability,
                "probabilities": {negative: 1.0 - probability, positive: probability},
                "n_tokens": item.n_tokens,
                "truncated": item.truncated,
            }
        )
    return {"model": card.name, "version": card.version, "results": results}
