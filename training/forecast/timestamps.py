"""A time column's cells read as time stamps with ONE reading for the whole column.

Read cell by cell, "01/02/2020" and "13/02/2020" would come out as 2 January and 13 February:
a day-first column silently turns into a jumble (or, with every day at most 12, into a
different frequency). So the order of day and month in numeric dates is decided once per
column: by a field above 12 when one exists; else by the reading whose increasing, evenly
spaced grid has fewer gaps; and when both fill theirs alike, by the separator's convention
("." day first, "/" and "-" month first), with a note naming `--time-format` to read it the
other way.
Forms pandas does not parse itself: Unix time in seconds or milliseconds, ISO weeks
("2020-W05") and quarters ("2020Q1", "2020-Q1", "Q1 2020").
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

_NUMERIC_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})(?:$|[ T])")
_CLOCK = re.compile(r"([ T])\d{1,2}:\d{2}(:\d{2})?")
_UNIX_SECONDS = re.compile(r"\d{9,10}(?:\.\d+)?")
_UNIX_MILLISECONDS = re.compile(r"\d{12,13}")
_ISO_WEEK = re.compile(r"(\d{4})-?W(\d{2})")
_QUARTER = re.compile(r"(\d{4})[- ]?Q([1-4])|Q([1-4])[- ]?(\d{4})", re.IGNORECASE)
_SEPARATOR_ORDER = {".": "day", "/": "month", "-": "month"}


class TimeParseError(ValueError):
    """A cell that cannot be read (its index is `position`), or a column that has no reading."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class ParsedTimes:
    stamps: pd.DatetimeIndex
    note: str | None = None  # how an ambiguous column was read


def parse_times(cells: list[str], time_format: str | None = None) -> ParsedTimes:
    """The cells (already stripped) as time stamps, in file order."""
    if time_format is not None:
        stamps = pd.to_datetime(pd.Series(cells), format=time_format, errors="coerce")
        return ParsedTimes(_checked(stamps, cells, f"with --time-format {time_format!r}"))
    special = _special_form(cells)
    if special is not None:
        return ParsedTimes(special)
    if cells and all(_NUMERIC_DATE.match(cell) for cell in cells):
        return _numeric_dates(cells)
    return ParsedTimes(_checked(_mixed(cells, dayfirst=False), cells, ""))


def _special_form(cells: list[str]) -> pd.DatetimeIndex | None:
    if not cells:
        return None
    forms: list[tuple[re.Pattern[str], Callable[[list[str]], pd.DatetimeIndex]]] = [
        (_UNIX_SECONDS, lambda c: _unix(c, "s")),
        (_UNIX_MILLISECONDS, lambda c: _unix(c, "ms")),
        (_ISO_WEEK, _iso_weeks),
        (_QUARTER, _quarters),
    ]
    for pattern, read in forms:
        if all(pattern.fullmatch(cell) for cell in cells):
            return read(cells)
    return None


def _unix(cells: list[str], unit: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.array(cells, dtype=np.float64), unit=unit))


def _iso_weeks(cells: list[str]) -> pd.DatetimeIndex:
    monday = [f"{m.group(1)}-W{m.group(2)}-1" for m in map(_ISO_WEEK.fullmatch, cells) if m]
    stamps = pd.to_datetime(pd.Series(monday), format="%G-W%V-%u", errors="coerce")
    return _checked(stamps, cells, "as ISO weeks")


def _quarters(cells: list[str]) -> pd.DatetimeIndex:
    starts: list[str] = []
    for match in map(_QUARTER.fullmatch, cells):
        assert match is not None
        year, quarter = match.group(1) or match.group(4), match.group(2) or match.group(3)
        starts.append(f"{year}-{3 * int(quarter) - 2:02d}-01")
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(starts), format="%Y-%m-%d"))


def _numeric_dates(cells: list[str]) -> ParsedTimes:
    matches = [_NUMERIC_DATE.match(cell) for cell in cells]
    first = [int(m.group(1)) for m in matches if m]
    second = [int(m.group(3)) for m in matches if m]
    day_first_needed, month_first_needed = max(first) > 12, max(second) > 12
    if day_first_needed and month_first_needed:
        raise TimeParseError(
            "dates are day first in some rows and month first in others "
            "(give the format with --time-format, e.g. '%d/%m/%Y')"
        )
    if day_first_needed or month_first_needed:
        stamps = _mixed(cells, dayfirst=day_first_needed)
        return ParsedTimes(_checked(stamps, cells, ""))
    readings = {order: _mixed(cells, dayfirst=order == "day") for order in ("day", "month")}
    coverage = {order: _grid_coverage(stamps) for order, stamps in readings.items()}
    separator = matches[0].group(2) if matches[0] else "/"
    conventional = _SEPARATOR_ORDER.get(separator, "month")
    best = max(coverage.values())
    fitting = [order for order, share in coverage.items() if share == best]
    chosen = conventional if len(fitting) == 2 else fitting[0]
    note = None
    if len(fitting) == 2 and best > 0:
        other = _format_of(cells[0], day_first=chosen != "day")
        note = (
            f"dates such as {cells[0]!r} read {chosen} first (both orders fit an even grid; "
            f"--time-format '{other}' reads them the other way)"
        )
    return ParsedTimes(_checked(readings[chosen], cells, ""), note)


def _format_of(cell: str, *, day_first: bool) -> str:
    """The strftime format of a numeric date like `cell`, in the given order."""
    match = _NUMERIC_DATE.match(cell)
    assert match is not None
    separator, year = match.group(2), "%Y" if len(match.group(4)) == 4 else "%y"
    fields = ("%d", "%m") if day_first else ("%m", "%d")
    date = separator.join((*fields, year))
    clock = _CLOCK.fullmatch(cell[match.end(4) :])
    if clock is None:
        return date
    return f"{date}{clock.group(1)}%H:%M" + (":%S" if clock.group(2) else "")


def _mixed(cells: list[str], *, dayfirst: bool) -> pd.Series:
    with warnings.catch_warnings():  # pandas warns about formats it will drop, not errors
        warnings.simplefilter("ignore")
        return pd.to_datetime(pd.Series(cells), errors="coerce", format="mixed", dayfirst=dayfirst)


def _grid_coverage(stamps: pd.Series) -> float:
    """The share of its regular grid that the stamps fill (1: no gaps; 0: no grid fits)."""
    if stamps.isna().any() or len(stamps) < 3:
        return 0.0
    index = pd.DatetimeIndex(stamps)
    if not index.is_monotonic_increasing or index.has_duplicates:
        return 0.0
    frequency = frequency_of(index)
    if frequency is None:
        return 0.0
    grid = pd.date_range(index[0], index[-1], freq=frequency)
    return len(index) / len(grid) if index.isin(grid).all() else 0.0


def frequency_of(index: pd.DatetimeIndex) -> str | None:
    """The index's pandas frequency alias; for a grid with gaps, the spacing of its first rows."""
    for rows in (index, index[:5], index[:4], index[:3]):
        with warnings.catch_warnings():  # about the return type changing, handled below
            warnings.simplefilter("ignore", DeprecationWarning)
            found = pd.infer_freq(rows)
        if found is not None:  # a string today; an offset in later pandas
            return str(getattr(found, "freqstr", found))
    return None


def _checked(stamps: pd.Series, cells: list[str], how: str) -> pd.DatetimeIndex:
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        position = int(bad[0])
        suffix = f" {how}" if how else ""
        raise TimeParseError(f"cannot parse {cells[position]!r}{suffix}", position)
    return pd.DatetimeIndex(stamps)
