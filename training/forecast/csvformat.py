"""How a CSV column writes its numbers, decided once for the whole column.

Spreadsheets export numbers in the conventions of their locale: a decimal comma ("1.234,5",
usually in ";"-separated files), quoted thousands ("1,234.5"), spaces or apostrophes between
thousands. A column's style is decided from the cells that are not plain numbers, and every
cell is then read in that style (a "1.500" in a decimal-comma column is 1500, not 1.5).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_GROUP_MARKS = " \u00a0\u202f'"  # thousands marks in any locale, besides "," and "."
_COMMA_GROUPS_ONLY = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")


class NumberFormatError(ValueError):
    """The column mixes conventions, or a cell fits none."""


@dataclass(frozen=True)
class NumberStyle:
    decimal: str  # "." or ","
    groups: str  # characters that separate thousands

    @property
    def plain(self) -> bool:
        return self.decimal == "." and not self.groups

    def describe(self) -> str:
        marks = " or ".join(repr(mark) for mark in self.groups)
        return f"decimal mark {self.decimal!r}" + (f", thousands {marks}" if marks else "")

    def read(self, text: str) -> float:
        if self.plain:
            return float(text)
        if not self._pattern.fullmatch(text):
            raise ValueError(text)
        for mark in self.groups:
            text = text.replace(mark, "")
        return float(text.replace(self.decimal, "."))

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:  # built once per column, not once per cell
        group = f"[{re.escape(self.groups)}]" if self.groups else "(?!)"
        decimal = re.escape(self.decimal)
        return re.compile(
            rf"[+-]?(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)(?:{decimal}\d+)?|[+-]?{decimal}\d+"
        )


PLAIN = NumberStyle(".", "")


def number_style(cells: list[str], delimiter: str) -> NumberStyle:
    """The one style that reads every number of a column (cells stripped, missing ones left out)."""
    odd = [cell for cell in cells if not _is_plain(cell)]
    if not odd:
        return PLAIN
    votes: set[str] = set()
    ambiguous = False
    for cell in odd:
        comma, dot = cell.rfind(","), cell.rfind(".")
        if comma >= 0 and dot >= 0:
            votes.add("," if comma > dot else ".")
        elif comma >= 0:
            if _COMMA_GROUPS_ONLY.fullmatch(cell) and cell.count(",") == 1:
                ambiguous = True  # "1,234": a thousand, or one and a bit
            else:
                votes.add("." if cell.count(",") > 1 else ",")
        elif dot >= 0 and cell.count(".") > 1:
            votes.add(",")  # "1.234.567": dots between thousands
    if len(votes) > 1:
        raise NumberFormatError(
            "numbers are written with a decimal comma in some rows and a decimal point in others"
        )
    if votes:
        decimal = votes.pop()
    elif ambiguous:
        decimal = "," if delimiter == ";" else "."  # ";" files are the decimal-comma locales'
    else:
        decimal = "."
    groups = ("." if decimal == "," else ",") + _GROUP_MARKS
    return NumberStyle(decimal, "".join(mark for mark in groups if any(mark in c for c in cells)))


def _is_plain(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
