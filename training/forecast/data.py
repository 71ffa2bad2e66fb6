"""Forecasting data: the notes' synthetic generator and the book's dataset layouts.

`generate_time_series` is Géron's generator (ch. 15) line for line; passing an int seed uses
NumPy's legacy `RandomState`, which draws exactly the numbers `np.random.seed(seed)` +
`np.random.rand` draw in the notebook, so the book's split can be reproduced bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
RandomSource = int | np.random.RandomState | np.random.Generator

NOISE_AMPLITUDE = 0.1  # noise is NOISE_AMPLITUDE * (U[0, 1) - 0.5)
WAVE_AMPLITUDES = (0.5, 0.2)
# No generated value lies outside +-GENERATOR_BOUND: both waves at their peak plus the most noise.
GENERATOR_BOUND = sum(WAVE_AMPLITUDES) + NOISE_AMPLITUDE / 2
NOISE_FLOOR_MSE = NOISE_AMPLITUDE**2 / 12  # variance of that noise: no forecaster beats it


def _uniform(rng: np.random.RandomState | np.random.Generator, *shape: int) -> np.ndarray:
    if isinstance(rng, np.random.RandomState):
        return rng.rand(*shape)
    return rng.random(shape)


def as_random_state(source: RandomSource) -> np.random.RandomState | np.random.Generator:
    if isinstance(source, np.random.RandomState | np.random.Generator):
        return source
    return np.random.RandomState(source)


def generate_time_series(batch_size: int, n_steps: int, rng: RandomSource = 42) -> FloatArray:
    """Two sines with random frequencies and offsets plus uniform noise: [batch, n_steps, 1]."""
    source = as_random_state(rng)
    freq1, freq2, offsets1, offsets2 = _uniform(source, 4, batch_size, 1)
    time = np.linspace(0, 1, n_steps)
    wave1, wave2 = WAVE_AMPLITUDES
    series = wave1 * np.sin((time - offsets1) * (freq1 * 10 + 10))  # wave 1
    series += wave2 * np.sin((time - offsets2) * (freq2 * 20 + 20))  # + wave 2
    series += NOISE_AMPLITUDE * (_uniform(source, batch_size, n_steps) - 0.5)  # + noise
    return series[..., np.newaxis].astype(np.float32)


@dataclass(frozen=True)
class Split:
    """Inputs and targets of one split; the target layout depends on the task."""

    x: FloatArray
    y: FloatArray


@dataclass(frozen=True)
class SplitData:
    train: Split
    valid: Split
    test: Split


def split_rows(x: FloatArray, y: FloatArray, n_train: int, n_valid: int) -> SplitData:
    """The book's split of independent series: the first rows train, the next validate."""
    end_valid = n_train + n_valid
    return SplitData(
        train=Split(x[:n_train], y[:n_train]),
        valid=Split(x[n_train:end_valid], y[n_train:end_valid]),
        test=Split(x[end_valid:], y[end_valid:]),
    )


def next_step_data(
    n_series: int, n_steps: int, rng: RandomSource, n_train: int, n_valid: int
) -> SplitData:
    """Book layout for one step ahead: x [n, n_steps, 1], y [n, 1]."""
    series = generate_time_series(n_series, n_steps + 1, rng)
    return split_rows(series[:, :n_steps], series[:, -1], n_train, n_valid)


def multi_step_vector_data(
    n_series: int, n_steps: int, horizon: int, rng: RandomSource, n_train: int, n_valid: int
) -> SplitData:
    """Book layout for `horizon` steps at the end: x [n, n_steps, 1], y [n, horizon]."""
    series = generate_time_series(n_series, n_steps + horizon, rng)
    return split_rows(series[:, :n_steps], series[:, -horizon:, 0], n_train, n_valid)


def seq2seq_targets(series: FloatArray, n_steps: int, horizon: int) -> FloatArray:
    """Every step t predicts the next `horizon` values: y[:, t, k] = series[:, t + 1 + k]."""
    targets = np.empty((series.shape[0], n_steps, horizon), dtype=np.float32)
    for step_ahead in range(1, horizon + 1):
        targets[..., step_ahead - 1] = series[:, step_ahead : step_ahead + n_steps, 0]
    return targets


def seq2seq_data(
    n_series: int, n_steps: int, horizon: int, rng: RandomSource, n_train: int, n_valid: int
) -> tuple[SplitData, SplitData]:
    """Book layout for sequence to sequence, plus the matching vector layout for evaluation.

    Returns (seq2seq split with y [n, n_steps, horizon], vector split with y [n, horizon]); both
    come from the same series, so the last step of the first equals the second.
    """
    series = generate_time_series(n_series, n_steps + horizon, rng)
    x = series[:, :n_steps]
    return (
        split_rows(x, seq2seq_targets(series, n_steps, horizon), n_train, n_valid),
        split_rows(x, series[:, -horizon:, 0], n_train, n_valid),
    )
