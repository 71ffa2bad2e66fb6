"""What every peer app shares: the bundled ONNX files run by onnxruntime, as the service runs
them (`contract.sessions.create_session`: 1 intra-op thread, no spinning), and the repo's
tokenizer (`contract.text`, pure Python). Imported inside the peers' own virtualenvs, so it
needs only numpy, onnxruntime and pydantic (for the card).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from contract.card import ModelCard
from contract.sessions import create_session
from contract.text import Tokenizer

MODELS_DIR_ENV = "BENCH_MODELS_DIR"
TASKS = ("forecast", "sentiment")


def model_dir(task: str, root: Path | None = None) -> Path:
    """`<models>/<task>/<highest numeric version>`."""
    base = (root or Path(os.environ.get(MODELS_DIR_ENV, "models"))) / task
    versions = [p for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"no version of model {task!r} under {base}")
    return max(versions, key=lambda p: int(p.name))


class Forecaster:
    """float32 series [batch, time, 1] -> float32 forecast [batch, horizon, 1]."""

    def __init__(self, root: Path | None = None) -> None:
        directory = model_dir("forecast", root)
        self.card = ModelCard.load(directory)
        self.session = create_session(directory / self.card.onnx_file)

    def __call__(self, series: np.ndarray) -> np.ndarray:
        series = np.asarray(series, dtype=np.float32)
        if series.ndim == 2:
            series = series[:, :, None]
        lengths = np.full(series.shape[0], series.shape[1], dtype=np.int32)
        output = self.session.run(None, {"series": series, "lengths": lengths})[0]
        return np.asarray(output, dtype=np.float32)


class Classifier:
    """Texts -> float32 probability of the positive label [batch] (right-padded tokens)."""

    def __init__(self, root: Path | None = None) -> None:
        directory = model_dir("sentiment", root)
        self.card = ModelCard.load(directory)
        assert self.card.sentiment is not None
        self.tokenizer = Tokenizer.load(directory, self.card.sentiment.tokenizer)
        self.session = create_session(directory / self.card.onnx_file)

    def tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = [self.tokenizer.encode(text).ids for text in texts]
        lengths = np.asarray([max(len(ids), 1) for ids in encoded], dtype=np.int32)
        tokens = np.zeros((len(encoded), int(lengths.max())), dtype=np.int64)
        for i, ids in enumerate(encoded):
            tokens[i, : len(ids)] = ids
        return tokens, lengths

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        tokens, lengths = self.tokens(texts)
        output = self.session.run(None, {"tokens": tokens, "lengths": lengths})[0]
        return np.asarray(output, dtype=np.float32).reshape(-1)


def as_texts(values: Sequence[object]) -> list[str]:
    """Texts from what a server hands over: str, bytes, or numpy arrays of them."""
    texts = []
    for value in values:
        while isinstance(value, np.ndarray):
            value = value.reshape(-1)[0]
        texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    return texts


def app_arguments() -> argparse.Namespace:
    """The command line the harness starts every peer app with: the model, host and port."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("forecast", "sentiment"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    return parser.parse_args()
