"""The ledger (台账): periods, scope, and the exported XLSX and CSV files read back and checked
row by row against the known scenario."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import main
from bot.errors import Denied, DomainError, Invalid
from bot.services import export_files, ledger
from bot.services.organisation import ensure_organisation
from storage import migrate
from storage.db import Database
from tests.conftest import open_database
from tests.scenario import NOW, TZ, Scenario, build_scenario


@pytest.fixture
async def scenario(db: Database, org_id: int) -> Scenario:
    return await build_scenario(db, org_id)


async def tables_for(
    scenario: Scenario, period: str = "2026-H2", branch: str | None = None
) -> tuple[ledger.Scope, ledger.ReportPeriod, list[ledger.Table]]:
    deps = scenario.deps
    async with deps.db.read() as session:
        return await ledger.build(
            session, deps.org_id, TZ, scenario.secretary.actor(), period, branch, now=NOW
        )


def test_periods_in_every_form() -> None:
    today = date(2026, 12, 1)
    for text, key, start, end in (
        ("2026-12", "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q4", "2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026q1", "2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-H1", "2026-H1", date(2026, 1, 1), date(2026, 7, 1)),
        ("2026-h2", "2026-H2", date(2026, 7, 1), date(2027, 1, 1)),
        ("2026", "2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("", "2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
    ):
        period = ledger.parse_report_period(text, today)
        assert (period.key, period.start, period.end) == (key, start, end), text
    assert ledger.parse_report_period("2026-H2", today).quarters == ["2026-Q3", "2026-Q4"]
    for bad in ("2026-13", "2026-H3", "明年", "2026-Q5"):
        with pytest.raises(Invalid) as refused:
            ledger.parse_report_period(bad, today)
        assert refused.value.key == "period.usage"
    # A year out of range says so (tests/services/test_hardening_periods.py).
    with pytest.raises(Invalid) as refused:
        ledger.parse_report_period("1999", today)
    assert refused.value.key == "date.year_range"


async def test_the_ledger_holds_every_record_of_the_period(scenario: Scenario) -> None:
    scope, period, tables = await tables_for(scenario)
    assert (scope.label, period.key) == ("第一支部", "2026-H2")
    by_key = {t.key: t for t in tables}
    assert [t.title for t in tables] == [
        "党员",
        "学习与确认",
        "廉政提醒与已阅",
        "三会一课与出席",
        "志愿服务与时长",
        "党费",
        "任务清单",
    ]
    # The other branch's member is not in this branch's ledger.
    assert sorted(r[1] for r in by_key["members"].rows) == ["书记", "张三", "李四", "王五"]
    study = {r[4]: r for r in by_key["study"].rows}
    assert study["张三"][7:] == ["已学习", "2026-10-11 20:00", "联系实际抓落实"]
    assert study["王五"][7] == "未确认" and len(study) == 4
    assert [r[4] for r in by_key["reminders"].rows if r[7] == "已阅"] == ["张三"]
    meeting = {r[5]: r for r in by_key["meetings"].rows}
    assert meeting["李四"][8:12] == ["请假", "出差", "", "请假"]
    assert meeting["书记"][11] == "迟到" and meeting["张三"][11] == "出席"
    assert meeting["王五"][11] == "缺席" and meeting["王五"][12] == "2026-11-22 10:00"
    service = {r[6]: r for r in by_key["volunteers"].rows}
    assert service["张三"][10:] == [
        "2026-12-05 08:50",
        "2026-12-05 11:00",
        Decimal("2.00"),
        "已服务",
    ]
    assert service["王五"][12:] == ["", "未到"]
    assert by_key["dues"].rows == [
        [
            "2026-12",
            "张三",
            "第一支部",
            "第一党小组",
            Decimal("50.00"),
            "已确认",
            "2026-12-06 09:00",
            "2026-12-06 10:00",
        ]
    ]
    (task,) = by_key["tasks"].rows
    assert task[1:5] == ["整理台账", "李四", "2026-12-20", "已完成"]
    # Another month holds none of it.
    _, _, empty = await tables_for(scenario, "2026-09")
    assert all(not t.rows for t in empty if t.key != "members")


async def test_scope_follows_the_role(scenario: Scenario) -> None:
    deps = scenario.deps
    async with deps.db.read() as session:
        with pytest.raises(Denied):
            await ledger.build(
                session, deps.org_id, TZ, scenario.secretary.actor(), "2026", "#第二支部", now=NOW
            )
        with pytest.raises(Denied):
            await ledger.build(
                session, deps.org_id, TZ, scenario.zhang.actor(), "2026", None, now=NOW
            )
        with pytest.raises(DomainError) as unknown:
            await ledger.build(
                session, deps.org_id, TZ, scenario.secretary.actor(), "2026", "#不存在", now=NOW
            )
    assert unknown.value.key == "unknown_audience"


async def test_the_xlsx_reads_back_as_the_store(scenario: Scenario) -> None:
    _, _, tables = await tables_for(scenario)
    workbook = load_workbook(io.BytesIO(export_files.xlsx_bytes(tables)))
    assert workbook.sheetnames == [t.title for t in tables]
    for table in tables:
        sheet = workbook[table.title]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert tuple(rows[0]) == table.headers
        expected = [[None if v == "" else v for v in row] for row in table.rows]
        # Amounts and hours come back as numbers equal to the exact decimals.
        got = [[Decimal(str(v)) if isinstance(v, float) else v for v in row] for row in rows[1:]]
        assert got == expected, table.key
    assert workbook["党费"]["E2"].value == 50


async def test_the_csv_files_are_utf8_with_a_bom(scenario: Scenario) -> None:
    scope, period, tables = await tables_for(scenario)
    files = export_files.csv_files(tables, ledger.file_stem(scope, period))
    assert sorted(files) == sorted(
        f"台账-第一支部-2026-H2-{key}.csv"
        for key in ("members", "study", "reminders", "meetings", "volunteers", "dues", "tasks")
    )
    raw = files["台账-第一支部-2026-H2-meetings.csv"]
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "类型", "名称"]
    assert {r[5]: r[11] for r in rows[1:]} == {
        "书记": "迟到",
        "张三": "出席",
        "李四": "请假",
        "王五": "缺席",
    }
    volunteers = list(
        csv.reader(io.StringIO(files["台账-第一支部-2026-H2-volunteers.csv"].decode("utf-8-sig")))
    )
    assert [r[12] for r in volunteers[1:]] == ["2.00", ""]


async def _scenario_file(url: str) -> None:
    db, _ = await open_database(url)
    try:
        await migrate.upgrade(db)
        async with db.write() as session:
            org_id = await ensure_organisation(session, "测试局机关党委", "Asia/Shanghai")
        await build_scenario(db, org_id)
    finally:
        await db.dispose()


def test_the_command_line_writes_both_formats(tmp_path: Path) -> None:
    # The command line runs its own event loop, so this test is not a coroutine.
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_scenario_file(url))
    config = tmp_path / "branchbot.toml"
    config.write_text(
        f'[organisation]\nname = "测试局机关党委"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    xlsx = tmp_path / "out" / "ledger.xlsx"
    args = ["export", "--config", str(config), "--period", "2026-Q4"]
    assert main([*args, "--format", "xlsx", "--out", str(xlsx)]) == 0
    workbook = load_workbook(xlsx)
    assert [r[1] for r in workbook["党员"].iter_rows(min_row=2, values_only=True)] == [
        "书记",
        "张三",
        "李四",
        "王五",
        "外支部",
    ]
    assert (
        main([*args, "--branch", "第二支部", "--format", "csv", "--out", str(tmp_path / "c")]) == 0
    )
    members = (
        (tmp_path / "c" / "台账-第二支部-2026-Q4-members.csv").read_bytes().decode("utf-8-sig")
    )
    assert "外支部" in members and "张三" not in members
    assert main([*args[:4], "2026-Q9", "--out", str(xlsx)]) == 2


def test_member_text_never_becomes_a_formula() -> None:
    hostile = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2", "@SUM(A1)"]
    table = ledger.Table("study", "学习", ("心得",), [[h] for h in hostile] + [[Decimal("-3.50")]])
    sheet = load_workbook(io.BytesIO(export_files.xlsx_bytes([table])))["学习"]
    cells = [sheet.cell(row=r, column=1) for r in range(2, 7)]
    assert [c.value for c in cells[:4]] == hostile
    assert {c.data_type for c in cells[:4]} == {"s"}
    # A number stays a number, a negative one too.
    assert cells[4].data_type == "n"
    (raw,) = export_files.csv_files([table], "x").values()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))[1:]
    assert [r[0] for r in rows] == ["'" + h for h in hostile] + ["-3.50"]


def test_control_characters_do_not_break_the_files() -> None:
    table = ledger.Table("study", "学习", ("心得",), [["好\x0b的\x01"]])
    sheet = load_workbook(io.BytesIO(export_files.xlsx_bytes([table])))["学习"]
    assert sheet["A2"].value == "好的"


def _cells(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    return {name: list(workbook[name].iter_rows(values_only=True)) for name in workbook.sheetnames}


async def test_the_streamed_files_are_the_tables_read_whole(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One row a slice: every sheet of more than one row is written across several slices.
    monkeypatch.setattr(ledger, "BATCH", 1)
    _, _, tables = await tables_for(scenario)
    deps = scenario.deps
    async with deps.db.read() as session:
        found = await ledger.open_ledger(
            session, deps.org_id, TZ, scenario.secretary.actor(), "2026-H2", None, now=NOW
        )
        streamed, rows = await export_files.xlsx_from(found.sheets)
        written, csv_rows = await export_files.csv_into(found.sheets, tmp_path, "x")
    assert rows == csv_rows == sum(len(t.rows) for t in tables) > len(tables)
    assert _cells(streamed) == _cells(export_files.xlsx_bytes(tables))
    whole = export_files.csv_files(tables, "x")
    assert {p.name: p.read_bytes() for p in written} == whole
