"""三会一课 compliance: periods in the organisation's zone, required vs held, scope, reminders."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.config import Config, FollowupConfig, MeetingsConfig
from bot.delivery import QuietHours
from bot.errors import Denied, Invalid
from bot.scheduler import Firing
from bot.services import compliance, ledger, stats
from bot.services.audience import Audience
from bot.services.items import PushSettings
from bot.services.meetings import MeetingDraft, MeetingSettings, close_meeting, create_meeting
from storage.db import Database
from storage.models import ComplianceNotice, Delivery, Invitation, Job, Meeting, Role
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A local Shanghai wall time as the UTC instant the store keeps."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def make_settings(org_id: int, **meetings: object) -> MeetingSettings:
    push = PushSettings(org_id, "zh", TZ, QuietHours(0, 0, TZ), FollowupConfig())
    return MeetingSettings(push, MeetingsConfig(**meetings))  # type: ignore[arg-type]


async def add_meeting(
    db: Database,
    org_id: int,
    owner: Person,
    kind: str,
    starts_at: datetime,
    *,
    status: str = "closed",
) -> int:
    """A meeting row as the meetings service leaves it; group meetings belong to owner's group."""
    assert owner.branch_id is not None
    group = kind == "group"
    async with db.write() as session:
        meeting = Meeting(
            organisation_id=org_id,
            branch_id=owner.branch_id,
            group_id=owner.group_id if group else None,
            kind=kind,
            audience_kind="group" if group else ("committee" if kind == "committee" else "branch"),
            audience_id=owner.group_id if group else owner.branch_id,
            title=f"{kind} {starts_at:%m-%d}",
            starts_at=starts_at,
            status=status,
            secret=secrets.token_hex(8),
        )
        session.add(meeting)
        await session.flush()
        if status == "closed":
            # Held means someone checked in; a meeting nobody attended did not take place.
            session.add(
                Invitation(
                    meeting_id=meeting.id,
                    member_id=owner.member_id,
                    checked_in_at=starts_at,
                    outcome="attended",
                )
            )
        await session.commit()
        return meeting.id


async def view(
    db: Database,
    settings: MeetingSettings,
    person: Person,
    period: str | None,
    now: datetime,
) -> compliance.ComplianceReport:
    async with db.read() as session:
        return await compliance.report(session, settings, person.actor(), period, now=now)


def kind_row(result: compliance.ComplianceReport, kind: str, group: str | None = None):
    (branch,) = result.branches
    if group is None:
        return next(r for r in branch.kinds if r.kind == kind)
    unit = next(g for g in branch.groups if g.name == group)
    return next(r for r in unit.kinds if r.kind == kind)


@pytest.fixture
async def secretary(org: OrgBuilder) -> Person:
    return await org.member("书记", telegram_id=100, role=Role.SECRETARY)


# ---------------------------------------------------------------- periods


def test_periods_are_parsed_in_every_documented_form() -> None:
    today = date(2026, 11, 25)
    assert compliance.parse_period(None, today) == compliance.Period(
        "quarter", date(2026, 10, 1), date(2027, 1, 1)
    )
    assert compliance.parse_period("本季度", today).start == date(2026, 10, 1)
    assert compliance.parse_period("month", today) == compliance.Period(
        "month", date(2026, 11, 1), date(2026, 12, 1)
    )
    assert compliance.parse_period("本月", today).start == date(2026, 11, 1)
    assert compliance.parse_period("2025-12", today) == compliance.Period(
        "month", date(2025, 12, 1), date(2026, 1, 1)
    )
    assert compliance.parse_period("2026-q2", today) == compliance.Period(
        "quarter", date(2026, 4, 1), date(2026, 7, 1)
    )
    assert compliance.parse_period("2026-Q4", today).end == date(2027, 1, 1)


