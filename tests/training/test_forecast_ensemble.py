"""The merged ensemble computes shrink x the mean of its members, in Keras and in ONNX."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from contract.card import ForecastSpec, Scaler, WindowNormalisation
from contract.forecast_transform import ForecastTransform
from training.forecast import models
from training.forecast.artifact import onnx_forecast
from training.forecast.ensemble import merge
from training.onnx_native import keras_to_onnx


def _members(count: int, stride: int, units: int = 4) -> list[keras.Sequential]:
    built = []
    for k in range(count):
        keras.utils.set_random_seed(k)
        model = models.window_forecaster(6, 2, units, stride)
        dense = model.layers[-1]
        rng = np.random.default_rng(k)
        dense.set_weights([rng.normal(size=w.shape).astype("float32") for w in dense.get_weights()])
        built.append(model)
    return built


@pytest.mark.parametrize("stride", [1, 3])
def test_merged_model_is_the_shrunk_mean_of_its_members(stride: int) -> None:
    members = _members(3, stride)
    merged = merge(members, units=4, stride=stride, shrink=0.6)
    x = np.random.default_rng(7).normal(size=(5, 12, 2)).astype("float32")
    expected = 0.6 * np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(merged.predict(x, verbose=0), expected, atol=1e-5)
    graph = keras_to_onnx(merged, "forecast", horizon=6, n_targets=1)
    np.testing.assert_allclose(onnx_forecast(graph, x)[:, :, 0], expected, atol=1e-4)


def test_a_single_member_is_unchanged() -> None:
    (member,) = _members(1, 1)
    merged = merge([member], units=4, stride=1)
    x = np.random.default_rng(3).normal(size=(2, 9, 2)).astype("float32")
    np.testing.assert_allclose(
        merged.predict(x, verbose=0), member.predict(x, verbose=0), atol=1e-6
    )


def test_pooled_intervals_widen_for_few_windows() -> None:
    from training.forecast import conformal

    rng = np.random.default_rng(0)
    residuals = rng.normal(size=(12, 4, 1)) * np.array([1.0, 2.0, 3.0, 4.0])[None, :, None]
    grid = np.asarray(conformal.pooled_residual_grid(residuals))  # [h, t, levels]
    low, high = conformal.LEVELS.index(0.1), conformal.LEVELS.index(0.9)
    widths = grid[:, 0, high] - grid[:, 0, low]
    assert np.all(np.diff(widths) > 0)  # wider with the horizon step
    assert np.all(np.diff(grid, axis=2) >= 0)  # monotone in the level
    plain = np.asarray(conformal.residual_grid(residuals))
    assert np.mean(widths) > np.mean(plain[:, 0, high] - plain[:, 0, low]) * 0.9
    levels = conformal.conformal_levels(np.array([0.1, 0.5, 0.9]), 9)
    np.testing.assert_allclose(levels, [0.0, 0.5, 1.0])


def _transform(base: str) -> ForecastTransform:

    spec = ForecastSpec(
        n_features=1,
        feature_names=["value"],
        target_names=["value"],
        horizon=3,
        min_length=8,
        input_scaler=Scaler(mean=[0.0], scale=[1.0]),
        target_scaler=Scaler(mean=[0.0], scale=[1.0]),
        window=8,
        seasons=[4],
        normalisation=WindowNormalisation(
            transform="none", level_points=4, base_season=4, base=base, drift=False
        ),
    )
    return ForecastTransform(spec)


def test_best_mix_keeps_the_base_when_the_correction_hurts() -> None:
    from training.forecast import samples
    from training.forecast.selection import best_mix

    transform = _transform("seasonal_naive")
    series = np.tile([1.0, 2.0, 3.0, 4.0], 8)[:, None]  # seasonal naive is exact
    windows = samples.build(series, [0], transform, [8, 12, 16], 3)
    weight, factor, error = best_mix(np.ones((3, 3, 1)), transform, windows)
    assert (weight, factor, error) == (0.0, 0.0, 0.0)


def test_best_mix_keeps_a_correction_that_helps() -> None:
    from training.forecast import samples
    from training.forecast.selection import best_mix

    transform = _transform("seasonal_mean")
    series = (np.arange(40.0) + np.tile([0.0, 5.0, 1.0, 3.0], 10))[:, None]  # a trend
    windows = samples.build(series, [0], transform, [8, 12, 20, 30], 3)
    exact = np.asarray(windows.y, np.float64).reshape(4, 3, 1)  # what the base misses
    weight, factor, error = best_mix(exact, transform, windows)
    assert weight == 0.0 and factor == 1.0 and error < 1e-5


def test_best_mix_moves_the_base_to_seasonal_naive_when_that_is_right() -> None:
    from training.forecast import samples
    from training.forecast.selection import best_mix

    # The season changes shape at step 8 and keeps the new one: repeating the last season is
    # exact, the seasonal mean (which averages both shapes at origin 12) is not.
    series = np.array([1.0, 2, 3, 4, 1, 2, 3, 4] + [4.0, 3, 2, 1] * 4)[:, None]
    transform = _transform("seasonal_mean")
    windows = samples.build(series, [0], transform, [12, 16], 3)
    weight, factor, error = best_mix(np.zeros((2, 3, 1)), transform, windows)
    assert weight == 1.0 and error < 1e-9
    assert factor == 0.0  # a zero output: every factor ties, the smallest wins


def test_best_mix_keeps_an_unmixed_base_that_beats_seasonal_naive() -> None:
    from training.forecast import samples
    from training.forecast.scoring import mae
    from training.forecast.selection import best_mix

    transform = _transform("seasonal_mean")
    noise = np.random.default_rng(1).normal(size=40)
    series = (np.tile([0.0, 5.0, 1.0, 3.0], 10) + noise)[:, None]
    windows = samples.build(series, [0], transform, [8, 12, 20, 30], 3)
    z_targets = windows.x.astype(np.float64)
    towards_naive = transform.seasonal_naive_base(z_targets) - windows.batch.base

    def error(weight: float) -> float:
        forecast = transform.from_graph_batch(weight * towards_naive, windows.batch)
        return mae(forecast, windows.truth)

    assert error(0.5) < error(0.0) < error(1.0)  # a mix would score better on these windows
    weight, factor, best = best_mix(np.zeros((4, 3, 1)), transform, windows)
    assert (weight, factor) == (0.0, 0.0) and best == error(0.0)


def test_best_mix_drops_a_correction_whose_gain_is_within_its_noise() -> None:
    from training.forecast import samples
    from training.forecast.scoring import mae
    from training.forecast.selection import SHRINKS, best_mix

    transform = _transform("seasonal_mean")
    noise = np.random.default_rng(5).normal(size=48)
    series = (np.tile([0.0, 5.0, 1.0, 3.0], 12) + noise)[:, None]
    at = list(range(8, 46))
    windows = samples.build(series, [0], transform, at, 3)
    exact = np.asarray(windows.y, np.float64).reshape(len(at), 3, 1)
    # Exactly right on every other window, overshooting the other way on the rest.
    output = np.where(np.arange(len(at)) % 2 == 0, 1.0, -0.8)[:, None, None] * exact

    def error(factor: float) -> float:
        return mae(transform.from_graph_batch(factor * output, windows.batch), windows.truth)

    assert min(SHRINKS, key=error) == 1.0  # the lowest validation MAE is the full correction
    assert error(1.0) < 0.95 * error(0.0)
    weight, factor, best = best_mix(output, transform, windows)
    assert (weight, factor) == (0.0, 0.0) and best == pytest.approx(error(0.0), rel=1e-12)
