"""Everything about a real-series run that needs no TensorFlow: data, split, seasons, window,
transform and the candidate configurations. It runs before TensorFlow is imported, so bad
arguments and bad files fail in well under a second."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from training.forecast import seasons as seasonality
from training.forecast.csvdata import DataError, Series, load_csv
from training.forecast.samples import Cut
from training.forecast.setup import Candidate, SeriesSetup
from training.forecast.timeaxis import Fill, TimeAxis, fill_gaps, regularise

FRACTIONS = (0.7, 0.15)  # train / validation / test (the rest), by time; see split_points
DEFAULT_UNITS = 32


@dataclass(frozen=True)
class RealOptions:
    csv_path: Path
    columns: list[str]
    targets: list[str]
    horizon: int
    seasons: list[int] | None = None  # None: from the frequency, else detected
    window: int | None = None  # None: from the seasons and the horizon
    transform: str = "auto"  # "auto" | "log" | "none"
    time_column: str | None = None
    time_format: str | None = None  # None: read from the cells
    fill: Fill = "error"
    units: int | None = None
    seed: int = 42
    use_fraction: float = 1.0  # train on the first part of the series only (backtests)


@dataclass
class Plan:
    setup: SeriesSetup
    candidates: list[Candidate]
    time_axis: TimeAxis | None
    source: str
    notes: list[str] = field(default_factory=list)  # what was decided, and why


def plan(options: RealOptions) -> Plan:
    """Load, check and split the series; choose seasons, window, transform and candidates."""
    unknown = [t for t in options.targets if t not in options.columns]
    if unknown:
        raise DataError(f"target column(s) {', '.join(unknown)} not among --columns")
    if options.time_column is not None and options.time_column in options.columns:
        raise DataError(f"--time-column {options.time_column!r} is also among --columns")
    notes: list[str] = []
    series, axis = load_series(options, notes)
    values = series.values.astype(np.float64)
    if options.use_fraction < 1:
        rows = round(len(values) * options.use_fraction)
        values = values[:rows]
        if axis is not None and series.times is not None:
            axis = replace(axis, last_timestamp=series.times[rows - 1])
        notes.append(f"using the first {rows} of {len(series.values)} steps")
    length, horizon = len(values), options.horizon
    train_end, valid_end = split_points(length, horizon)
    if train_end < 2 * horizon:
        raise DataError(
            f"series has {length} steps: too short for a training part of at least "
            f"{2 * horizon} steps beside validation and test parts of {horizon} steps each "
            f"(one horizon); use a shorter --horizon"
        )
    if (train_end, valid_end) != (round(length * FRACTIONS[0]), round(length * sum(FRACTIONS))):
        notes.append(
            f"split {train_end} / {valid_end - train_end} / {length - valid_end} steps: "
            f"validation and test hold at least one horizon ({horizon}) each"
        )
    target_idx = [options.columns.index(t) for t in options.targets]
    periods = _seasons(options, axis, values[:train_end, target_idx[0]], notes)
    window = options.window or seasonality.default_window(periods, horizon, train_end)
    if window + horizon > train_end:
        raise DataError(
            f"series has {length} steps, shorter than window + horizon = {window} + {horizon} "
            f"in its training part ({train_end} steps)"
        )
    notes.append(f"window {window} ({'given' if options.window else 'default'})")
    first = _transform(options.transform, values[:train_end, target_idx], periods, notes)
    units = options.units or DEFAULT_UNITS
    # Ordered by how often they won on the development panel; the budget may stop early.
    candidates = [
        Candidate(window, units, first),
        Candidate(window, units, first, drift=True),
        # Half seasonal naive, half seasonal mean. Seasonal naive alone is no candidate: the
        # quality gate asks for a validation MAE below its own.
        Candidate(window, units, first, base="blend"),
        # Half seasonal naive, half Holt-Winters (parameters fitted on the windows before the
        # test part).
        Candidate(window, units, first, base="holt_winters_blend"),
    ]
    if options.transform == "auto" and np.all(values[:train_end] > 0):
        candidates.append(Candidate(window, units, "none" if first == "log" else "log"))
    if options.window is None:
        shorter = [w for w in seasonality.window_options(periods, horizon) if w < window]
        if shorter:
            candidates.append(Candidate(shorter[-1], units, first))
    cut = Cut(train_end, valid_end, length)
    setup = SeriesSetup(values, options.columns, target_idx, periods, horizon, cut, options.seed)
    return Plan(setup, candidates, axis, series.source, notes)


def split_points(length: int, horizon: int) -> tuple[int, int]:
    """(train_end, valid_end): FRACTIONS by time, except that validation and test take at
    least one horizon each (a short series' training part shrinks instead)."""
    valid_end = min(round(length * sum(FRACTIONS)), length - horizon)
    train_end = min(round(length * FRACTIONS[0]), valid_end - horizon)
    return train_end, valid_end


def load_series(options: RealOptions, notes: list[str]) -> tuple[Series, TimeAxis | None]:
    """The chosen columns, on a regular time grid when there is a time column, gaps filled."""
    series = load_csv(
        options.csv_path,
        options.columns,
        allow_missing=options.fill != "error",
        time_column=options.time_column,
    )
    notes.extend(series.reading)
    axis = None
    if options.time_column is not None:
        series, axis = regularise(series, options.time_column, options.fill, options.time_format)
        notes.append(f"time column {options.time_column!r}: frequency {axis.frequency}")
        if axis.reading is not None:
            notes.append(axis.reading)
        if axis.inserted_rows:
            notes.append(f"{axis.inserted_rows} missing time stamp(s) inserted as gaps")
    return fill_gaps(series, options.fill, notes), axis


def _seasons(
    options: RealOptions, axis: TimeAxis | None, train: np.ndarray, notes: list[str]
) -> list[int]:
    if options.seasons is not None:
        notes.append(f"seasons {options.seasons} (given)")
        return options.seasons
    known = seasonality.from_frequency(axis.frequency if axis else None)
    if known is not None:
        fitting = [m for m in known if 2 * m <= len(train)] or [1]
        notes.append(f"seasons {fitting} (from the frequency)")
        return fitting
    found = seasonality.detect(train)
    notes.append(f"seasons {found} (detected from the autocorrelation of the training part)")
    return found


def _transform(choice: str, train: np.ndarray, periods: list[int], notes: list[str]) -> str:
    """`auto`: log when the series is positive and its spread grows with its level."""
    positive = bool(np.all(train > 0))
    if choice == "log" and not positive:
        raise DataError("--transform log needs values above 0 in the training part")
    if choice != "auto":
        notes.append(f"transform {choice} (given)")
        return choice
    if not positive:
        notes.append("transform none (auto: the series is not positive)")
        return "none"
    chunk = max(max(periods), 4)
    n = len(train) // chunk
    if n < 4:
        notes.append("transform none (auto: fewer than 4 seasons to judge from)")
        return "none"
    pieces = train[: n * chunk, 0].reshape(n, chunk)
    means, spreads = pieces.mean(axis=1), pieces.std(axis=1)
    growth = means.max() / means.min()
    corr = float(np.corrcoef(means, spreads)[0, 1]) if spreads.std() > 0 else 0.0
    use_log = corr > 0.5 and growth >= 1.5
    notes.append(
        f"transform {'log' if use_log else 'none'} (auto: level grows {growth:.2f}x, "
        f"correlation of level and spread {corr:.2f})"
    )
    return "log" if use_log else "none"
