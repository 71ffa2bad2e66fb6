"""The lineup table: JSON + Markdown written, read back, and re-rendered with the served model."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from training.forecast.lineup import (
    LineupConfig,
    Row,
    iterate_one_step,
    read_results,
    write_results,
)


def _rows() -> list[Row]:
    return [
        Row("next step", "naive (last value)", "-", 0.0202, 0.0202, 0, 0.0, 0),
        Row(
            "seq2seq",
            "GRU(20) x2",
            "seq",
            0.0103,
            0.0051,
            20,
            12.0,
            3_000,
            {"tf2onnx": ["Loop"], "native": ["GRU"]},
        ),
    ]


CARD = {
    "name": "forecast",
    "version": "1",
    "recurrent_ops": ["LSTM"],
    "metrics": {"mse_10_steps": 0.003, "mse_10_steps_onnx": 0.003, "noise_floor_mse": 0.00083},
    "training": {
        "architecture": "arch",
        "n_test": 10,
        "n_series": 100,
        "epochs": 2,
        "duration_s": 5.0,
        "threads": 1,
        "command": "cmd",
    },
}


def test_results_round_trip_and_render(tmp_path: Path) -> None:
    config = LineupConfig(epochs=3)
    write_results(_rows(), config, tmp_path, {"threads": 1})
    markdown = (tmp_path / "lineup.md").read_text(encoding="utf-8")
    assert "| seq2seq | GRU(20) x2 | 0.0103 | 0.0051 | 0.50 |" in markdown
    assert "tf2onnx: Loop; native: GRU" in markdown
    assert "3 epochs (the book: 20)" in markdown
    assert "served model" not in markdown

    rows, read_config, extra = read_results(tmp_path)
    assert rows == _rows() and read_config == config and extra == {"threads": 1}
    write_results(rows, read_config, tmp_path, extra, CARD)
    markdown = (tmp_path / "lineup.md").read_text(encoding="utf-8")
    assert "## The served model" in markdown and "| served | 0.0030 | 0.0030 | 0.0072 |" in markdown
    payload = json.loads((tmp_path / "lineup.json").read_text(encoding="utf-8"))
    assert payload["served_model"]["artifact"] == "models/forecast/1"


def test_iterate_one_step_feeds_predictions_back() -> None:
    # A real (weightless) Keras model whose one-step forecast is "last value + 1".
    add_one = keras.Sequential(
        [keras.Input((None, 1)), keras.layers.Lambda(lambda x: x[:, -1] + 1)]
    )
    forecast = iterate_one_step(add_one, np.zeros((2, 5, 1), np.float32), horizon=3)
    np.testing.assert_array_equal(forecast, [[1, 2, 3], [1, 2, 3]])
