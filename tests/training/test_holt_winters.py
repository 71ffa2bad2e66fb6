"""The Holt-Winters base: the linear map equals the recursions, the card ties it to its
parameters, the transform blends it with seasonal naive, and its fit never reads the test
windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from contract.card import ForecastSpec, Scaler, Smoothing, WindowNormalisation
from contract.forecast_transform import ForecastTransform
from contract.holt_winters import kernel
from training.forecast import samples, smoothing
from training.forecast.setup import Candidate, SeriesSetup

PARAMETERS = Smoothing(alpha=0.3, beta=0.1, gamma=0.2, phi=0.9)


def _recursive(window: np.ndarray, period: int, horizon: int, p: Smoothing) -> np.ndarray:
    """Additive damped Holt-Winters written out step by step, one window at a time."""
    first = window[:period].mean()
    trend = (window[period : 2 * period].mean() - first) / period if p.beta > 0 else 0.0
    middle = (period - 1) / 2
    seasonal = [window[i] - first - trend * (i - middle) for i in range(period)]
    level = first + trend * middle
    for t in range(period, len(window)):
        previous = level
        level = p.alpha * (window[t] - seasonal[t - period]) + (1 - p.alpha) * (
            previous + p.phi * trend
        )
        trend = p.beta * (level - previous) + (1 - p.beta) * p.phi * trend
        seasonal.append(p.gamma * (window[t] - level) + (1 - p.gamma) * seasonal[t - period])
    return np.array(
        [
            level
            + sum(p.phi**j for j in range(1, h + 1)) * trend
            + seasonal[len(window) - period + (h - 1) % period]
            for h in range(1, horizon + 1)
        ]
    )


@pytest.mark.parametrize(("length", "period", "horizon"), [(24, 4, 8), (36, 12, 12), (13, 6, 4)])
def test_kernel_equals_the_recursions(length: int, period: int, horizon: int) -> None:
    rng = np.random.default_rng(3)
    windows = rng.normal(size=(5, length)).cumsum(axis=1)
    matrix = kernel(length, period, horizon, PARAMETERS)
    for window in windows:
        expected = _recursive(window, period, horizon, PARAMETERS)
        np.testing.assert_allclose(matrix @ window, expected, rtol=1e-10, atol=1e-10)


def test_kernel_of_a_window_shorter_than_a_season_is_seasonal_naive() -> None:
    window = np.arange(5.0)
    np.testing.assert_array_equal(kernel(5, 12, 7, PARAMETERS) @ window, [0, 1, 2, 3, 4, 0, 1])


def test_kernel_follows_a_linear_trend_and_a_fixed_season() -> None:
    t = np.arange(48.0)
    season = np.array([3.0, -1.0, 0.5, -2.5])
    series = 2.0 * t + season[t.astype(int) % 4]
    undamped = Smoothing(alpha=0.5, beta=0.3, gamma=0.3, phi=1.0)
    future = 2.0 * np.arange(48.0, 56.0) + season[np.arange(48, 56) % 4]
    np.testing.assert_allclose(kernel(48, 4, 8, undamped) @ series, future, atol=1e-9)


def _spec(base: str, parameters: Smoothing | None) -> ForecastSpec:
    return ForecastSpec(
        n_features=1,
        feature_names=["value"],
        target_names=["value"],
        horizon=6,
        min_length=16,
        input_scaler=Scaler(mean=[0.0], scale=[1.0]),
        target_scaler=Scaler(mean=[0.0], scale=[1.0]),
        window=16,
        seasons=[4],
        normalisation=WindowNormalisation(
            transform="none", level_points=4, base_season=4, base=base, smoothing=parameters
        ),
    )


def test_card_requires_the_parameters_with_that_base_only() -> None:
    with pytest.raises(ValidationError, match="smoothing"):
        _spec("holt_winters_blend", None)
    with pytest.raises(ValidationError, match="smoothing"):
        _spec("blend", PARAMETERS)


def test_transform_blends_holt_winters_with_seasonal_naive_in_raw_units() -> None:
    history = 50 + np.random.default_rng(5).normal(size=(30, 1)).cumsum(axis=0)
    window = history[-16:, 0]
    answers = {}
    for base, parameters in (("seasonal_naive", None), ("holt_winters_blend", PARAMETERS)):
        transform = ForecastTransform(_spec(base, parameters))
        _, state = transform.to_graph(history)
        answers[base] = transform.from_graph(np.zeros((1, 6, 1)), [state])[0, :, 0]
    smoothed = _recursive(window, 4, 6, PARAMETERS)  # affine in the window: raw units work
    expected = 0.5 * (answers["seasonal_naive"] + smoothed)
    np.testing.assert_allclose(answers["holt_winters_blend"], expected, rtol=1e-10)


def _setup(values: np.ndarray) -> SeriesSetup:
    n = len(values)
    cut = samples.Cut(round(n * 0.7), round(n * 0.85), n)
    return SeriesSetup(values[:, None], ["value"], [0], [4], 4, cut, 42)


def test_fit_beats_seasonal_naive_on_a_trend_and_ignores_the_test_windows() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(200.0)
    values = 100 + 0.8 * t + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(scale=0.5, size=200)
    candidate = Candidate(16, 8, "none", base="holt_winters_blend")
    setup = _setup(values)
    fitted = smoothing.fit(setup, candidate)
    assert fitted.smoothing in smoothing.GRID
    assert fitted.smoothing[1] > 0  # a trend

    from training.forecast.candidates import base_mae

    naive = base_mae(setup, Candidate(16, 8, "none", base="seasonal_naive"))
    assert base_mae(setup, fitted) < 0.8 * naive

    changed = values.copy()
    changed[setup.cut.valid_end :] = rng.normal(size=200 - setup.cut.valid_end)
    assert smoothing.fit(_setup(changed), candidate).smoothing == fitted.smoothing


def test_a_fitted_candidate_reads_back_from_json_unchanged() -> None:
    import json

    fitted = Candidate(16, 8, "none", base="holt_winters_blend", smoothing=(0.1, 0.0, 0.2, 1.0))
    record = fitted.record()
    assert json.loads(json.dumps(record)) == record
    assert record["smoothing"] == [0.1, 0.0, 0.2, 1.0]


@pytest.mark.slow
def test_a_holt_winters_candidate_trains_exports_and_serves_like_its_evaluation(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from contract.card import ModelCard
    from training.forecast import realplan
    from training.forecast.realrun import Budget, run
    from training.forecast.target import Target

    t = np.arange(150.0)
    values = 50 + 0.4 * t + 8 * np.sin(2 * np.pi * t / 12)
    values += np.random.default_rng(2).normal(size=150)
    csv = tmp_path / "series.csv"
    csv.write_text("value\n" + "".join(f"{v!r}\n" for v in values.tolist()), encoding="utf-8")
    options = realplan.RealOptions(csv, ["value"], ["value"], horizon=6, seasons=[12], units=8)
    plan = realplan.plan(options)
    only = Candidate(plan.candidates[0].window, 8, "none", base="holt_winters_blend")
    plan = replace(plan, candidates=[only])
    target = Target(tmp_path / "models", "hw", "1")
    card = run(target, plan, Budget(seconds=3, epochs=2), "test", allow_worse=True)

    loaded = ModelCard.load(target.directory)
    assert loaded == card
    norm = loaded.forecast.normalisation if loaded.forecast else None
    assert norm is not None and norm.base == "holt_winters_blend" and norm.smoothing is not None
    assert loaded.training["candidates"][0]["smoothing"] == [
        norm.smoothing.alpha,
        norm.smoothing.beta,
        norm.smoothing.gamma,
        norm.smoothing.phi,
    ]
    assert np.isfinite(loaded.metrics["test_mae_ratio"])

    import onnx
    from fastapi.testclient import TestClient

    from contract.card import ONNX_FILE
    from service.app import create_app
    from service.config import Settings
    from training.forecast.artifact import onnx_forecast

    assert loaded.forecast is not None
    transform = ForecastTransform(loaded.forecast)
    origins = [110, 131, 144]  # whole histories, longer than the window
    windows = samples.build(values[:, None], [0], transform, origins, 6)
    graph_out = onnx_forecast(onnx.load(target.directory / ONNX_FILE), windows.x)
    expected = transform.from_graph_batch(graph_out.astype(np.float64), windows.batch)[:, :, 0]
    with TestClient(create_app(Settings(models_dir=tmp_path / "models"))) as client:
        body = {"model": "hw", "series": [values[:t].tolist() for t in origins]}
        response = client.post("/forecast", json=body)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(np.asarray(response.json()["forecasts"]), expected, rtol=1e-5)


def test_fit_follows_the_validation_windows() -> None:
    """The most recent windows before the test part take part: a level that starts to wander
    there asks for a faster-moving level than the steady training part alone."""
    rng = np.random.default_rng(11)
    t = np.arange(200.0)
    steady = 100 + 5 * np.sin(2 * np.pi * t / 4) + rng.normal(scale=0.5, size=200)
    candidate = Candidate(16, 8, "none", base="holt_winters_blend")
    setup = _setup(steady)
    before = smoothing.fit(setup, candidate).smoothing
    wandering = steady.copy()
    start, end = setup.cut.train_end, setup.cut.valid_end
    wandering[start:end] += np.cumsum(rng.normal(scale=3, size=end - start))
    after = smoothing.fit(_setup(wandering), candidate).smoothing
    assert before is not None and after is not None
    assert after[0] > before[0]  # alpha: the level follows the recent values more closely
