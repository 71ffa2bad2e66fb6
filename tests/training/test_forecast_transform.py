"""ForecastTransform with per-window normalisation: the one raw <-> graph mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.card import (
    ForecastSpec,
    Intervals,
    ModelCard,
    Scaler,
    WindowNormalisation,
)
from contract.forecast_transform import ForecastInputError, ForecastTransform
from training.forecast import conformal

MODELS = Path(__file__).resolve().parents[2] / "models"


def _spec(
    window: int = 8,
    horizon: int = 6,
    season: int = 4,
    transform: str = "none",
    base: str = "seasonal_naive",
    drift: bool = False,
    intervals: Intervals | None = None,
) -> ForecastSpec:
    return ForecastSpec(
        n_features=1,
        feature_names=["value"],
        target_names=["value"],
        horizon=horizon,
        min_length=window,
        input_scaler=Scaler(mean=[0.0], scale=[1.0]),
        target_scaler=Scaler(mean=[0.0], scale=[1.0]),
        window=window,
        seasons=[season],
        normalisation=WindowNormalisation(
            transform=transform,
            level_points=season,
            base_season=season,
            base=base,
            drift=drift,
        ),
        intervals=intervals,
    )


def _seasonal(n: int, level: float = 100.0) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    return (level + 0.5 * t + 10 * np.sin(2 * np.pi * t / 4) + np.cos(t))[:, None]


def test_only_the_most_recent_window_is_used() -> None:
    transform = ForecastTransform(_spec(window=8))
    history = _seasonal(40)
    z_long, state_long = transform.to_graph(history)
    z_short, state_short = transform.to_graph(history[-8:])
    assert z_long.shape == (8, 1) and state_long.points_used == 8
    np.testing.assert_array_equal(z_long, z_short)
    out = np.zeros((1, 6, 1))
    np.testing.assert_array_equal(
        transform.from_graph(out, [state_long]), transform.from_graph(out, [state_short])
    )


@pytest.mark.parametrize("kind", ["none", "log"])
def test_zero_output_is_the_seasonal_naive_forecast(kind: str) -> None:
    transform = ForecastTransform(_spec(transform=kind))
    history = _seasonal(20)
    _, state = transform.to_graph(history)
    raw = transform.from_graph(np.zeros((1, 6, 1)), [state])[0, :, 0]
    last_season = history[-4:, 0]
    np.testing.assert_allclose(raw, np.concatenate([last_season, last_season[:2]]), rtol=1e-12)


def test_window_normalisation_is_scale_free_and_round_trips() -> None:
    transform = ForecastTransform(_spec(base="seasonal_mean", drift=True))
    history = _seasonal(30)
    z, state = transform.to_graph(history)
    z_big, _ = transform.to_graph(1000 * history + 5)
    np.testing.assert_allclose(z, z_big, atol=1e-9)  # outputs can leave the training range
    future = _seasonal(36)[-6:][None]
    _, batch = transform.to_graph_batch(history[-8:][None])
    output = transform.to_normalised_targets(future, batch)
    np.testing.assert_allclose(transform.from_graph(output, [state]), future, rtol=1e-12)


def test_log_model_refuses_non_positive_values() -> None:
    transform = ForecastTransform(_spec(transform="log"))
    history = _seasonal(20)
    history[-1] = 0.0
    with pytest.raises(ForecastInputError, match="above 0"):
        transform.to_graph(history)


def test_quantiles_are_monotone_scaled_by_the_window_and_never_cross() -> None:
    rng = np.random.default_rng(0)
    residuals = rng.standard_normal((200, 6, 1)) * np.arange(1, 7)[None, :, None]
    intervals = conformal.intervals(residuals, "test", "test", 0)
    transform = ForecastTransform(_spec(intervals=intervals))
    histories = [_seasonal(20), 10 * _seasonal(20)]
    pairs = [transform.to_graph(h) for h in histories]
    output = np.zeros((2, 6, 1))
    levels = [0.05, 0.1, 0.37, 0.5, 0.9, 0.995]
    q = transform.quantiles(output, [s for _, s in pairs], levels)
    assert q.shape == (6, 2, 6, 1)
    assert np.all(np.diff(q, axis=0) >= 0)
    width = q[4] - q[1]
    np.testing.assert_allclose(width[1], 10 * width[0], rtol=1e-9)  # scaled per window
    assert np.all(np.diff(width[0, :, 0]) > 0)  # wider further ahead, as the residuals


def test_global_scaler_cards_keep_their_mapping() -> None:
    card = ModelCard.load(MODELS / "sunspots" / "1")
    assert card.forecast is not None
    transform = ForecastTransform(card.forecast)
    values = np.arange(12, dtype=np.float64)[:, None]
    z, state = transform.to_graph(values)
    scaler = card.forecast.input_scaler
    np.testing.assert_allclose(z, (values - scaler.mean[0]) / scaler.scale[0])
    assert state.points_used == 12


def test_generator_card_intervals_are_calibrated() -> None:
    card = ModelCard.load(MODELS / "forecast" / "1")
    assert card.forecast is not None and card.forecast.intervals is not None
    intervals = card.forecast.intervals
    assert card.forecast.window == 50
    assert intervals.coverage_80 is not None and abs(intervals.coverage_80 - 0.8) <= 0.05
    transform = ForecastTransform(card.forecast)
    q = transform.quantiles(np.zeros((1, 10, 1)), [], [0.1, 0.5, 0.9])
    assert np.all(q[0] < q[1]) and np.all(q[1] < q[2])


def test_intervals_reject_a_grid_that_crosses() -> None:
    with pytest.raises(ValueError, match="must not decrease"):
        Intervals(
            levels=[0.1, 0.9],
            residuals=[[[1.0, 0.0]]],
            calibration="x",
            calibration_windows=1,
            evaluation="x",
            evaluation_windows=0,
        )


def test_blend_base_is_the_mean_of_the_naive_and_mean_bases() -> None:
    history = _seasonal(20)
    answers = {}
    for base in ("seasonal_naive", "seasonal_mean", "blend"):
        transform = ForecastTransform(_spec(base=base))
        _, state = transform.to_graph(history)
        answers[base] = transform.from_graph(np.zeros((1, 6, 1)), [state])[0, :, 0]
    assert not np.allclose(answers["seasonal_naive"], answers["seasonal_mean"])
    expected = 0.5 * (answers["seasonal_naive"] + answers["seasonal_mean"])
    np.testing.assert_allclose(answers["blend"], expected, rtol=1e-12)


def test_naive_weight_mixes_the_base_with_seasonal_naive() -> None:
    history = _seasonal(20)
    answers = {}
    for weight in (0.0, 0.25, 1.0):
        spec = _spec(base="seasonal_mean")
        assert spec.normalisation is not None
        norm = spec.normalisation.model_copy(update={"naive_weight": weight})
        transform = ForecastTransform(spec.model_copy(update={"normalisation": norm}))
        _, state = transform.to_graph(history)
        answers[weight] = transform.from_graph(np.zeros((1, 6, 1)), [state])[0, :, 0]
    naive = ForecastTransform(_spec(base="seasonal_naive"))
    _, state = naive.to_graph(history)
    seasonal_naive = naive.from_graph(np.zeros((1, 6, 1)), [state])[0, :, 0]
    np.testing.assert_allclose(answers[1.0], seasonal_naive, rtol=1e-12)
    expected = 0.25 * seasonal_naive + 0.75 * answers[0.0]
    np.testing.assert_allclose(answers[0.25], expected, rtol=1e-12)
