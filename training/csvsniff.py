"""Which delimiter a user's CSV file uses: the one whose header line names the wanted columns.

Spreadsheets in decimal-comma locales export ";"-separated files, and tab-separated files
are common too. Splitting the header line is enough to tell them apart, and unlike sniffing
the body it cannot be misled by commas inside quoted texts or by decimal commas.
"""

from __future__ import annotations

import csv
from pathlib import Path

DELIMITERS = (",", ";", "\t", "|")


def header_delimiter(path: Path, wanted: list[str]) -> str:
    """The first of DELIMITERS whose split of the header line holds every wanted column
    (names compared without surrounding spaces); else the one that splits it most; else ","."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as file:
        header = file.readline()
    best, most = ",", 1
    for delimiter in DELIMITERS:
        fields = [field.strip() for field in next(csv.reader([header], delimiter=delimiter), [])]
        if all(name in fields for name in wanted):
            return delimiter
        if len(fields) > most:
            best, most = delimiter, len(fields)
    return best
