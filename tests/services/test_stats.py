"""Statistics from the known scenario, and the chart's Chinese labels."""

from __future__ import annotations

import warnings
from decimal import Decimal

import matplotlib
import pytest
from matplotlib.figure import Figure

from bot.services import charts, stats
from bot.services.stats import Rate
from storage.db import Database
from tests.scenario import NOW, Scenario, build_scenario

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
