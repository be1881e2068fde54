"""Rows of the spreadsheets some sources ship: .xlsx read with the standard library, .xls
(the ONC high-priority table) with xlrd. Offline build code only; files are trusted inputs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_COLUMN = re.compile(r"([A-Z]+)")


def _column_index(reference: str) -> int:
    letters = _COLUMN.match(reference)
    number = 0
    for letter in letters.group(1) if letters else "A":
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def xlsx_rows(path: Path, sheet: int = 1) -> list[list[str]]:
    """The cells of one worksheet as text, rows in order, empty cells as ""."""
    with zipfile.ZipFile(path) as book:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in book.namelist():
            root = ET.fromstring(book.read("xl/sharedStrings.xml"))  # noqa: S314
            shared = ["".join(t.text or "" for t in item.iter(f"{_MAIN}t")) for item in root]
        root = ET.fromstring(book.read(f"xl/worksheets/sheet{sheet}.xml"))  # noqa: S314
    rows: list[list[str]] = []
    for row in root.iter(f"{_MAIN}row"):
        cells: dict[int, str] = {}
        for cell in row.iter(f"{_MAIN}c"):
            value = cell.find(f"{_MAIN}v")
            inline = cell.find(f"{_MAIN}is")
            if cell.get("t") == "s" and value is not None and value.text is not None:
                text = shared[int(value.text)]
            elif inline is not None:
                text = "".join(t.text or "" for t in inline.iter(f"{_MAIN}t"))
            else:
                text = value.text if value is not None and value.text else ""
            cells[_column_index(cell.get("r", "A"))] = text
        width = max(cells, default=-1) + 1
        rows.append([cells.get(i, "") for i in range(width)])
    return rows


def xls_rows(path: Path, sheet_name: str) -> list[list[str]]:
    """The cells of a legacy .xls worksheet as text (numbers as their integer text)."""
    import xlrd

    book = xlrd.open_workbook(str(path))
    sheet = book.sheet_by_name(sheet_name)
    rows = []
    for number in range(sheet.nrows):
        values = sheet.row_values(number)
        rows.append(
            [
                str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()
                for v in values
            ]
        )
    return rows