@pytest.mark.parametrize("text", ["week", "2026-13", "2026-Q5", "26-03", "2026", "Q1"])
def test_a_bad_period_is_refused_with_the_usage(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        compliance.parse_period(text, date(2026, 11, 25))
    assert caught.value.key == "compliance.usage"


async def test_the_report_refuses_a_bad_period(
    db: Database, org_id: int, secretary: Person
) -> None:
    with pytest.raises(Invalid):
        await view(db, make_settings(org_id), secretary, "next year", at(2026, 11, 25))


# ---------------------------------------------------------------- boundaries


async def test_a_month_ends_at_local_midnight(db: Database, org_id: int, secretary: Person) -> None:
    settings = make_settings(org_id)
    late_march = at(2026, 3, 31, 23, 30)
    early_april = at(2026, 4, 1, 0, 30)
    # Both are 31 March in UTC; only the organisation's zone tells them apart.
    assert late_march.date() == early_april.date() == date(2026, 3, 31)
    await add_meeting(db, org_id, secretary, "committee", late_march)
    await add_meeting(db, org_id, secretary, "committee", early_april)
    await add_meeting(db, org_id, secretary, "group", early_april)
    now = at(2026, 5, 10)

    march = await view(db, settings, secretary, "2026-03", now)
    assert (kind_row(march, "committee").held, kind_row(march, "committee").state) == (1, "ok")
    group_march = kind_row(march, "group", "第一党小组")
    assert (group_march.held, group_march.state) == (0, "overdue")

    april = await view(db, settings, secretary, "2026-04", now)
    assert kind_row(april, "committee").held == 1
    assert kind_row(april, "group", "第一党小组").state == "ok"


async def test_a_quarter_ends_at_local_midnight(
    db: Database, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id)
    await add_meeting(db, org_id, secretary, "general", at(2026, 3, 31, 23, 30))
    await add_meeting(db, org_id, secretary, "lecture", at(2026, 4, 1, 0, 30))
    now = at(2026, 7, 2)

    q1 = await view(db, settings, secretary, "2026-Q1", now)
    assert (kind_row(q1, "general").held, kind_row(q1, "general").state) == (1, "ok")
    assert (kind_row(q1, "lecture").held, kind_row(q1, "lecture").state) == (0, "overdue")

    q2 = await view(db, settings, secretary, "2026-Q2", now)
    assert (kind_row(q2, "general").held, kind_row(q2, "general").state) == (0, "overdue")
    assert (kind_row(q2, "lecture").held, kind_row(q2, "lecture").state) == (1, "ok")


async def test_a_quarterly_kind_in_a_month_view_counts_its_quarter(
    db: Database, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id)
    await add_meeting(db, org_id, secretary, "lecture", at(2026, 10, 15))
    november = await view(db, settings, secretary, "2026-11", at(2026, 11, 20))
    lecture = kind_row(november, "lecture")
    assert (lecture.required, lecture.held, lecture.state) == (1, 1, "ok")
    assert [s.period.start for s in lecture.slices] == [date(2026, 10, 1)]
    assert "按季度统计：2026年第4季度" in "\n".join(compliance.render("zh", november))


# ---------------------------------------------------------------- counting


async def test_a_quarter_view_requires_each_month_and_tells_overdue_from_open(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id)
    await add_meeting(db, org_id, secretary, "committee", at(2026, 10, 9))
    await add_meeting(db, org_id, secretary, "committee", at(2026, 10, 23))
    await add_meeting(db, org_id, secretary, "group", at(2026, 11, 3))
    result = await view(db, settings, secretary, None, at(2026, 11, 20))

    committee = kind_row(result, "committee")
    assert (committee.required, committee.held) == (3, 2)
    assert [s.state for s in committee.slices] == ["ok", "open", "future"]
    assert committee.state == "open" and committee.overdue == []

    group = kind_row(result, "group", "第一党小组")
    assert (group.required, group.held) == (3, 1)
    assert [s.state for s in group.slices] == ["overdue", "ok", "future"]
    assert group.state == "overdue"
    assert [p.start for p in group.overdue] == [date(2026, 10, 1)]

    text = "\n".join(compliance.render("zh", result))
    assert "支部委员会：应开 3，已开 2" in text
    assert "党小组会：应开 3，已开 1，<b>逾期未开：2026年10月</b>" in text


async def test_cancelled_meetings_do_not_count_and_scheduled_ones_are_planned(
    db: Database, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id)
    await add_meeting(db, org_id, secretary, "general", at(2026, 10, 12), status="cancelled")
    await add_meeting(db, org_id, secretary, "general", at(2026, 12, 2), status="scheduled")
    result = await view(db, settings, secretary, "quarter", at(2026, 11, 20))
    general = kind_row(result, "general")
    assert (general.held, general.planned, general.state) == (0, 1, "open")
    assert "支部党员大会：应开 1，已开 0，已安排 1" in "\n".join(compliance.render("zh", result))


async def test_a_meeting_scheduled_then_closed_is_held(
    db: Database, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id)
    branch = Audience("branch", secretary.branch_id, "第一支部")
    async with db.write() as session:
        scheduled = await create_meeting(
            session,
            settings,
            secretary.actor(),
            MeetingDraft("lecture", "专题党课", at(2026, 11, 10, 15), branch),
            now=at(2026, 11, 1),
        )
        await session.commit()
    before = await view(db, settings, secretary, None, at(2026, 11, 10, 16))
    assert (kind_row(before, "lecture").held, kind_row(before, "lecture").planned) == (0, 1)
    async with db.write() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.meeting_id == scheduled.meeting_id)
            .values(checked_in_at=at(2026, 11, 10, 15))
        )
        await close_meeting(session, settings, scheduled.meeting_id, now=at(2026, 11, 10, 16))
        await session.commit()
    after = await view(db, settings, secretary, None, at(2026, 11, 10, 17))
    assert (kind_row(after, "lecture").held, kind_row(after, "lecture").state) == (1, "ok")


