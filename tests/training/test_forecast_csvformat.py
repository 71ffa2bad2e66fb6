"""CSV files in other locales' conventions: delimiters, decimal commas, thousands, headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.csvsniff import header_delimiter
from training.forecast import csvdata
from training.forecast.csvdata import DataError
from training.forecast.csvformat import PLAIN, NumberFormatError, number_style


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "s.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "wanted", "delimiter"),
    [
        ("t,v\n1,2\n3,4\n", ["t", "v"], ","),
        ("t;v\n1;2,5\n3;4,5\n", ["v"], ";"),
        ("t\tv\n1\t2\n3\t4\n", ["v", "t"], "\t"),
        ("t|v\n1|2\n3|4\n", ["v"], "|"),
        ('t,v\n1,"1,234.5"\n2,"2,000"\n', ["v"], ","),
        ("v\n1\n2\n", ["v"], ","),
        ("\ufeff t ; v \n1;2\n", ["t", "v"], ";"),
        ('"t;x",v\n1,2\n', ["t;x", "v"], ","),  # a quoted name may hold another delimiter
    ],
)
def test_the_delimiter_is_the_one_whose_header_names_the_columns(
    tmp_path: Path, text: str, wanted: list[str], delimiter: str
) -> None:
    assert header_delimiter(_write(tmp_path, text), wanted) == delimiter


def test_without_the_columns_the_delimiter_that_splits_the_header_most_is_kept(
    tmp_path: Path,
) -> None:
    assert header_delimiter(_write(tmp_path, "a;b;c\n1;2;3\n"), ["d"]) == ";"
    assert header_delimiter(_write(tmp_path, "abc\n1\n"), ["d"]) == ","


@pytest.mark.parametrize(
    ("body", "expected", "reading"),
    [
        ("month;value\n2020-01;1,5\n2020-02;2\n2020-03;1.234,25\n", [1.5, 2, 1234.25], "','"),
        ('month,value\n2020-01,"1,234.5"\n2020-02,"2,000"\n2020-03,7\n', [1234.5, 2000, 7], "'.'"),
        ("month;value\n2020-01;1.500\n2020-02;2,5\n2020-03;3\n", [1500, 2.5, 3], "','"),
        ("month\tvalue\n2020-01\t1 234,5\n2020-02\t10\n2020-03\t3,25\n", [1234.5, 10, 3.25], "','"),
        ("month;value\n2020-01;1,234\n2020-02;2,5\n2020-03;3\n", [1.234, 2.5, 3], "','"),
        ('month,value\n2020-01,"1,234"\n2020-02,"12,500"\n2020-03,3\n', [1234, 12500, 3], "'.'"),
        ("month,value\n2020-01,1e3\n2020-02,-2.5\n2020-03,.5\n", [1000, -2.5, 0.5], None),
    ],
)
def test_each_column_is_read_in_its_own_number_style(
    tmp_path: Path, body: str, expected: list[float], reading: str | None
) -> None:
    series = csvdata.load_csv(_write(tmp_path, body), ["value"], time_column="month")
    np.testing.assert_allclose(series.values[:, 0], expected, rtol=1e-6)
    assert series.times == ["2020-01", "2020-02", "2020-03"]
    styles = [note for note in series.reading if note.startswith("column 'value'")]
    if reading is None:
        assert styles == []
    else:
        assert styles == [f"column 'value': decimal mark {reading}" + styles[0].split(reading)[1]]


def test_a_utf8_bom_and_spaces_around_header_names_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffmonth , value\r\n2020-01, 1\r\n2020-02, 2\r\n")
    series = csvdata.load_csv(path, ["value"], time_column="month")
    np.testing.assert_array_equal(series.values[:, 0], [1, 2])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("t;v\n1;1.234,5\n2;1,234.5\n", "decimal comma in some rows and a decimal point in"),
        ("t;v\n1;1,5\n2;1.5\n", "(the column is read with decimal mark ',', thousands '.')"),
        ("t;v\n1;1,5\n2;abc\n", "non-numeric value 'abc'"),
        ("t;v\n1;1,5\n2;n/a\n", "missing value in column 'v', line 3"),
    ],
)
def test_cells_that_break_the_columns_style_are_named(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(DataError) as error:
        csvdata.load_csv(_write(tmp_path, body), ["v"])
    assert message in str(error.value)


def test_plain_columns_keep_the_plain_reader() -> None:
    assert number_style(["1", "-2.5", "3e-4", "inf"], ",") == PLAIN
    with pytest.raises(NumberFormatError):
        number_style(["1.234,5", "1,234.5"], ",")
