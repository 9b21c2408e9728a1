"""Reading a roster CSV: encodings, Chinese or English headers, and row validation.

Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from bot.errors import Invalid
from bot.services.money import parse_amount
from bot.services.names import MAX_MEMBER_NAME, MAX_UNIT_NAME, normalise_name
from storage.models import Role

# The most rows one file may have: 100,000 members at the most, in one go. Bigger rosters are
# imported in several files (by branch, for example).
MAX_ROSTER_ROWS = 100_000
# Room for MAX_ROSTER_ROWS rows with every column filled (about 80 bytes a row), and under the
# 20 MB a bot may download from Telegram.
MAX_ROSTER_BYTES = 16 * 1024 * 1024
MAX_NAME_LENGTH = MAX_MEMBER_NAME
# The longest cell read at all (csv's own default limit): a longer one makes its row a bad row.
MAX_CELL_LENGTH = 131_072
# csv's field limit is process-wide and, hit, ends the reader mid-file: raised to the largest
# file accepted, so an oversized cell is only its row's error (see MAX_CELL_LENGTH).
if csv.field_size_limit() < MAX_ROSTER_BYTES:
    csv.field_size_limit(MAX_ROSTER_BYTES)

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


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030, the superset of GBK that Excel writes."""
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterFileError("too_large", str(MAX_ROSTER_BYTES // 1024))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError("encoding")


def _header_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        cell = normalise_name(raw).lower()
        for key, aliases in COLUMNS.items():
            if cell in aliases and key not in found:
                found[key] = index
    return found


def parse_roster(text: str, *, default_branch: str | None = None) -> ParsedRoster:
    """Validate every row; `default_branch` fills an empty or missing branch (a secretary's)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterFileError("empty") from None
    except csv.Error as exc:
        raise RosterFileError("malformed", str(exc)) from None
    columns = _header_map(header)
    if "name" not in columns:
        raise RosterFileError("missing_column", "姓名/name")
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