async def test_times_and_off_come_from_the_config(
    db: Database, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id, lecture_every="off", general_every="month", general_times=2)
    await add_meeting(db, org_id, secretary, "general", at(2026, 11, 3))
    result = await view(db, settings, secretary, "month", at(2026, 11, 20))
    (branch,) = result.branches
    assert [r.kind for r in branch.kinds] == ["general", "committee"]
    general = kind_row(result, "general")
    assert (general.required, general.held, general.state) == (2, 1, "open")


# ---------------------------------------------------------------- scope


async def test_admins_see_every_branch_sorted_by_name(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    admin = await org.member("管理员", branch=None, role=Role.ADMIN, telegram_id=1)
    await org.member("乙", branch="B支部", group="2组")
    await org.member("甲", branch="A支部", group="1组")
    await org.member("丙", branch="A支部", group="0组")
    result = await view(db, make_settings(org_id), admin, None, at(2026, 11, 20))
    assert [b.name for b in result.branches] == ["A支部", "B支部"]
    assert [g.name for g in result.branches[0].groups] == ["0组", "1组"]


async def test_a_secretary_sees_only_their_own_branch(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    other = await org.member("他支部书记", branch="第二支部", role=Role.SECRETARY)
    await add_meeting(db, org_id, secretary, "general", at(2026, 10, 12))
    result = await view(db, make_settings(org_id), other, None, at(2026, 11, 20))
    assert [b.name for b in result.branches] == ["第二支部"]
    assert kind_row(result, "general").held == 0


async def test_a_group_leader_sees_only_their_groups_meetings(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    leader = await org.member("组长", group="第二党小组", role=Role.GROUP_LEADER)
    await org.member("组员", group="第一党小组")
    result = await view(db, make_settings(org_id), leader, None, at(2026, 11, 20))
    (branch,) = result.branches
    assert branch.kinds == ()
    assert [(g.name, [r.kind for r in g.kinds]) for g in branch.groups] == [
        ("第二党小组", ["group"])
    ]


async def test_a_member_may_not_see_compliance(db: Database, org: OrgBuilder, org_id: int) -> None:
    member = await org.member("党员")
    with pytest.raises(Denied):
        await view(db, make_settings(org_id), member, None, at(2026, 11, 20))


# ---------------------------------------------------------------- the reminder


async def fire(db: Database, settings: MeetingSettings, now: datetime) -> None:
    async with db.write() as session:
        await compliance.fire_check(
            session, settings, Firing(1, settings.org_id, {}, now, now, None)
        )
        await session.commit()


async def queued(db: Database, member: Person) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Delivery.text)
            .where(Delivery.member_id == member.member_id)
            .order_by(Delivery.id)
        )
        return list(rows)


async def test_the_reminder_goes_once_per_slice(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id, compliance_remind_days=5)
    leader = await org.member("组长", role=Role.GROUP_LEADER, telegram_id=200)
    unbound = await org.member("未绑定书记", role=Role.SECRETARY)
    await add_meeting(db, org_id, secretary, "committee", at(2026, 11, 4))
    await fire(db, settings, at(2026, 11, 25, 9))  # six days left: too early
    assert await queued(db, secretary) == []

    await fire(db, settings, at(2026, 11, 26, 9))
    await fire(db, settings, at(2026, 11, 27, 9))
    await fire(db, settings, at(2026, 11, 27, 9))
    (message,) = await queued(db, secretary)
    # The group meeting is missing; the committee met; quarterly kinds are not due until Dec.
    assert "第一支部/第一党小组：党小组会（2026年11月，2026-11-30 截止）" in message
    assert "支部委员会" not in message and "党课" not in message
    (to_leader,) = await queued(db, leader)
    assert "党小组会" in to_leader
    assert await queued(db, unbound) == []
    async with db.read() as session:
        notices = (await session.scalars(select(ComplianceNotice))).all()
    assert [(n.unit_kind, n.kind, n.period_start) for n in notices] == [
        ("group", "group", date(2026, 11, 1))
    ]

    # The next month is a new slice: it is reminded again, together with the quarter's kinds.
    await fire(db, settings, at(2026, 12, 28, 9))
    messages = await queued(db, secretary)
    assert len(messages) == 2
    for kind in ("支部党员大会", "支部委员会", "党小组会", "党课"):
        assert kind in messages[1]


async def test_no_reminder_when_held_or_scheduled(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id, compliance_remind_days=5)
    await add_meeting(db, org_id, secretary, "committee", at(2026, 11, 4))
    # Planned before the month ends: the plan is enough, no nagging.
    await add_meeting(db, org_id, secretary, "group", at(2026, 11, 30, 19), status="scheduled")
    await fire(db, settings, at(2026, 11, 27, 9))
    assert await queued(db, secretary) == []
    async with db.read() as session:
        assert await session.scalar(select(func.count(ComplianceNotice.id))) == 0


async def test_a_cancelled_meeting_does_not_stop_the_reminder(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    settings = make_settings(org_id, compliance_remind_days=5)
    await add_meeting(db, org_id, secretary, "committee", at(2026, 11, 4))
    await add_meeting(db, org_id, secretary, "group", at(2026, 11, 28), status="cancelled")
    await fire(db, settings, at(2026, 11, 27, 9))
    (message,) = await queued(db, secretary)
    assert "党小组会" in message


async def test_zero_days_never_reminds(
    db: Database, org: OrgBuilder, org_id: int, secretary: Person
) -> None:
    await fire(db, make_settings(org_id, compliance_remind_days=0), at(2026, 11, 30, 9))
    assert await queued(db, secretary) == []


# ---------------------------------------------------------------- the daily job


async def active_jobs(db: Database, org_id: int) -> list[Job]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Job).where(
                Job.organisation_id == org_id,
                Job.kind == compliance.JOB_CHECK,
                Job.active.is_(True),
            )
        )
        return list(rows)


