"""Statistics from the known scenario, and the chart's Chinese labels."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from decimal import Decimal
from typing import Any

import matplotlib
import pytest
from matplotlib.figure import Figure
from sqlalchemy import func, select

from bot.auth import operator_actor
from bot.services import charts, items, ledger, stats
from bot.services.audience import Audience
from bot.services.stats import Rate
from storage.db import Database
from storage.models import Group, ItemTally, Member
from tests.scenario import NOW, TZ, Scenario, build_scenario

TITLES = {"heading": "统计 2026-H2", "awareness": "知晓率", "attendance": "出席率", "hours": "时长"}


@pytest.fixture
async def scenario(db: Database, org_id: int) -> Scenario:
    return await build_scenario(db, org_id)


async def figures(scenario: Scenario, period: str = "2026-H2") -> stats.Stats:
    deps = scenario.deps
    async with deps.db.read() as session:
        return await stats.build(
            session, deps.meetings, scenario.secretary.actor(), period, None, now=NOW
        )


async def test_the_rates_and_totals_of_the_scenario(scenario: Scenario) -> None:
    s = await figures(scenario)
    assert (s.total("study"), s.total("reminders")) == (Rate(2, 4), Rate(1, 4))
    awareness = s.total("awareness")
    assert (awareness.done, awareness.total, awareness.percent) == (3, 8, Decimal(38))
    assert s.by_kind == {"支部党员大会": Rate(2, 4)}
    assert (s.study_items, s.reminder_items, s.meetings_held) == (1, 1, 1)
    assert (s.activities, s.volunteers, s.hours) == (1, 1, Decimal("2.00"))
    assert (s.members, s.bound) == (4, 4)
    groups = {u.name: u for u in s.groups}
    first = groups["第一支部/第一党小组"]
    # 书记, 张三 and 李四 are in 第一党小组.
    assert (first.awareness, first.attendance, first.hours) == (
        Rate(3, 6),
        Rate(2, 3),
        Decimal("2.00"),
    )
    assert groups["第一支部/第二党小组"].awareness == Rate(0, 2)
    # The branch comes first, then its groups.
    assert [u.name for u in s.units] == ["第一支部", "第一支部/第一党小组", "第一支部/第二党小组"]
    assert (Rate(1, 8).percent, Rate(5, 8).percent) == (Decimal(13), Decimal(63))
    # Q4 requires one general meeting (held), a committee and a group meeting each month, a lecture.
    assert s.compliance.held == 1 and s.compliance.required > s.compliance.held
    assert any("第一支部 支部委员会" in o for o in s.compliance.overdue)


async def test_a_month_view_counts_its_own_meetings(scenario: Scenario) -> None:
    s = await figures(scenario, "2026-11")
    assert s.by_kind == {"支部党员大会": Rate(2, 4)} and s.activities == 0
    assert (await figures(scenario, "2026-10")).by_kind == {}


def _missing_glyphs(draw: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert callable(draw)
        draw()
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


async def test_the_chart_draws_chinese_without_missing_glyphs(scenario: Scenario) -> None:
    if charts.cjk_font() is None:
        pytest.fail("no CJK font: install fonts-wqy-microhei (README, .ci/run)")
    s = await figures(scenario)
    png: list[bytes] = []
    assert _missing_glyphs(lambda: png.append(charts.stats_png(s, TITLES))) == []
    assert png[0].startswith(b"\x89PNG\r\n\x1a\n") and len(png[0]) > 10_000

    # The check can fail: the same labels in matplotlib's own font do miss their glyphs.
    def without_cjk() -> None:
        with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
            figure = Figure()
            figure.subplots().set_title("知晓率")
            figure.savefig(__import__("io").BytesIO(), format="png")

    assert _missing_glyphs(without_cjk)


def _tally(tables: list[ledger.Table]) -> dict[tuple[str, str], tuple[int, int]]:
    """(sheet, unit) -> (done, total), counted from the ledger's rows: the figures' oracle."""
    found: dict[tuple[str, str], tuple[int, int]] = {}

    def add(sheet: str, branch: str, group: str, done: bool) -> None:
        for unit in [branch] + ([f"{branch}/{group}"] if group else []):
            d, t = found.get((sheet, unit), (0, 0))
            found[sheet, unit] = (d + done, t + 1)

    by_key = {t.key: t for t in tables}
    for key in ("study", "reminders"):
        for row in by_key[key].rows:
            add(key, row[5], row[6], row[7] != "未确认")
    for row in by_key["meetings"].rows:
        if row[11] != "未结束":
            add("attendance", row[6], row[7], row[11] in ("出席", "迟到"))
    return found


def _figures(s: stats.Stats) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (part, unit.name): (getattr(unit, part).done, getattr(unit, part).total)
        for unit in s.units
        for part in ("study", "reminders", "attendance")
        if getattr(unit, part).total
    }


async def test_the_figures_are_the_ledgers_rows_counted(scenario: Scenario) -> None:
    deps = scenario.deps
    # The whole organisation (two branches) and one branch's secretary.
    for actor in (operator_actor("zh"), scenario.secretary.actor()):
        for period in ("2026", "2026-H2", "2026-11", "2026-10"):
            async with deps.db.read() as session:
                s = await stats.build(session, deps.meetings, actor, period, None, now=NOW)
                _, _, tables = await ledger.build(
                    session, deps.org_id, TZ, actor, period, None, now=NOW
                )
            assert _figures(s) == _tally(tables), (actor.name, period)
    assert _figures(s)  # 2026-10 has the study item: the comparison was not of two empties


async def test_a_record_stays_with_the_group_it_was_made_in(scenario: Scenario) -> None:
    # 王五 moves from 第二党小组 to 第一党小组 after the half-year's records were made.
    deps = scenario.deps
    async with deps.db.write() as session:
        wang = await session.get(Member, scenario.wang.member_id)
        assert wang is not None
        first = await session.scalar(
            select(Group.id).where(Group.branch_id == wang.branch_id, Group.name == "第一党小组")
        )
        wang.group_id = first
        await session.commit()
    s = await figures(scenario)
    groups = {u.name: u for u in s.groups}
    assert groups["第一支部/第二党小组"].awareness == Rate(0, 2)
    assert groups["第一支部/第一党小组"].awareness == Rate(3, 6)
    _, _, tables = await ledger_tables(scenario)
    study = next(t for t in tables if t.key == "study")
    assert [r[6] for r in study.rows if r[4] == "王五"] == ["第二党小组"]
    members = next(t for t in tables if t.key == "members")
    assert [r[3] for r in members.rows if r[1] == "王五"] == ["第一党小组"]


async def ledger_tables(
    scenario: Scenario,
) -> tuple[ledger.Scope, ledger.ReportPeriod, list[ledger.Table]]:
    deps = scenario.deps
    async with deps.db.read() as session:
        return await ledger.build(
            session, deps.org_id, TZ, scenario.secretary.actor(), "2026-H2", None, now=NOW
        )


async def test_two_racing_confirmations_count_once(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = scenario.deps
    # Both presses read the unconfirmed receipt before either writes (on PostgreSQL; SQLite's
    # writers queue from their first statement, so there the wait times out).
    read = items._receipt
    both_read = asyncio.Barrier(2)

    async def read_then_wait(*args: Any) -> Any:
        found = await read(*args)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_read.wait(), 0.5)
        return found

    monkeypatch.setattr(items, "_receipt", read_then_wait)
    async with deps.db.write() as session:
        posted = await items.post(
            session,
            deps.push,
            scenario.secretary.actor(),
            items.Draft(
                items.KIND_STUDY,
                "再学习",
                "正文",
                Audience("branch", scenario.zhang.branch_id or 0, "第一支部"),
            ),
            now=NOW,
        )

    async def press() -> bool:
        done = await items.confirm(
            deps.db, deps.push, scenario.zhang.actor(), posted.item_id, now=NOW
        )
        return done.first_time

    # Two instances handling two presses of the same button at once.
    firsts = await asyncio.gather(press(), press())
    assert sorted(firsts) == [False, True]
    async with deps.db.read() as session:
        done = await session.scalar(
            select(func.sum(ItemTally.done)).where(ItemTally.item_id == posted.item_id)
        )
        total = await session.scalar(
            select(func.sum(ItemTally.total)).where(ItemTally.item_id == posted.item_id)
        )
    assert (done, total) == (1, 4)
