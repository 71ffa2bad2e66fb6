"""Time columns read with one reading per column: day/month order, Unix time, weeks, quarters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.forecast.csvdata import DataError, load_csv
from training.forecast.timeaxis import regularise
from training.forecast.timestamps import TimeParseError, parse_times


def _dates(cells: list[str], time_format: str | None = None) -> list[str]:
    return [str(stamp.date()) for stamp in parse_times(cells, time_format).stamps]


def test_a_day_first_column_is_not_read_cell_by_cell() -> None:
    cells = [f"{d:02d}/01/2020" for d in range(1, 32)]  # 01/01 .. 12/01 fit month first too
    assert _dates(cells)[:3] == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert parse_times(cells).note is None


def test_when_only_one_order_gives_an_even_grid_it_is_chosen() -> None:
    # The 1st of every month, day first: month first they would be 12 days, then a jump.
    cells = [f"01/{m:02d}/2020" for m in range(1, 13)] + ["01/01/2021"]
    assert _dates(cells)[:3] == ["2020-01-01", "2020-02-01", "2020-03-01"]
    assert parse_times(cells).note is None


@pytest.mark.parametrize(("separator", "order"), [(".", "day"), ("/", "month")])
def test_an_ambiguous_column_follows_the_separators_convention_and_says_so(
    separator: str, order: str
) -> None:
    cells = [f"01{separator}{m:02d}{separator}2020" for m in range(1, 7)]
    parsed = parse_times(cells)
    first = parsed.stamps[1]
    assert (first.month, first.day) == ((2, 1) if order == "day" else (1, 2))
    assert parsed.note is not None and f"read {order} first" in parsed.note
    other = parsed.note.split("--time-format '")[1].split("'")[0]
    flipped = parse_times(cells, other).stamps[1]
    assert (flipped.month, flipped.day) == ((1, 2) if order == "day" else (2, 1))


def test_a_column_that_needs_both_orders_is_refused() -> None:
    with pytest.raises(TimeParseError, match="day first in some rows and month first"):
        parse_times(["13/01/2020", "01/14/2020", "15/01/2020"])


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["1577836800", "1577923200", "1578009600"], ["2020-01-01", "2020-01-02", "2020-01-03"]),
        (["1577836800000", "1577923200000"], ["2020-01-01", "2020-01-02"]),
        (["2020-W01", "2020-W02", "2020W03"], ["2019-12-30", "2020-01-06", "2020-01-13"]),
        (["2020Q4", "2021-Q1", "Q2 2021"], ["2020-10-01", "2021-01-01", "2021-04-01"]),
        (["1990", "1991", "1992"], ["1990-01-01", "1991-01-01", "1992-01-01"]),
        (["2020-13-01", "2020-14-01"], ["2020-01-13", "2020-01-14"]),
    ],
)
def test_other_forms_of_time_stamps(cells: list[str], expected: list[str]) -> None:
    time_format = "%Y-%d-%m" if cells[0] == "2020-13-01" else None
    assert _dates(cells, time_format) == expected


def test_a_bad_cell_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t,v\n01.01.2020,1\n02.01.2020,2\nsoon,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot parse 'soon' \(line 4\)"):
        regularise(load_csv(path, ["v"], time_column="t"), "t", "error")
    with pytest.raises(DataError, match=r"'soon' with --time-format '%d.%m.%Y' \(line 4\)"):
        regularise(load_csv(path, ["v"], time_column="t"), "t", "error", "%d.%m.%Y")


def test_a_european_monthly_file_plans_with_its_real_frequency(tmp_path: Path) -> None:
    from training.forecast.realplan import RealOptions, plan

    months = pd.date_range("2015-01-01", periods=72, freq="MS")
    rows = "".join(f"{m:%d.%m.%Y};{100 + (m.month % 6)},5\n" for m in months)
    path = tmp_path / "sales.csv"
    path.write_text("Datum;Umsatz\n" + rows, encoding="utf-8")
    planned = plan(RealOptions(path, ["Umsatz"], ["Umsatz"], horizon=6, time_column="Datum"))
    assert planned.time_axis is not None and planned.time_axis.frequency == "MS"
    assert "fields separated by ';'" in planned.notes
    assert "column 'Umsatz': decimal mark ','" in planned.notes
    assert any("seasons [12] (from the frequency)" in note for note in planned.notes)