async def test_ensure_job_is_idempotent_and_follows_the_configured_time(
    db: Database, org_id: int
) -> None:
    config = Config()
    now = at(2026, 11, 25, 10)
    for _ in range(2):
        async with db.write() as session:
            await compliance.ensure_job(session, org_id, config, now=now)
    (job,) = await active_jobs(db, org_id)
    assert job.rule == "FREQ=DAILY"
    assert job.next_run_at == at(2026, 11, 26, 9)

    later = replace(config, meetings=replace(config.meetings, compliance_remind_time="17:30"))
    async with db.write() as session:
        await compliance.ensure_job(session, org_id, later, now=now)
    (moved,) = await active_jobs(db, org_id)
    assert moved.id == job.id
    assert moved.next_run_at == at(2026, 11, 25, 17, 30)

    off = replace(config, meetings=replace(config.meetings, compliance_remind_days=0))
    async with db.write() as session:
        await compliance.ensure_job(session, org_id, off, now=now + timedelta(days=1))
    assert await active_jobs(db, org_id) == []


async def test_the_statistics_count_each_period_meeting_its_own_requirement(
    db: Database, org_id: int, secretary: Person
) -> None:
    # Two committee meetings in October make up for neither November nor December.
    settings = make_settings(org_id)
    await add_meeting(db, org_id, secretary, "committee", at(2026, 10, 9))
    await add_meeting(db, org_id, secretary, "committee", at(2026, 10, 23))
    now = at(2027, 1, 5)
    async with db.read() as session:
        scope = await ledger.resolve_scope(session, org_id, secretary.actor(), None)
        period = ledger.parse_report_period("2026-H2", now.date())
        figures = await stats.compliance_in(
            session, settings, secretary.actor(), scope, period, now=now
        )
    quarter = await view(db, settings, secretary, "2026-Q4", now)
    assert kind_row(quarter, "committee").held == 2  # /compliance shows every meeting held
    committee = [o for o in figures.overdue if "支部委员会" in o]
    # July to September and November and December were missed, listed oldest first.
    assert [o.split()[-1] for o in committee] == [
        "2026年7月",
        "2026年8月",
        "2026年9月",
        "2026年11月",
        "2026年12月",
    ]
    # Held counts October once: the one required meeting, not both.
    assert figures.held == 1
