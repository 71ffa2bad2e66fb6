"""The time column and gaps: order and spacing checks, frequency, missing rows and values.

`regularise` parses the time stamps, checks they increase and sit on one regular grid, infers
the frequency (a pandas offset alias such as "MS", "W-SAT", "30min") and inserts rows for
missing time stamps; `fill_gaps` then fills missing values or explains where the first one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from training.forecast.csvdata import DataError, Series

Fill = Literal["error", "interpolate", "ffill"]
FILLS: tuple[Fill, ...] = ("error", "interpolate", "ffill")
_HINT = "(--fill interpolate or --fill ffill fills gaps)"


@dataclass(frozen=True)
class TimeAxis:
    frequency: str
    last_timestamp: str  # ISO 8601
    inserted_rows: int  # time stamps missing from the file, added as gaps
    reading: str | None = None  # how an ambiguous time column was read


def regularise(
    series: Series, column: str, fill: Fill, time_format: str | None = None
) -> tuple[Series, TimeAxis]:
    """Check the time column of `series`; return it on a regular grid (missing rows = NaN)."""
    import pandas as pd

    from training.forecast.timestamps import TimeParseError, frequency_of, parse_times

    assert series.times is not None
    cells = [cell.strip() for cell in series.times]
    try:
        parsed = parse_times(cells, time_format)
    except TimeParseError as error:
        where = f" (line {error.position + 2})" if error.position is not None else ""
        raise DataError(f"time column {column!r}: {error}{where}") from None
    index = parsed.stamps
    if len(index) < 3:
        raise DataError(f"time column {column!r}: needs at least 3 time stamps")
    steps = np.diff(index.asi8)
    not_after = np.flatnonzero(steps <= 0)
    if not_after.size:
        i = int(not_after[0])
        what = "repeats" if steps[i] == 0 else "goes back in time"
        raise DataError(
            f"time column {column!r} {what} at line {i + 3} ({cells[i + 1]!r} after "
            f"{cells[i]!r}): sort the rows by time and drop duplicates"
        )
    frequency = frequency_of(index)
    if frequency is None:
        raise DataError(
            f"time column {column!r}: time stamps are not evenly spaced and no regular "
            f"frequency fits them (first steps: {', '.join(cells[:4])})"
        )
    grid = pd.date_range(index[0], index[-1], freq=frequency)
    if not index.isin(grid).all():
        off = int(np.flatnonzero(~index.isin(grid))[0])
        raise DataError(
            f"time column {column!r}: {cells[off]!r} (line {off + 2}) is off the "
            f"{frequency} grid that starts at {cells[0]!r}: the rows are not evenly spaced"
        )
    inserted = len(grid) - len(index)
    if inserted and fill == "error":
        missing = grid[~grid.isin(index)]
        raise DataError(
            f"time column {column!r}: {inserted} time stamp(s) missing from the {frequency} "
            f"grid, first {missing[0].isoformat()} {_HINT}"
        )
    values = series.values
    if inserted:
        full = np.full((len(grid), values.shape[1]), np.nan, dtype=values.dtype)
        full[grid.get_indexer(index)] = values
        values = full
    regular = Series(values, series.names, series.source, [t.isoformat() for t in grid])
    return regular, TimeAxis(frequency, grid[-1].isoformat(), inserted, parsed.note)


def fill_gaps(series: Series, fill: Fill, log_line: list[str]) -> Series:
    """Fill NaN values (`interpolate`: linear in time; `ffill`: carry the last value)."""
    values = series.values.astype(np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return series
    if fill == "error":
        step, feature = (int(v) for v in np.argwhere(missing)[0])
        raise DataError(
            f"missing value in column {series.names[feature]!r} at row {step + 1} of the "
            f"series ({int(missing.sum())} missing in all) {_HINT}"
        )
    out = values.copy()
    for j in range(values.shape[1]):
        gaps = missing[:, j]
        if not gaps.any():
            continue
        known = np.flatnonzero(~gaps)
        if known.size == 0:
            raise DataError(f"column {series.names[j]!r} has no values at all")
        if known[0] > 0:
            raise DataError(
                f"column {series.names[j]!r} starts with {int(known[0])} missing value(s): "
                "nothing to fill them from; drop those rows"
            )
        positions = np.arange(len(values))
        if fill == "interpolate":
            out[gaps, j] = np.interp(positions[gaps], known, values[known, j])
        else:
            last_known = np.maximum.accumulate(np.where(gaps, 0, positions))
            out[:, j] = values[last_known, j]
    first = int(np.argwhere(missing)[0][0])
    log_line.append(
        f"filled {int(missing.sum())} missing value(s) by {fill} (first at row {first + 1})"
    )
    return Series(out.astype(np.float32), series.names, series.source, series.times)
