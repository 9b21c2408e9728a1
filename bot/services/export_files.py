"""The ledger as files: one XLSX workbook (a sheet per table) or one CSV file per table.

CSV is UTF-8 with a byte-order mark, which is how Excel on Windows knows the Chinese is UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _CONTROL
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.services.ledger import Table

# Excel's limit on a sheet name; ours are short, but a title must never break the workbook.
MAX_SHEET_NAME = 31
MAX_COLUMN_WIDTH = 40


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for table in tables:
        sheet = workbook.create_sheet(table.title[:MAX_SHEET_NAME])
        sheet.append(list(table.headers))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            # A control character a member typed (\x0b, say) is not allowed in XLSX at all.
            sheet.append([_CONTROL.sub("", v) if isinstance(v, str) else v for v in row])
            # Text from members (a reflection, a leave reason, a name) is never a formula:
            # openpyxl would store "=HYPERLINK(…)" as one, live in the secretary's Excel.
            for cell in sheet[sheet.max_row]:
                if cell.data_type == "f":
                    cell.data_type = "s"
        sheet.freeze_panes = "A2"
        for index, header in enumerate(table.headers, 1):
            values = [header, *(row[index - 1] for row in table.rows)]
            # CJK characters are about twice as wide as Latin ones in Excel's default font.
            width = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(v)) for v in values)
            sheet.column_dimensions[get_column_letter(index)].width = min(
                width + 2, MAX_COLUMN_WIDTH
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# Spreadsheets read a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    text = "" if value is None else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        # The usual defence: a leading apostrophe makes Excel show the text as it is.
        return "'" + text
    return text


def csv_files(tables: Sequence[Table], stem: str) -> dict[str, bytes]:
    """File name -> contents: `<stem>-<table>.csv` for each table."""
    files: dict[str, bytes] = {}
    for table in tables:
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(table.headers)
        writer.writerows([_cell(v) for v in row] for row in table.rows)
        files[f"{stem}-{table.key}.csv"] = text.getvalue().encode("utf-8-sig")
    return files
