"""A real-series model end to end: trained with a tiny budget, served, answered like the
trainer evaluates it (whole histories up to each origin, longer than the window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from contract.card import ONNX_FILE, ModelCard
from training.forecast import samples
from training.forecast.cli import EXIT_BAD_INPUT, main

pytestmark = pytest.mark.slow

HORIZON, SEASON = 6, 12


def _series(n: int = 160) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(n)
    return 200 + 1.5 * t + 30 * np.sin(2 * np.pi * t / SEASON) + 3 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("real")
    values = _series()
    csv = root / "shop.csv"
    stamps = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(len(values))]
    rows = "".join(f"{s},{v!r}\n" for s, v in zip(stamps, values.tolist(), strict=True))
    csv.write_text("month,value\n" + rows, encoding="utf-8")
    argv = ["train", "--csv", str(csv), "--columns", "value", "--time-column", "month"]
    argv += ["--horizon", str(HORIZON), "--epochs", "2", "--units", "8", "--budget-minutes"]
    argv += ["0.05", "--allow-worse-than-baseline", "--out", str(root / "models")]
    assert main(argv) == 0
    return root / "models", values


def test_card_holds_what_serving_needs(trained: tuple[Path, np.ndarray]) -> None:
    models, _ = trained
    card = ModelCard.load(models / "shop" / "1")
    spec = card.forecast
    assert spec is not None and spec.normalisation is not None
    assert spec.seasons == [SEASON] and spec.frequency == "MS"
    assert spec.window == spec.min_length == 72  # six seasons
    assert spec.last_timestamp is not None and spec.last_timestamp.startswith("2013-04-01")
    assert spec.input_range is not None and spec.intervals is not None
    assert spec.intervals.coverage_80 is not None
    for key in ("valid_mae_ratio", "test_mae_ratio", "valid_mase", "test_mase"):
        assert np.isfinite(card.metrics[key])
    for name in ("naive", "seasonal_naive", "auto_ets", "auto_theta"):
        assert card.metrics[f"test_origins_mae_{name}"] > 0
    assert card.training["quality_gate"]["allow_worse_than_baseline"] is True
    assert card.training["selection"].startswith("lowest validation MAE")


def test_service_answers_equal_the_trainers_evaluation(trained: tuple[Path, np.ndarray]) -> None:
    from service.app import create_app
    from service.config import Settings
    from training.forecast.artifact import onnx_forecast

    models, values = trained
    directory = models / "shop" / "1"
    card = ModelCard.load(directory)
    assert card.forecast is not None
    from contract.forecast_transform import ForecastTransform

    transform = ForecastTransform(card.forecast)
    origins = [100, 131, len(values) - HORIZON]
    column = values[:, None]
    windows = samples.build(column, [0], transform, origins, HORIZON)
    import onnx

    graph = onnx.load(directory / ONNX_FILE)
    out = onnx_forecast(graph, windows.x).astype(np.float64)
    expected = transform.from_graph_batch(out, windows.batch)[:, :, 0]

    with TestClient(create_app(Settings(models_dir=models))) as client:
        body = {"model": "shop", "series": [values[:t].tolist() for t in origins]}
        response = client.post("/forecast", json=body)
    assert response.status_code == 200, response.text
    answer = np.asarray(response.json()["forecasts"])
    np.testing.assert_allclose(answer, expected, rtol=1e-5)


def test_gate_refuses_a_model_worse_than_seasonal_naive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A series that repeats exactly every 4 steps: seasonal naive is perfect, nothing beats it.
    csv = tmp_path / "cycle.csv"
    csv.write_text("value\n" + "".join(f"{[3, 9, 4, 7][i % 4]}\n" for i in range(120)))
    argv = ["train", "--csv", str(csv), "--columns", "value", "--horizon", "4", "--season"]
    argv += ["4", "--epochs", "1", "--units", "4", "--budget-minutes", "0.02"]
    argv += ["--out", str(tmp_path / "models")]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "quality gate" in err and "--allow-worse-than-baseline" in err
    assert not (tmp_path / "models" / "cycle").exists()


def test_backtest_writes_its_table_and_chart(
    trained: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    import json

    models, values = trained
    csv = tmp_path / "shop.csv"
    csv.write_text("value\n" + "".join(f"{v!r}\n" for v in values.tolist()), encoding="utf-8")
    argv = ["backtest", "--csv", str(csv), "--columns", "value", "--horizon", str(HORIZON)]
    argv += ["--season", str(SEASON), "--origins", "3", "--model", str(models / "shop" / "1")]
    assert main([*argv, "--results", str(tmp_path / "out")]) == 0
    table = json.loads((tmp_path / "out" / "shop.json").read_text(encoding="utf-8"))
    assert len(table["origins"]) == 3 and table["origins"][-1] == len(values) - HORIZON
    assert set(table["mae"]) == {"model", "naive", "seasonal_naive", "auto_ets", "auto_theta"}
    assert table["mae_ratio_to_seasonal_naive"]["seasonal_naive"] == 1.0
    assert (tmp_path / "out" / "shop.png").stat().st_size > 0
    assert "| model |" in (tmp_path / "out" / "shop.md").read_text(encoding="utf-8")
