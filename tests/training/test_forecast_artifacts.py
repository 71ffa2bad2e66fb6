"""The committed forecasters: cards valid, files intact, and the served model meets its target
on fresh generator series, measured through onnxruntime alone (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from contract.card import ModelCard
from contract.hashing import sha256_of
from training.forecast.data import generate_time_series

MODELS = Path(__file__).resolve().parents[2] / "models"
TARGET_MSE = 0.004


def _session(directory: Path, card: ModelCard) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(directory / card.onnx_file), options)


@pytest.mark.parametrize("name", ["forecast", "sunspots"])
def test_committed_card_matches_its_graph(name: str) -> None:
    directory = MODELS / name / "1"
    card = ModelCard.load(directory)
    assert card.sha256 == sha256_of(directory / card.onnx_file)
    assert card.recurrent_ops == ["LSTM"]  # native op, no Loop
    assert card.parity.max_abs_diff <= card.parity.tolerance
    spec = card.forecast
    assert spec is not None
    session = _session(directory, card)
    x = np.zeros((2, max(spec.min_length, 12), spec.n_features), np.float32)
    (y,) = session.run(None, {"series": x, "lengths": np.array([12, 3], np.int32)})
    assert y.shape == (2, spec.horizon, len(spec.target_names))


def test_served_forecaster_meets_the_target_on_fresh_series() -> None:
    directory = MODELS / "forecast" / "1"
    card = ModelCard.load(directory)
    session = _session(directory, card)
    series = generate_time_series(2_000, 60, np.random.default_rng(20261122))  # unseen seed
    x, y = series[:, :50], series[:, 50:, 0]
    (forecast,) = session.run(None, {"series": x, "lengths": np.full(len(x), 50, np.int32)})
    mse = float(np.mean((forecast[..., 0] - y) ** 2))
    assert mse <= TARGET_MSE
    assert mse == pytest.approx(card.metrics["mse_10_steps_onnx"], rel=0.25)
