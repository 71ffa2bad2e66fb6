"""Real series from CSV: loading, errors, time split without leakage, scaling, windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.forecast import csvdata
from training.forecast.csvdata import DataError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _ramp_csv(tmp_path: Path, n: int) -> Path:
    rows = "\n".join(f"{t},{t},{10 * t + 1}" for t in range(n))
    return _write(tmp_path / "ramp.csv", "time,a,b\n" + rows + "\n")


def test_load_csv_selects_columns_in_order(tmp_path: Path) -> None:
    series = csvdata.load_csv(_ramp_csv(tmp_path, 5), ["b", "a"])
    assert series.names == ["b", "a"]
    np.testing.assert_array_equal(series.values[:, 1], np.arange(5))
    np.testing.assert_array_equal(series.values[:, 0], 10 * np.arange(5) + 1)


@pytest.mark.parametrize(
    ("content", "columns", "message"),
    [
        ("a,b\n1,2\n3,x\n", ["b"], "non-numeric value 'x' in column 'b', line 3"),
        ("a,b\n1,2\n3,\n", ["b"], "missing value in column 'b', line 3"),
        ("a,b\n1,2\nNaN,4\n", ["a"], "missing value in column 'a', line 3"),
        ("a,b\n1,2\n", ["c"], "unknown column(s) c"),
        ("a,b\n1,2\n", [], "no value column"),
    ],
)
def test_load_csv_rejects_bad_input(
    tmp_path: Path, content: str, columns: list[str], message: str
) -> None:
    with pytest.raises(DataError) as error:
        csvdata.load_csv(_write(tmp_path / "bad.csv", content), columns)
    assert message in str(error.value)


def test_load_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        csvdata.load_csv(tmp_path / "nope.csv", ["a"])


def test_short_series_is_rejected() -> None:
    with pytest.raises(DataError, match="shorter than window \\+ horizon"):
        csvdata.time_split(14, window=10, horizon=5, fractions=(0.7, 0.15))


def test_windows_have_the_right_inputs_and_targets() -> None:
    values = np.arange(30, dtype=np.float32).reshape(30, 1)
    split = csvdata.windows(values, [0], window=5, horizon=3, first_target=5, end=30)
    assert split.x.shape == (23, 5, 1) and split.y.shape == (23, 5, 3)
    np.testing.assert_array_equal(split.x[0, :, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(split.y[0, -1], [5, 6, 7])  # the last step's forecast target
    np.testing.assert_array_equal(split.y[0, 0], [1, 2, 3])  # step 0 predicts what follows it
    np.testing.assert_array_equal(split.y[-1, -1], [27, 28, 29])


def test_multivariate_targets_are_horizon_major() -> None:
    values = np.stack([np.arange(20), 100 + np.arange(20)], axis=1).astype(np.float32)
    split = csvdata.windows(values, [0, 1], window=4, horizon=2, first_target=4, end=20)
    np.testing.assert_array_equal(split.y[0, -1], [4, 104, 5, 105])


def test_split_by_time_has_no_leakage(tmp_path: Path) -> None:
    """Every target of an earlier split comes before every target of a later one; the
    scaler sees the training part only."""
    n, window, horizon = 200, 10, 5
    series = csvdata.load_csv(_ramp_csv(tmp_path, n), ["a"])  # value == time index
    prepared = csvdata.prepare(series, window, horizon, [0])
    cut = prepared.cut
    assert 0 < cut.train_end < cut.valid_end < cut.length == n

    def target_times(split: csvdata.Split) -> np.ndarray:
        return prepared.input_scaler.inverse(split.y[:, -1]).round()  # [n, horizon]

    train_t = target_times(prepared.splits.train)
    valid_t = target_times(prepared.splits.valid)
    test_t = target_times(prepared.splits.test)
    assert train_t.max() < cut.train_end <= valid_t.min()
    assert valid_t.max() < cut.valid_end <= test_t.min()
    assert test_t.max() == n - 1
    # The training inputs never reach past the training part either.
    assert prepared.input_scaler.inverse(prepared.splits.train.x).max().round() < cut.train_end
    # Scaler: fitted on [0, train_end) only.
    train_part = np.arange(cut.train_end)
    assert prepared.input_scaler.mean[0] == pytest.approx(train_part.mean())
    assert prepared.input_scaler.scale[0] == pytest.approx(train_part.std())
    assert prepared.target_scaler.mean[0] == pytest.approx(train_part.mean())


def test_scaler_round_trip_and_constant_column() -> None:
    values = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    scaler = csvdata.StandardScaler.fit(values)
    np.testing.assert_allclose(scaler.transform(values)[:, 0], [-1, 1])
    assert scaler.scale[1] == 1.0  # constant column: unscaled rather than divided by zero
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values)
