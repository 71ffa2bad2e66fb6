"""Time column checks, gap filling, seasons and the default window (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.forecast import seasons
from training.forecast.csvdata import DataError, load_csv
from training.forecast.timeaxis import fill_gaps, regularise

ROOT = Path(__file__).resolve().parents[2]


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _regular(tmp_path: Path, text: str, fill: str = "error") -> tuple[np.ndarray, str]:
    series = load_csv(_csv(tmp_path, text), ["v"], allow_missing=True, time_column="t")
    regular, axis = regularise(series, "t", fill)  # type: ignore[arg-type]
    notes: list[str] = []
    filled = fill_gaps(regular, fill, notes) if fill != "error" else regular  # type: ignore[arg-type]
    return filled.values[:, 0], axis.frequency


def test_monthly_frequency_and_last_timestamp(tmp_path: Path) -> None:
    body = "t,v\n" + "".join(f"2020-{m:02d}-01,{m}\n" for m in range(1, 13))
    series = load_csv(_csv(tmp_path, body), ["v"], time_column="t")
    _, axis = regularise(series, "t", "error")
    assert axis.frequency == "MS" and axis.last_timestamp.startswith("2020-12-01")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("t,v\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n", "goes back in time at line 4"),
        ("t,v\n2020-01-01,1\n2020-01-01,2\n2020-01-02,3\n", "repeats at line 3"),
        ("t,v\n2020-01-01,1\nsoon,2\n2020-01-03,3\n", "cannot parse 'soon' (line 3)"),
        ("t,v\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-05 07:00,4\n", "off the"),
    ],
)
def test_bad_time_columns(tmp_path: Path, body: str, message: str) -> None:
    series = load_csv(_csv(tmp_path, body), ["v"], time_column="t")
    with pytest.raises(DataError) as error:
        regularise(series, "t", "error")
    assert message in str(error.value)


def test_missing_time_stamps_are_reported_or_filled(tmp_path: Path) -> None:
    body = "t,v\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in (1, 2, 3, 4, 5, 8, 9, 10))
    with pytest.raises(DataError, match=r"2 time stamp\(s\) missing.*first 2020-01-06"):
        _regular(tmp_path, body)
    values, frequency = _regular(tmp_path, body, "interpolate")
    assert frequency == "D"
    np.testing.assert_allclose(values, np.arange(1, 11))
    values, _ = _regular(tmp_path, body, "ffill")
    np.testing.assert_allclose(values[5:7], [5, 5])


def test_missing_values_say_how_many_were_filled(tmp_path: Path) -> None:
    body = "i,v\n0,1\n1,\n2,3\n3,NaN\n4,5\n"
    series = load_csv(_csv(tmp_path, body), ["v"], allow_missing=True)
    notes: list[str] = []
    filled = fill_gaps(series, "interpolate", notes)
    np.testing.assert_allclose(filled.values[:, 0], [1, 2, 3, 4, 5])
    assert notes == ["filled 2 missing value(s) by interpolate (first at row 2)"]
    with pytest.raises(DataError, match="2 missing in all"):
        fill_gaps(series, "error", [])


def test_season_detection_and_default_window() -> None:
    t = np.arange(240)
    rng = np.random.default_rng(1)
    series = 50 + 0.3 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(240)
    assert seasons.detect(series) == [12]
    assert seasons.default_window([12], 12, 160) == 72  # six seasons
    assert seasons.default_window([12], 12, 100) == 48  # origins must span two seasons
    assert seasons.default_window([336, 48], 48, 2258) == 1344
    assert seasons.default_window([4], 8, 39) == 16  # a short series gets a shorter window
    assert seasons.default_window([12], 12, 40) == 12
    assert seasons.parse_seasons("336,48") == [48, 336]
    with pytest.raises(DataError):
        seasons.parse_seasons("weekly")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--season", "x"], "--season takes whole numbers"),
        (["--fill", "interpolate", "--time-column", "nope"], "unknown column(s) nope"),
        (["--transform", "log"], "--transform log needs values above 0"),
        (["--horizon", "40"], "too short for a training part"),
    ],
)
def test_argument_errors_come_before_tensorflow(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    body = "value\n" + "".join(f"{np.sin(i) - 0.5}\n" for i in range(100))
    path = _csv(tmp_path, body)
    argv = ["train", "--csv", str(path), "--columns", "value", "--out", str(tmp_path), *extra]
    code = (
        "import sys; from training.forecast.cli import main; "
        f"rc = main({argv!r}); print(rc, 'tensorflow' in sys.modules)"
    )
    # What matters is that TensorFlow (about 2 s to import) never loads; wall time here
    # depends on how busy the machine is.
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["2", "False"]
    assert message in done.stderr


@pytest.mark.parametrize(
    ("length", "horizon", "expected"),
    [(200, 12, (140, 170)), (70, 12, (46, 58)), (56, 12, (32, 44)), (56, 8, (39, 48))],
)
def test_validation_and_test_hold_a_horizon_each(
    length: int, horizon: int, expected: tuple[int, int]
) -> None:
    from training.forecast.realplan import split_points

    train_end, valid_end = split_points(length, horizon)
    assert (train_end, valid_end) == expected
    assert valid_end - train_end >= horizon and length - valid_end >= horizon


def test_a_short_monthly_series_is_planned_with_one_horizon_per_part(tmp_path: Path) -> None:
    from training.forecast.realplan import RealOptions, plan

    t = np.arange(56)
    body = "value\n" + "".join(f"{100 + t_ + 10 * np.sin(t_ / 2)}\n" for t_ in t)
    path = _csv(tmp_path, body)
    planned = plan(RealOptions(path, ["value"], ["value"], horizon=12, seasons=[12]))
    cut = planned.setup.cut
    assert (cut.train_end, cut.valid_end, cut.length) == (32, 44, 56)
    assert planned.candidates[0].window + 12 <= cut.train_end
    assert any("one horizon (12) each" in note for note in planned.notes)
