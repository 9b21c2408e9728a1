"""Excel rosters: the first sheet of an .xlsx is read like a CSV (same headers, same row errors
with the sheet's row numbers, same limits), numbers and dates come out as a person reads them,
and a file that is no workbook gets a clear error."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from bot.cli import main
from bot.services import roster_csv
from bot.services.roster_csv import (
    MAX_ROSTER_ROWS,
    RosterFileError,
    cell_text,
    parse_roster,
    roster_text,
)
from bot.texts import CATALOGS, plain, t
from storage.models import Role

HEADER = ["姓名", "支部", "党小组", "角色", "电话"]


def xlsx(*rows: Sequence[object], sheets: dict[str, list[Sequence[object]]] | None = None) -> bytes:
    """A workbook whose first sheet holds `rows` (None leaves a cell empty; a row of Nones is a
    blank row), and any further sheets."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    for title, more in (sheets or {}).items():
        extra = book.create_sheet(title)
        for row in more:
            extra.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parse(data: bytes, name: str = "花名册.xlsx") -> roster_csv.ParsedRoster:
    return parse_roster(roster_text(data, name))


def test_an_xlsx_bad_row_is_reported_with_its_row_number_as_in_csv() -> None:
    rows: list[Sequence[object]] = [
        HEADER,
        ["张三", "第一支部", "第一党小组", "书记", 13800000001],
        ["李四", "第一支部", "第一党小组", "党员", 13800000002],
        ["王五", "第一支部", None, "主任", None],  # row 4: unknown role
    ]
    csv_text = "\n".join(",".join("" if c is None else str(c) for c in r) for r in rows) + "\n"
    from_xlsx = parse(xlsx(*rows))
    from_csv = parse_roster(csv_text)
    assert [(e.line, e.reason, e.value) for e in from_xlsx.errors] == [(4, "bad_role", "主任")]
    assert from_xlsx.errors == from_csv.errors
    assert from_xlsx.rows == from_csv.rows
    assert [r.name for r in from_xlsx.rows] == ["张三", "李四"]
    assert from_xlsx.rows[0].role is Role.SECRETARY


def test_blank_rows_keep_the_sheet_row_numbers() -> None:
    data = xlsx(
        HEADER,
        ["张三", "第一支部", None, None, None],
        [None, None, None, None, None],
        [None, None, None, None, None],
        ["", "第一支部", None, None, None],  # row 5: no name
        ["张三", "第一支部", None, None, None],  # row 6: repeats row 2
    )
    parsed = parse(data)
    assert [(e.line, e.reason) for e in parsed.errors] == [(5, "no_name"), (6, "duplicate")]
    assert parsed.errors[1].value == "张三 (2)"


