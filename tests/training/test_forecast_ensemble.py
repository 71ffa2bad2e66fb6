"""The merged ensemble computes shrink x the mean of its members, in Keras and in ONNX."""

from __future__ import annotations

import keras
import numpy as np
import pytest

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
