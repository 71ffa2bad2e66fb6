"""The notes' generator and the book's dataset layouts."""

from __future__ import annotations

import numpy as np

from training.forecast import data


def test_generator_shape_dtype_and_range() -> None:
    series = data.generate_time_series(64, 30, 0)
    assert series.shape == (64, 30, 1)
    assert series.dtype == np.float32
    # 0.5 + 0.2 amplitudes + 0.05 noise bound every value.
    assert data.GENERATOR_BOUND == 0.75
    assert np.abs(data.generate_time_series(20_000, 60, 1)).max() <= data.GENERATOR_BOUND + 1e-6


def test_generator_is_seedable() -> None:
    a = data.generate_time_series(8, 20, 7)
    b = data.generate_time_series(8, 20, 7)
    c = data.generate_time_series(8, 20, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1 = data.generate_time_series(8, 20, np.random.default_rng(3))
    g2 = data.generate_time_series(8, 20, np.random.default_rng(3))
    np.testing.assert_array_equal(g1, g2)


def test_int_seed_draws_exactly_like_the_notebook() -> None:
    """np.random.seed(42) + the notebook's code gives the same array as seed 42 here."""
    np.random.seed(42)
    batch_size, n_steps = 5, 11
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((time - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)
    expected = series[..., np.newaxis].astype(np.float32)
    np.testing.assert_array_equal(data.generate_time_series(batch_size, n_steps, 42), expected)


def test_book_split_sizes_and_disjoint_rows() -> None:
    split = data.next_step_data(100, 10, 42, n_train=70, n_valid=20)
    assert split.train.x.shape == (70, 10, 1) and split.train.y.shape == (70, 1)
    assert split.valid.x.shape == (20, 10, 1) and split.test.x.shape == (10, 10, 1)
    full = data.generate_time_series(100, 11, 42)
    np.testing.assert_array_equal(split.valid.x, full[70:90, :10])
    np.testing.assert_array_equal(split.test.y, full[90:, -1])


def test_seq2seq_targets_are_the_next_values_of_every_step() -> None:
    series = np.arange(15, dtype=np.float32).reshape(1, 15, 1)
    targets = data.seq2seq_targets(series, n_steps=10, horizon=5)
    assert targets.shape == (1, 10, 5)
    for step in range(10):
        np.testing.assert_array_equal(targets[0, step], np.arange(step + 1, step + 6))


def test_seq2seq_last_step_matches_vector_targets() -> None:
    seq, vec = data.seq2seq_data(50, 20, 10, 1, n_train=30, n_valid=10)
    np.testing.assert_array_equal(seq.valid.y[:, -1], vec.valid.y)
    np.testing.assert_array_equal(seq.train.x, vec.train.x)


def test_noise_floor_is_the_noise_variance() -> None:
    assert abs(data.NOISE_FLOOR_MSE - 0.1**2 / 12) < 1e-12
