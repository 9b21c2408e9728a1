"""The ledger as files: one XLSX workbook (a sheet per table) or one CSV file per table.

Both are written a slice of rows at a time (openpyxl's write-only workbook, csv.writer on an open
file), so an export's memory does not grow with the organisation. The XLSX work runs in a worker
thread between slices, so a large export does not stall the webhook or the sender.

CSV is UTF-8 with a byte-order mark, which is how Excel on Windows knows the Chinese is UTF-8.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _CONTROL
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.services.ledger import Row, Sheet, Table

# Excel's limit on a sheet name; ours are short, but a title must never break the workbook.
MAX_SHEET_NAME = 31
MAX_COLUMN_WIDTH = 40


def _width(value: object) -> int:
    # CJK characters are about twice as wide as Latin ones in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value))


class _Xlsx:
    """A write-only workbook filled sheet by sheet, slice by slice."""

    def __init__(self) -> None:
        self.workbook = Workbook(write_only=True)
        self.sheet: WriteOnlyWorksheet | None = None

    def begin(self, title: str, headers: Sequence[str], first: Sequence[Row]) -> None:
        sheet = self.workbook.create_sheet(title[:MAX_SHEET_NAME])
        sheet.freeze_panes = "A2"
        # A write-only sheet takes its column widths before any row: judged by the first slice.
        for index, header in enumerate(headers, 1):
            width = max([_width(header), *(_width(row[index - 1]) for row in first)])
            sheet.column_dimensions[get_column_letter(index)].width = min(
                width + 2, MAX_COLUMN_WIDTH
            )
        bold = Font(bold=True)
        cells = []
        for header in headers:
            cell = WriteOnlyCell(sheet, header)
            cell.font = bold
            cells.append(cell)
        sheet.append(cells)
        self.sheet = sheet

    def rows(self, rows: Iterable[Row]) -> None:
        sheet = self.sheet
        assert sheet is not None
        for row in rows:
            sheet.append([self._cell(sheet, v) for v in row])

    @staticmethod
    def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        # A control character a member typed (\x0b, say) is not allowed in XLSX at all.
        value = _CONTROL.sub("", value)
        if value.startswith("="):
            # Text from members (a reflection, a leave reason, a name) is never a formula:
            # openpyxl would store "=HYPERLINK(…)" as one, live in the secretary's Excel.
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            return cell
        return value

    def save(self) -> bytes:
        buffer = io.BytesIO()
        self.workbook.save(buffer)
        return buffer.getvalue()


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    """A workbook of tables already read."""
    book = _Xlsx()
    for table in tables:
        book.begin(table.title, table.headers, table.rows)
        book.rows(table.rows)
    return book.save()


async def xlsx_from(sheets: Sequence[Sheet]) -> tuple[bytes, int]:
    """A workbook of sheets read as they are written, and the number of rows in it."""
    book = _Xlsx()
    count = 0
    for sheet in sheets:
        begun = False
        async for batch in sheet.batches():
            if not begun:
                await asyncio.to_thread(book.begin, sheet.title, sheet.headers, batch)
                begun = True
            await asyncio.to_thread(book.rows, batch)
            count += len(batch)
        if not begun:
            await asyncio.to_thread(book.begin, sheet.title, sheet.headers, [])
    return await asyncio.to_thread(book.save), count


# Spreadsheets read a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """What csv.writer is given: text that cannot be read as a formula, exact decimals."""
    if value.__class__ is str:
        # The usual defence: a leading apostrophe makes Excel show the text as it is.
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return _cell(str(value))
    return "" if value is None else value


def _csv_rows(out: IO[str], rows: Iterable[Row]) -> None:
    # `_cell` inlined for the two common cases (plain text, whole numbers): this runs for
    # every value of a million-row ledger.
    csv.writer(out).writerows(
        [
            ("'" + v if v.startswith(_FORMULA_START) else v)
            if (kind := v.__class__) is str
            else v
            if kind is int
            else _cell(v)
            for v in row
        ]
        for row in rows
    )


def write_csv_rows(out: IO[str], rows: Iterable[Row]) -> None:
    """Rows written as CSV with the ledger's guard: no cell can be read as a formula."""
    _csv_rows(out, rows)


def csv_files(tables: Sequence[Table], stem: str) -> dict[str, bytes]:
    """File name -> contents: `<stem>-<table>.csv` for each table already read."""
    files: dict[str, bytes] = {}
    for table in tables:
        text = io.StringIO(newline="")
        _csv_rows(text, [list(table.headers), *table.rows])
        files[f"{stem}-{table.key}.csv"] = text.getvalue().encode("utf-8-sig")
    return files


async def csv_into(sheets: Sequence[Sheet], folder: Path, stem: str) -> tuple[list[Path], int]:
    """`<stem>-<table>.csv` in the folder for each sheet, written as it is read; the files and
    the number of rows."""
    written: list[Path] = []
    count = 0
    for sheet in sheets:
        path = folder / f"{stem}-{sheet.key}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            _csv_rows(out, [list(sheet.headers)])
            async for batch in sheet.batches():
                _csv_rows(out, batch)
                count += len(batch)
        written.append(path)
    return written, count