def test_numbers_and_dates_read_as_a_person_would_type_them() -> None:
    data = xlsx(
        ["姓名", "支部", "党小组", "电话", "党费", "支委"],
        ["张三", "第一支部", 3, 13800000000, 50, True],
        ["李四", "第一支部", date(2026, 3, 1), 13800000001.0, 12.5, False],
        ["王五", 2026, datetime(2026, 3, 1, 14, 30), "+86 138-0000-0002", 0.1, 1],
    )
    parsed = parse(data)
    assert parsed.errors == []
    by_name = {r.name: r for r in parsed.rows}
    assert by_name["张三"].phone == "13800000000"  # not 13800000000.0
    assert by_name["张三"].group == "3"
    assert by_name["张三"].dues_cents == 5000
    assert by_name["张三"].committee is True
    assert by_name["李四"].phone == "13800000001"
    assert by_name["李四"].group == "2026-03-01"
    assert by_name["李四"].dues_cents == 1250
    assert by_name["李四"].committee is False
    assert by_name["王五"].branch == "2026"
    assert by_name["王五"].group == "2026-03-01 14:30"
    assert by_name["王五"].dues_cents == 10
    assert by_name["王五"].committee is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (13800000000, "13800000000"),
        (13800000000.0, "13800000000"),
        (1e16, "10000000000000000"),
        (12.5, "12.5"),
        (0.000001, "0.000001"),
        (True, "true"),
        (date(2026, 1, 4), "2026-01-04"),
        (datetime(2026, 1, 4), "2026-01-04"),
        (datetime(2026, 1, 4, 9, 5), "2026-01-04 09:05"),
        ("张\n三", "张 三"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_only_the_first_sheet_is_read() -> None:
    data = xlsx(
        ["姓名", "支部"],
        ["张三", "第一支部"],
        sheets={"说明": [["姓名", "支部"], ["不该导入", "第二支部"]]},
    )
    assert [r.name for r in parse(data).rows] == ["张三"]


def test_headers_are_required_as_in_csv() -> None:
    with pytest.raises(RosterFileError) as info:
        parse(xlsx(["名字", "部门"], ["张三", "一"]))
    assert info.value.reason == "missing_column"
    with pytest.raises(RosterFileError) as info:
        parse(xlsx())
    assert info.value.reason == "empty"


def _zip(**parts: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"PK\x03\x04 not really a zip", "r.xlsx", "xlsx_malformed"),
        (b"just text", "r.xlsx", "xlsx_malformed"),
        (_zip(**{"readme.txt": "hello"}), "r.xlsx", "xlsx_malformed"),
        (_zip(**{"[Content_Types].xml": "<broken"}), "r.xlsx", "xlsx_malformed"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "r.xls", "xls"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "r.csv", "xls"),
    ],
)
def test_a_file_that_is_no_workbook_gets_a_clear_error(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(RosterFileError) as info:
        roster_text(data, name)
    assert info.value.reason == reason
    message = plain(t("zh", f"roster_file.{reason}", value=info.value.value))
    assert "Excel" in message and "Traceback" not in message


def test_a_workbook_sent_as_csv_is_still_read_as_a_workbook() -> None:
    data = xlsx(["姓名", "支部"], ["张三", "第一支部"])
    assert [r.name for r in parse(data, "花名册.csv").rows] == ["张三"]


def test_a_zip_bomb_is_refused_before_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    data = xlsx(["姓名", "支部"], ["张三", "第一支部"])
    monkeypatch.setattr(roster_csv, "MAX_XLSX_UNPACKED", 1000)
    with pytest.raises(RosterFileError) as info:
        roster_text(data, "r.xlsx")
    assert info.value.reason == "too_large"
    # The shared strings (as Excel writes text cells) are held in memory whole: they have a
    # limit of their own.
    monkeypatch.setattr(roster_csv, "MAX_XLSX_UNPACKED", 10**9)
    monkeypatch.setattr(roster_csv, "MAX_XLSX_SHARED_STRINGS", 1000)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for part in src.infolist():
            dst.writestr(part, src.read(part))
        dst.writestr("xl/sharedStrings.xml", "<sst>" + "<si><t>ab</t></si>" * 100 + "</sst>")
    with pytest.raises(RosterFileError) as info:
        roster_text(out.getvalue(), "r.xlsx")
    assert info.value.reason == "too_large"
    assert roster_text(data, "r.xlsx")


def _big_xlsx(rows: int) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["姓名", "支部", "党小组", "电话"])
    for i in range(rows):
        sheet.append([f"成员{i:06d}", "第一支部", f"第{i % 20}小组", 13800000000 + i])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_PEAK = """
import resource, sys
from bot.services.roster_csv import parse_roster, roster_text
with open(sys.argv[1], "rb") as f:
    data = f.read()
rows = parse_roster(roster_text(data, "r.xlsx")).rows
last = rows[-1]
print(len(rows), last.line, last.phone, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _read_in_a_process(path: Path) -> tuple[int, int, str, int]:
    """Rows read, the last row's number and phone, and the process's peak memory (KiB), in a
    fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    rows, line, phone, peak = done.stdout.split()
    return int(rows), int(line), phone, int(peak)


def test_100000_rows_are_read_in_little_memory_with_their_row_numbers(tmp_path: Path) -> None:
    small, big = tmp_path / "small.xlsx", tmp_path / "big.xlsx"
    small.write_bytes(_big_xlsx(10))
    big.write_bytes(_big_xlsx(MAX_ROSTER_ROWS))
    base = _read_in_a_process(small)[3]
    rows, line, phone, peak = _read_in_a_process(big)
    assert (rows, line, phone) == (
        MAX_ROSTER_ROWS,
        MAX_ROSTER_ROWS + 1,
        str(13800000000 + MAX_ROSTER_ROWS - 1),
    )
    # About 55 MB here, mostly the 100,000 parsed rows (the file is 2 MB, its CSV text 3 MB):
    # openpyxl's read-only mode reads a row at a time, where a normal workbook holds every cell
    # as an object (about 170 MB more for this sheet).
    assert (peak - base) < 100 * 1024, (base, peak)


