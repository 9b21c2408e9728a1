"""Meetings are owed only from the period a branch or group came into being in, or from
`meetings.count_from` when that is later ("Hardening" issue, item 10): a roster imported on
5 December makes no meeting of July to November overdue."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from bot.scheduler import Firing
from bot.services import compliance, ledger, stats
from bot.services.meetings import MeetingSettings
from storage.db import Database
from storage.models import ComplianceNotice, Role
from tests.conftest import OrgBuilder, Person
from tests.services.test_compliance import add_meeting, at, kind_row, make_settings

# The roster was imported on 5 December 2026 at 10:00 local.
IMPORTED = at(2026, 12, 5, 10)


async def imported_branch(org: OrgBuilder, when: datetime = IMPORTED) -> Person:
    """A branch of one group whose roster came in on `when`: its secretary and a member."""
    secretary = await org.member("书记", telegram_id=100, role=Role.SECRETARY, created_at=when)
    await org.member("张三", telegram_id=101, created_at=when)
    return secretary


async def compliance_over(
    db: Database, settings: MeetingSettings, who: Person, period: str, now: datetime
) -> stats.Compliance:
    async with db.read() as session:
        scope = await ledger.resolve_scope(session, settings.org_id, who.actor(), None)
        view = ledger.parse_report_period(period, now.date())
        return await stats.compliance_in(session, settings, who.actor(), scope, view, now=now)


async def test_a_half_year_report_owes_nothing_before_the_roster_came(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary = await imported_branch(org)
    settings = make_settings(org_id)
    figures = await compliance_over(db, settings, secretary, "2026-H2", at(2027, 1, 10))
    # Q4 for the quarterly kinds (general, lecture), December for the monthly ones (the
    # branch's committee and its one group's meeting): 4, not 16.
    assert figures.required == 4 and figures.held == 0
    assert sorted(o.split()[-1] for o in figures.overdue) == [
        "2026年12月",
        "2026年12月",
        "2026年第4季度",
        "2026年第4季度",
    ]
    assert not any(month in o for o in figures.overdue for month in ("7月", "8月", "10月", "11月"))


async def test_the_quarter_view_marks_no_month_before_the_roster_overdue(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary = await imported_branch(org)
    settings = make_settings(org_id)
    async with db.read() as session:
        quarter = await compliance.report(
            session, settings, secretary.actor(), "2026-Q4", now=at(2026, 12, 20)
        )
    committee = kind_row(quarter, "committee")
    assert [s.state for s in committee.slices] == ["before", "before", "open"]
    assert (committee.required, committee.state, committee.overdue) == (1, "open", [])
    assert committee.since == date(2026, 12, 5)
    group = kind_row(quarter, "group", "第一党小组")
    assert (group.required, group.state, group.overdue) == (1, "open", [])
    # The quarterly kinds are owed for the quarter it came in.
    assert kind_row(quarter, "general").required == 1
    text = "\n".join(compliance.render("zh", quarter))
    assert "逾期" not in text.replace("❗ 逾期未开", "") and "（2026-12-05 起统计）" in text
    # October alone: nothing was owed yet.
    async with db.read() as session:
        october = await compliance.report(
            session, settings, secretary.actor(), "2026-10", now=at(2026, 12, 20)
        )
    row = kind_row(october, "committee")
    assert (row.required, row.state, row.since) == (0, "before", date(2026, 12, 5))
    assert "  ➖ 支部委员会：应开 0，已开 0（2026-12-05 起统计）" in compliance.render(
        "zh", october
    )


async def test_a_group_added_later_owes_from_its_own_month(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary = await imported_branch(org, at(2026, 7, 1))
    await org.member("李四", group="第二党小组", telegram_id=102, created_at=at(2026, 11, 15))
    settings = make_settings(org_id)
    async with db.read() as session:
        quarter = await compliance.report(
            session, settings, secretary.actor(), "2026-Q4", now=at(2027, 1, 5)
        )
    first = kind_row(quarter, "group", "第一党小组")
    second = kind_row(quarter, "group", "第二党小组")
    assert (first.required, len(first.overdue)) == (3, 3)
    assert (second.required, [p.start for p in second.overdue]) == (
        2,
        [date(2026, 11, 1), date(2026, 12, 1)],
    )


async def test_a_meeting_on_record_shows_the_unit_existed_before_its_roster(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary = await imported_branch(org)
    # A meeting entered for September: the branch was there, whatever the roster's date.
    await add_meeting(db, org_id, secretary, "committee", at(2026, 9, 10))
    figures = await compliance_over(
        db, make_settings(org_id), secretary, "2026-Q3", at(2027, 1, 10)
    )
    committee = [o.split()[-1] for o in figures.overdue if "支部委员会" in o]
    assert committee == []  # September held; July and August before the first record
    async with db.read() as session:
        q4 = await compliance.report(
            session, make_settings(org_id), secretary.actor(), "2026-Q4", now=at(2027, 1, 10)
        )
    assert len(kind_row(q4, "committee").overdue) == 3


async def test_count_from_starts_the_counting_later_never_earlier(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary = await imported_branch(org)
    later = make_settings(org_id, count_from="2027-01-01")
    figures = await compliance_over(db, later, secretary, "2026-H2", at(2027, 1, 10))
    assert (figures.required, figures.overdue) == (0, [])
    async with db.read() as session:
        q1 = await compliance.report(
            session, later, secretary.actor(), "2027-Q1", now=at(2027, 4, 2)
        )
    assert len(kind_row(q1, "committee").overdue) == 3
    # An earlier date does not make the branch owe from before it came.
    earlier = make_settings(org_id, count_from="2026-07-01")
    figures = await compliance_over(db, earlier, secretary, "2026-H2", at(2027, 1, 10))
    assert figures.required == 4


async def test_the_daily_reminder_waits_for_count_from(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    await imported_branch(org)
    now = at(2026, 12, 28, 9)
    firing = Firing(1, org_id, {}, now, now, None)
    async with db.write() as session:
        await compliance.fire_check(session, make_settings(org_id, count_from="2027-01-01"), firing)
        await session.commit()
    async with db.read() as session:
        assert await session.scalar(select(func.count(ComplianceNotice.id))) == 0
    # Without it, December is owed and the secretary is reminded.
    async with db.write() as session:
        await compliance.fire_check(session, make_settings(org_id), firing)
        await session.commit()
    async with db.read() as session:
        assert (await session.scalar(select(func.count(ComplianceNotice.id))) or 0) > 0
