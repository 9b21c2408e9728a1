"""Reading a roster file (CSV, or an Excel workbook's first sheet): encodings, Chinese or English
headers, and row validation.

An .xlsx is turned into the CSV text it would have been saved as, one line per sheet row, and
that text is what is checked, previewed, kept for the confirm button and applied: both formats
take the same path, with the same row numbers, errors and limits.

Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.errors import Invalid
from bot.services.money import parse_amount
from bot.services.names import MAX_MEMBER_NAME, MAX_UNIT_NAME, normalise_name
from storage.models import Role

if TYPE_CHECKING:
    import _csv

# The most rows one file may have: 100,000 members at the most, in one go. Bigger rosters are
# imported in several files (by branch, for example).
MAX_ROSTER_ROWS = 100_000
# Room for MAX_ROSTER_ROWS rows with every column filled (about 80 bytes a row), and under the
# 20 MB a bot may download from Telegram.
MAX_ROSTER_BYTES = 16 * 1024 * 1024
MAX_NAME_LENGTH = MAX_MEMBER_NAME
# The longest cell read at all (csv's own default limit): a longer one makes its row a bad row.
MAX_CELL_LENGTH = 131_072
# The header is looked for in this many first lines: rows above it (a sheet's title such as
# 「第一支部党员花名册」, blank rows) are skipped.
HEADER_SEARCH_LINES = 10
# csv's field limit is process-wide and, hit, ends the reader mid-file: raised to the largest
# file accepted, so an oversized cell is only its row's error (see MAX_CELL_LENGTH).
if csv.field_size_limit() < MAX_ROSTER_BYTES:
    csv.field_size_limit(MAX_ROSTER_BYTES)

# An .xlsx is a zip file; its parts unpacked may be far larger than the file (a zip bomb): refused
# past this before anything is read.
MAX_XLSX_UNPACKED = 256 * 1024 * 1024
# The shared strings (every text cell's text, once) are held in memory whole, one Python string
# each, before the first row is read; the sheet itself is streamed. A 100,000-row roster needs
# some 30 MB of them even with every cell different.
MAX_XLSX_SHARED_STRINGS = 64 * 1024 * 1024
# The sheet's text as read (characters), held to what a CSV file may have.
MAX_XLSX_TEXT = MAX_ROSTER_BYTES
# Excel 97-2003 (.xls, an OLE compound file): not read; the reply says how to save it.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"

# Header aliases, compared after stripping and lower-casing.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "branch": ("支部", "branch"),
    "group": ("党小组", "小组", "group"),
    "role": ("角色", "role"),
    "phone": ("电话", "手机", "phone"),
    "committee": ("支委", "委员", "committee"),
    "dues": ("党费", "dues"),
}

ROLE_ALIASES: dict[str, Role] = {
    "member": Role.MEMBER,
    "党员": Role.MEMBER,
    "成员": Role.MEMBER,
    "group_leader": Role.GROUP_LEADER,
    "group leader": Role.GROUP_LEADER,
    "党小组长": Role.GROUP_LEADER,
    "小组长": Role.GROUP_LEADER,
    "组长": Role.GROUP_LEADER,
    "secretary": Role.SECRETARY,
    "书记": Role.SECRETARY,
    "支部书记": Role.SECRETARY,
    "admin": Role.ADMIN,
    "管理员": Role.ADMIN,
}

# Compared after stripping and lower-casing; an empty cell means "not on the committee".
COMMITTEE_VALUES: dict[str, bool] = {
    "是": True,
    "否": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "√": True,
    "✓": True,
}

_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,24}$")


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    branch: str
    group: str | None
    # None when the file has no such column: the member's current value is kept.
    role: Role | None
    phone: str | None
    # On the branch committee (支委); None when the file has no such column.
    committee: bool | None
    # Monthly dues (党费) in fen; None when the column is missing or the cell empty (kept as is).
    dues_cents: int | None = None


MAX_SHOWN_VALUE = 40


@dataclass(frozen=True)
class RowError:
    line: int
    # A text-catalog key (roster_err.<reason>) and the offending value, rendered by the caller.
    reason: str
    value: str = ""

    def __post_init__(self) -> None:
        # Shown back to the user: a runaway cell must not blow the reply past Telegram's limit.
        if len(self.value) > MAX_SHOWN_VALUE:
            object.__setattr__(self, "value", self.value[:MAX_SHOWN_VALUE] + "…")


@dataclass(frozen=True)
class ParsedRoster:
    rows: list[RosterRow]
    errors: list[RowError]
    has_role: bool
    has_phone: bool
    has_group: bool
    has_committee: bool
    has_dues: bool = False


class RosterFileError(Exception):
    """The file as a whole is unusable (encoding, header); `reason` is a text-catalog key."""

    def __init__(self, reason: str, value: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value


def office_text(data: bytes) -> str | None:
    """Text as offices save it: UTF-8 (with or without BOM) first, then GB18030, the superset of
    GBK that Excel and Windows Notepad write; None when it is neither."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def decode(data: bytes) -> str:
    """A roster file's text (office_text), within the roster's size limit."""
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterFileError("too_large", str(MAX_ROSTER_BYTES // 1024))
    text = office_text(data)
    if text is None:
        raise RosterFileError("encoding")
    return text


def roster_text(data: bytes, file_name: str = "") -> str:
    """The file as CSV text, whatever it came as: an .xlsx (a zip: it starts with PK) is read
    from its first sheet, anything else is decoded as CSV. Limits as for a CSV file."""
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterFileError("too_large", str(MAX_ROSTER_BYTES // 1024))
    name = file_name.lower()
    if data.startswith(_OLE_MAGIC) or name.endswith(".xls"):
        raise RosterFileError("xls")
    if data.startswith(_ZIP_MAGIC) or name.endswith((".xlsx", ".xlsm")):
        return xlsx_to_csv(data)
    return decode(data)


def cell_text(value: object) -> str:
    """A cell as a person reads it: whole numbers without ".0" (a phone number typed as a
    number, 13800000000), other numbers without an exponent, dates as YYYY-MM-DD (a time only
    when it has one), TRUE/FALSE as true/false. Line breaks inside a cell become spaces, so that
    a sheet row stays one CSV line and keeps its row number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer():
            return str(int(value))
        # As Excel shows it, to 15 significant digits: a computed 10.1+20.2 is 30.3, not
        # 30.299999999999997 (which no amount check would accept).
        return format(Decimal(format(value, ".15g")).normalize(), "f")
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")
    text = str(value)
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _why(exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}"[:120] if detail else type(exc).__name__


def xlsx_to_csv(data: bytes) -> str:
    """The first sheet of a workbook as CSV text: row N of the sheet is line N of the text (blank
    rows stay blank lines, trailing ones are dropped). Read in openpyxl's read-only mode, a row at
    a time, so 100,000 rows take little memory; formulas give the value Excel last computed.
    A file that is no readable workbook is a RosterFileError ("xlsx_malformed"), never a trace."""
    # Imported here: only an .xlsx needs it, and it is a large import for every CSV.
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            shared = sum(
                info.file_size
                for info in archive.infolist()
                if info.filename.lower().endswith("sharedstrings.xml")
            )
    # A damaged header can claim a zip version Python cannot read (NotImplementedError).
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise RosterFileError("xlsx_malformed", _why(exc)) from None
    if unpacked > MAX_XLSX_UNPACKED or shared > MAX_XLSX_SHARED_STRINGS:
        raise RosterFileError("too_large", str(MAX_ROSTER_BYTES // 1024))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file; all mean the same
        raise RosterFileError("xlsx_malformed", _why(exc)) from None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    try:
        if not workbook.worksheets:
            raise RosterFileError("empty")
        sheet = workbook.worksheets[0]
        # The stored size may be missing or wrong (some programs write "A1"): read every row.
        sheet.reset_dimensions()
        blank = 0
        rows = 0
        size = 0
        for values in sheet.iter_rows(values_only=True):
            cells = [cell_text(v) for v in values]
            while cells and not cells[-1].strip():
                cells.pop()
            if not cells:
                blank += 1
                continue
            rows += 1
            # The header (perhaps under a title) and MAX_ROSTER_ROWS members: past that, stop
            # reading now.
            if rows > MAX_ROSTER_ROWS + HEADER_SEARCH_LINES:
                raise RosterFileError("too_many_rows", str(MAX_ROSTER_ROWS))
            size += sum(len(c) for c in cells)
            if size > MAX_XLSX_TEXT:
                raise RosterFileError("too_large", str(MAX_ROSTER_BYTES // 1024))
            out.write("\n" * blank)
            blank = 0
            writer.writerow(cells)
    except RosterFileError:
        raise
    except Exception as exc:  # a part that does not parse, a bad cell reference ...
        raise RosterFileError("xlsx_malformed", _why(exc)) from None
    finally:
        workbook.close()
    return out.getvalue()


def _header_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        cell = normalise_name(raw).lower()
        for key, aliases in COLUMNS.items():
            if cell in aliases and key not in found:
                found[key] = index
    return found


def _find_header(reader: _csv.Reader) -> dict[str, int]:
    """The columns of the header: the first line naming the name column, within the first
    HEADER_SEARCH_LINES lines; a title or blank lines above it are skipped (row numbers stay
    the file's)."""
    seen = False
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise RosterFileError("malformed", str(exc)) from None
        if any(c.strip() for c in record):
            seen = True
            columns = _header_map(record)
            if "name" in columns:
                return columns
        if reader.line_num >= HEADER_SEARCH_LINES:
            break
    if not seen:
        raise RosterFileError("empty")
    raise RosterFileError("missing_column", "姓名/name")


def parse_roster(text: str, *, default_branch: str | None = None) -> ParsedRoster:
    """Validate every row; `default_branch` fills an empty or missing branch (a secretary's)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = _find_header(reader)
    if "branch" not in columns and default_branch is None:
        raise RosterFileError("missing_column", "支部/branch")

    rows: list[RosterRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    records = 0

    def cell(record: list[str], key: str) -> str:
        index = columns.get(key)
        if index is None or index >= len(record):
            return ""
        return record[index].strip()

    while True:
        # A row csv cannot read is that row's error; reading goes on with the next one.
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "malformed", str(exc)))
            continue
        line = reader.line_num
        if not any(c.strip() for c in record):
            continue
        records += 1
        if records > MAX_ROSTER_ROWS:
            raise RosterFileError("too_many_rows", str(MAX_ROSTER_ROWS))
        if any(len(c) > MAX_CELL_LENGTH for c in record):
            errors.append(RowError(line, "cell_too_long", str(MAX_CELL_LENGTH)))
            continue
        raw_branch = cell(record, "branch")
        raw_group = cell(record, "group")
        name = normalise_name(cell(record, "name"))
        branch = normalise_name(raw_branch) or ("" if raw_branch else default_branch or "")
        group = normalise_name(raw_group) or None
        role_text = cell(record, "role")
        phone = cell(record, "phone") or None
        committee_text = cell(record, "committee")
        dues_text = cell(record, "dues")
        if not name:
            errors.append(RowError(line, "no_name"))
            continue
        if len(name) > MAX_NAME_LENGTH:
            errors.append(RowError(line, "name_too_long", name[:20]))
            continue
        if not branch:
            errors.append(RowError(line, "no_branch", name))
            continue
        if len(branch) > MAX_UNIT_NAME:
            errors.append(RowError(line, "branch_too_long", branch[:20]))
            continue
        if raw_group and group is None:
            errors.append(RowError(line, "no_group", name))
            continue
        if group is not None and len(group) > MAX_UNIT_NAME:
            errors.append(RowError(line, "group_too_long", group[:20]))
            continue
        role: Role | None = None
        if "role" in columns:
            role = ROLE_ALIASES.get(role_text.lower()) if role_text else Role.MEMBER
            if role is None:
                errors.append(RowError(line, "bad_role", role_text))
                continue
        if phone is not None and not _PHONE_RE.match(phone):
            errors.append(RowError(line, "bad_phone", phone))
            continue
        committee: bool | None = None
        if "committee" in columns:
            committee = COMMITTEE_VALUES.get(committee_text.lower()) if committee_text else False
            if committee is None:
                errors.append(RowError(line, "bad_committee", committee_text))
                continue
        dues_cents: int | None = None
        if dues_text:
            try:
                dues_cents = parse_amount(dues_text)
            except Invalid:
                errors.append(RowError(line, "bad_dues", dues_text))
                continue
        key = (branch, name)
        if key in seen:
            errors.append(RowError(line, "duplicate", f"{name} ({seen[key]})"))
            continue
        seen[key] = line
        rows.append(RosterRow(line, name, branch, group, role, phone, committee, dues_cents))
    return ParsedRoster(
        rows=rows,
        errors=errors,
        has_role="role" in columns,
        has_phone="phone" in columns,
        has_group="group" in columns,
        has_committee="committee" in columns,
        has_dues="dues" in columns,
    )