def test_a_sheet_over_the_row_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_csv, "MAX_ROSTER_ROWS", 50)
    with pytest.raises(RosterFileError) as info:
        parse_roster(roster_text(_big_xlsx(51), "r.xlsx"))
    assert (info.value.reason, info.value.value) == ("too_many_rows", "50")
    assert len(parse_roster(roster_text(_big_xlsx(50), "r.xlsx")).rows) == 50
    # Far past the limit (more than a title and a header could explain), the sheet is not even
    # read to its end.
    with pytest.raises(RosterFileError) as info:
        roster_text(_big_xlsx(50 + roster_csv.HEADER_SEARCH_LINES), "r.xlsx")
    assert (info.value.reason, info.value.value) == ("too_many_rows", "50")


def test_a_title_row_above_the_header_is_skipped_and_row_numbers_kept() -> None:
    # Offices' sheets often start with a title (merged across the columns) and a blank row.
    data = xlsx(
        ["第一支部党员花名册"],
        [],
        HEADER,
        ["张三", "第一支部", "第一党小组", "书记", 13800000001],
        ["王五", "第一支部", None, "主任", None],
    )
    parsed = parse(data)
    assert [(r.line, r.name) for r in parsed.rows] == [(4, "张三")]
    assert [(e.line, e.reason) for e in parsed.errors] == [(5, "bad_role")]
    # The same in a CSV; a header further down than that is not looked for.
    assert parse_roster("花名册\n姓名,支部\n张三,一支部\n").rows[0].line == 3
    with pytest.raises(RosterFileError) as info:
        parse_roster("说明\n" * roster_csv.HEADER_SEARCH_LINES + "姓名,支部\n张三,一支部\n")
    assert info.value.reason == "missing_column"


def test_computed_numbers_read_as_excel_shows_them() -> None:
    # A dues cell computed by a formula holds 30.299999999999997; Excel shows 30.3.
    assert cell_text(10.1 + 20.2) == "30.3"
    assert cell_text(0.1 + 0.2) == "0.3"
    data = xlsx(["姓名", "支部", "党费"], ["张三", "第一支部", 10.1 + 20.2])
    assert parse(data).rows[0].dues_cents == 3030


def test_cli_imports_an_xlsx_and_reports_its_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n')
    bad = tmp_path / "花名册.xlsx"
    bad.write_bytes(
        xlsx(
            HEADER,
            ["张三", "第一支部", "第一党小组", "书记", 13800000001],
            ["王五", "第一支部", None, "主任", None],
        )
    )
    assert main(["roster", "import", str(bad), "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: 未知角色「主任」" in err

    good = tmp_path / "good.xlsx"
    good.write_bytes(
        xlsx(
            HEADER,
            ["张三", "第一支部", "第一党小组", "书记", 13800000001],
            ["李四", "第一支部", "第一党小组", "党员", 13800000002.0],
        )
    )
    assert main(["roster", "import", str(good), "--config", str(cfg), "--dry-run"]) == 0
    assert "将导入：新增 2 人" in capsys.readouterr().out
    assert main(["roster", "import", str(good), "--config", str(cfg)]) == 0
    assert "已导入：新增 2 人" in capsys.readouterr().out
    assert main(["roster", "import", str(good), "--config", str(cfg)]) == 0
    assert "不变 2 人" in capsys.readouterr().out

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04garbage")
    assert main(["roster", "import", str(broken), "--config", str(cfg)]) == 1
    assert "无法读取这个 Excel 文件" in capsys.readouterr().err


_SAMPLE = xlsx(HEADER, ["张三", "第一支部", "第一党小组", "书记", 13800000001])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(0, len(_SAMPLE)),
)
def test_a_damaged_workbook_is_refused_with_a_reason(
    flips: list[tuple[int, int]], keep: int
) -> None:
    data = bytearray(_SAMPLE)
    for at, value in flips:
        data[at] = value
    for damaged in (bytes(data), _SAMPLE[:keep]):
        try:
            parse_roster(roster_text(damaged, "r.xlsx"))
        except RosterFileError as error:
            assert f"roster_file.{error.reason}" in CATALOGS["zh"]
