"""End to end with tiny models: train -> native ONNX -> parity gate -> card read by the service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from contract.card import ModelCard
from contract.hashing import sha256_of
from training.forecast import data
from training.forecast.cli import main

pytestmark = pytest.mark.slow


def _run(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    lengths = np.full(len(x), x.shape[1], np.int32)
    return np.asarray(session.run(None, {"series": x.astype(np.float32), "lengths": lengths})[0])


def test_generator_model_end_to_end(tmp_path: Path) -> None:
    argv = ["train", "--out", str(tmp_path), "--epochs", "1", "--units", "8"]
    argv += ["--series-per-epoch", "300", "--n-valid", "100", "--n-test", "200"]
    assert main(argv) == 0
    directory = tmp_path / "forecast" / "1"
    card = ModelCard.load(directory)
    assert card.task == "forecast" and card.forecast is not None
    assert card.forecast.horizon == 10 and card.forecast.n_features == 1
    assert card.sha256 == sha256_of(directory / card.onnx_file)
    assert card.recurrent_ops == ["LSTM"]
    assert card.parity.max_abs_diff <= card.parity.tolerance == 1e-4
    assert card.parity.lengths == [20, 50, 200] and card.parity.batch_sizes == [1, 7, 64]
    assert card.training["n_series"] == 300 and card.training["epochs"] == 1
    assert card.metrics["mse_10_steps"] == pytest.approx(card.metrics["mse_10_steps_onnx"], 1e-4)
    # The graph takes any batch and length and answers [batch, horizon, targets].
    session = ort.InferenceSession(str(directory / card.onnx_file))
    series = data.generate_time_series(3, 37, 5)
    assert _run(session, series).shape == (3, 10, 1)


def test_multivariate_csv_end_to_end(tmp_path: Path) -> None:
    t = np.arange(240)
    rows = "\n".join(f"{i},{np.sin(i / 5):.5f},{100 + 20 * np.cos(i / 7):.4f}" for i in t)
    csv_path = tmp_path / "two.csv"
    csv_path.write_text("t,a,b\n" + rows + "\n", encoding="utf-8")
    out = tmp_path / "models"
    argv = ["train", "--csv", str(csv_path), "--columns", "a,b", "--targets", "b"]
    argv += ["--window", "20", "--horizon", "4", "--epochs", "1", "--units", "8"]
    argv += ["--budget-minutes", "0.05", "--allow-worse-than-baseline"]
    assert main([*argv, "--out", str(out), "--name", "two"]) == 0
    card = ModelCard.load(out / "two" / "1")
    spec = card.forecast
    assert spec is not None
    assert spec.feature_names == ["a", "b"] and spec.target_names == ["b"]
    assert spec.horizon == 4 and card.outputs[0].shape == ["batch", 4, 1]
    assert spec.window == 20 and spec.normalisation is not None  # per-window, both features
    assert spec.input_range is not None and len(spec.input_range.low) == 2
    assert card.metrics["test_mae"] > 0 and card.metrics["test_mae_ratio"] > 0
