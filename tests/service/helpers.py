"""Direct onnxruntime calls on fixture artifacts: the reference the service must match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from contract.card import ModelCard
from contract.text import Tokenizer


def direct_forecast(directory: Path, series: list[list[float]] | list[list[list[float]]]) -> list:
    """Scale, run each series alone (unpadded) with a plain session, unscale."""
    card = ModelCard.load(directory)
    assert card.forecast is not None
    spec = card.forecast
    session = ort.InferenceSession(str(directory / card.onnx_file))
    answers = []
    assert spec.normalisation is None, "per-window cards: compare with the trainer instead"
    for values in series:
        raw = np.asarray(values, dtype=np.float64).reshape(len(values), spec.n_features)
        if spec.window is not None:  # the model looks at its most recent window only
            raw = raw[-spec.window :]
        scaled = (raw - spec.input_scaler.mean) / spec.input_scaler.scale
        feeds = {
            "series": scaled.astype(np.float32)[None],
            "lengths": np.array([len(raw)], dtype=np.int32),
        }
        out = session.run(["forecast"], feeds)[0][0].astype(np.float64)
        answers.append(out * spec.target_scaler.scale + spec.target_scaler.mean)
    return answers


def direct_sentiment(directory: Path, texts: list[str]) -> list[float]:
    card = ModelCard.load(directory)
    assert card.sentiment is not None
    tokenizer = Tokenizer.load(directory, card.sentiment.tokenizer)
    session = ort.InferenceSession(str(directory / card.onnx_file))
    probabilities = []
    for text in texts:
        ids = tokenizer.encode(text).ids
        feeds = {
            "tokens": np.asarray([ids], dtype=np.int64),
            "lengths": np.array([len(ids)], dtype=np.int32),
        }
        probabilities.append(float(session.run(["probability"], feeds)[0][0]))
    return probabilities
