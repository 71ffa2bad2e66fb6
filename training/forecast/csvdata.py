"""Real series from a CSV file: loading, time split, scaling fitted on train, sliding windows.

The split is by time. With cut points a < b on the series of length T, training windows have
their inputs and targets in [0, a); validation windows have their targets in [a, b) and
testing windows in [b, T). A validation or test window's inputs may reach back before its own
segment (that is the past, known at forecast time); no target is ever seen by an earlier split.
The scaler is fitted on [0, a) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.csvsniff import header_delimiter
from training.forecast.csvformat import NumberFormatError, NumberStyle, number_style
from training.forecast.data import FloatArray, Split, SplitData


class DataError(ValueError):
    """Bad input data: the message says what is wrong and where."""


@dataclass(frozen=True)
class Series:
    values: FloatArray  # [time, features], raw units (NaN = missing, only if allowed)
    names: list[str]
    source: str
    times: list[str] | None = None  # the time column's cells, when one was named
    reading: tuple[str, ...] = ()  # how the file was read, where it was not plain CSV


_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "-"})


def load_csv(
    path: Path,
    columns: list[str],
    *,
    allow_missing: bool = False,
    time_column: str | None = None,
) -> Series:
    """Read the chosen numeric columns of a CSV file (several columns = multivariate).

    The delimiter is the one whose header line names the columns (`training.csvsniff`), each
    column's number style is read from its cells (`training.forecast.csvformat`), and header
    names are matched without surrounding spaces.
    Missing cells are an error unless `allow_missing` (then they are NaN, for `fill_gaps`).
    """
    import pandas as pd

    if not path.is_file():
        raise DataError(f"CSV file not found: {path}")
    if not columns:
        raise DataError("no value column chosen (use --columns)")
    reading: list[str] = []
    wanted = [*columns, time_column] if time_column is not None else columns
    try:
        delimiter = header_delimiter(path, wanted)
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, sep=delimiter, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"cannot parse CSV file {path}: {error}") from error
    if delimiter != ",":
        reading.append(f"fields separated by {delimiter!r}")
    frame.columns = [str(name).strip() for name in frame.columns]
    unknown = [c for c in wanted if c not in frame.columns]
    if unknown:
        raise DataError(
            f"unknown column(s) {', '.join(unknown)} in {path}; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        cells = [cell.strip() for cell in frame[column].tolist()]
        values[:, j], style = _numeric_column(cells, column, path, allow_missing, delimiter)
        if not style.plain:
            reading.append(f"column {column!r}: {style.describe()}")
    times = frame[time_column].tolist() if time_column is not None else None
    return Series(values.astype(np.float32), list(columns), str(path), times, tuple(reading))


def _numeric_column(
    cells: list[str], column: str, path: Path, allow_missing: bool, delimiter: str
) -> tuple[npt.NDArray[np.float64], NumberStyle]:
    present = [cell for cell in cells if cell.lower() not in _MISSING]
    try:
        style = number_style(present, delimiter)
    except NumberFormatError as error:
        raise DataError(f"column {column!r} of {path}: {error}") from None
    out = np.empty(len(cells), dtype=np.float64)
    for i, text in enumerate(cells):
        row = i + 2  # 1-based, after the header line
        if text.lower() in _MISSING:
            if allow_missing:
                out[i] = np.nan
                continue
            raise DataError(
                f"missing value in column {column!r}, line {row} of {path} "
                "(--fill interpolate or --fill ffill fills gaps)"
            )
        try:
            out[i] = style.read(text)
        except ValueError:
            raise DataError(
                f"non-numeric value {text!r} in column {column!r}, line {row} of {path}"
                + ("" if style.plain else f" (the column is read with {style.describe()})")
            ) from None
        if not np.isfinite(out[i]):
            raise DataError(f"non-finite value {text!r} in column {column!r}, line {row} of {path}")
    return out, style


@dataclass(frozen=True)
class StandardScaler:
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        mean = values.mean(axis=0).astype(np.float64)
        std = values.std(axis=0).astype(np.float64)
        return cls(mean, np.where(std > 0, std, 1.0))  # a constant column stays unscaled

    def transform(self, values: np.ndarray) -> FloatArray:
        return ((values - self.mean) / self.scale).astype(np.float32)

    def inverse(self, values: np.ndarray) -> FloatArray:
        return (values * self.scale + self.mean).astype(np.float32)

    def select(self, indices: list[int]) -> StandardScaler:
        return StandardScaler(self.mean[indices], self.scale[indices])


@dataclass(frozen=True)
class TimeSplit:
    """Cut points of the series: train [0, a), validation targets [a, b), test targets [b, T)."""

    train_end: int
    valid_end: int
    length: int


def time_split(length: int, window: int, horizon: int, fractions: tuple[float, float]) -> TimeSplit:
    """Cut a series of `length` steps so that each split holds at least one window."""
    if window < 1 or horizon < 1:
        raise DataError("window and horizon must be at least 1")
    needed = window + horizon
    if length < needed:
        raise DataError(
            f"series has {length} steps, shorter than window + horizon = {window} + {horizon}"
        )
    train_end = round(length * fractions[0])
    valid_end = round(length * (fractions[0] + fractions[1]))
    if train_end < needed or valid_end - train_end < horizon or length - valid_end < horizon:
        raise DataError(
            f"series has {length} steps: too short to split {fractions[0]:.0%} / "
            f"{fractions[1]:.0%} / rest with window {window} and horizon {horizon} "
            f"(each split needs at least one window; training needs {needed} steps)"
        )
    return TimeSplit(train_end, valid_end, length)


def windows(
    values: FloatArray,
    target_idx: list[int],
    window: int,
    horizon: int,
    first_target: int,
    end: int,
) -> Split:
    """Windows whose first target step t satisfies first_target <= t and t + horizon <= end.

    x: [n, window, features] = values[t - window : t]; y: [n, window, horizon * targets], the
    sequence-to-sequence target (step s of the window predicts the `horizon` steps after it),
    flattened horizon-major to match the graph's [horizon, targets] output.
    """
    starts = range(max(first_target, window), end - horizon + 1)
    n, n_targets = len(starts), len(target_idx)
    x = np.empty((n, window, values.shape[1]), dtype=np.float32)
    y = np.empty((n, window, horizon * n_targets), dtype=np.float32)
    targets = values[:, target_idx]
    for i, t in enumerate(starts):
        x[i] = values[t - window : t]
        for k in range(horizon):
            # step s (0-based) of the window ends at t - window + s; its k-th next value:
            y[i, :, k * n_targets : (k + 1) * n_targets] = targets[t - window + 1 + k : t + 1 + k]
    return Split(x, y)


@dataclass(frozen=True)
class PreparedSeries:
    splits: SplitData  # scaled windows
    input_scaler: StandardScaler
    target_scaler: StandardScaler
    cut: TimeSplit


def prepare(
    series: Series,
    window: int,
    horizon: int,
    target_idx: list[int],
    fractions: tuple[float, float] = (0.7, 0.15),
) -> PreparedSeries:
    """Split by time, fit the scaler on the training part, scale, and cut windows."""
    cut = time_split(len(series.values), window, horizon, fractions)
    scaler = StandardScaler.fit(series.values[: cut.train_end])
    scaled = scaler.transform(series.values)
    splits = SplitData(
        train=windows(scaled, target_idx, window, horizon, window, cut.train_end),
        valid=windows(scaled, target_idx, window, horizon, cut.train_end, cut.valid_end),
        test=windows(scaled, target_idx, window, horizon, cut.valid_end, cut.length),
    )
    return PreparedSeries(splits, scaler, scaler.select(target_idx), cut)
