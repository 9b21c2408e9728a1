"""The meetings service without Telegram: closing once, the check-in window and code grace,
jobs planned, and the config section."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.config import (
    ConfigError,
    DeliveryConfig,
    FollowupConfig,
    MeetingsConfig,
    VolunteersConfig,
    parse_config,
)
from bot.delivery import QuietHours
from bot.errors import Denied, Invalid
from bot.scheduler import Firing
from bot.services import checkin, meetings
from bot.services.audience import Audience
from bot.services.items import PushSettings
from bot.services.meetings import MeetingDraft, MeetingSettings
from bot.services.volunteers import VolunteerSettings
from storage.db import Database
from storage.models import Invitation, Item, Job, Meeting, Role
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
START = datetime(2026, 12, 1, 14, 30, tzinfo=TZ)


def settings(org_id: int, **cfg: object) -> MeetingSettings:
    push = PushSettings(
        org_id, "zh", TZ, QuietHours.from_config(DeliveryConfig(), TZ), FollowupConfig()
    )
    return MeetingSettings(push, MeetingsConfig(**cfg))  # type: ignore[arg-type]


async def scheduled(
    db: Database, org: OrgBuilder, org_id: int
) -> tuple[int, Person, Person, Person]:
    secretary = await org.member("书记", telegram_id=10, role=Role.SECRETARY)
    member = await org.member("张三", telegram_id=1)
    other = await org.member("李四", telegram_id=2)
    assert secretary.branch_id is not None
    async with db.write() as session:
        done = await meetings.schedule(
            session,
            settings(org_id),
            secretary.actor(),
            MeetingDraft("general", "学习", START, Audience("branch", secretary.branch_id, "")),
            now=NOW,
        )
    return done.meeting_id, secretary, member, other


async def test_only_future_reminders_are_planned(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    meeting_id, _, _, _ = await scheduled(db, org, org_id)
    async with db.read() as session:
        jobs = (await session.execute(select(Job.kind, Job.next_run_at))).all()
    # The meeting is 5.5 hours away: the day-before reminder would be in the past.
    assert sorted((kind, at and at.astimezone(TZ).strftime("%H:%M")) for kind, at in jobs) == [
        ("meeting_close", "15:00"),
        ("meeting_reminder", "13:30"),
    ]
    assert meeting_id == 1


async def test_concurrent_closes_make_one_make_up(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    meeting_id, secretary, _, _ = await scheduled(db, org, org_id)
    s = settings(org_id)
    closes = START + timedelta(minutes=30)
    async with db.write() as session:
        await meetings.mark_present(session, s, secretary.actor(), meeting_id, ["书记"], now=START)

    async def close() -> bool:
        async with db.write() as session:
            done = await meetings.close_meeting(session, s, meeting_id, now=closes)
            await session.commit()
            return done

    results = await asyncio.gather(close(), close(), close())
    assert sorted(results) == [False, False, True]
    async with db.read() as session:
        assert await session.scalar(select(func.count(Item.id)).where(Item.kind == "makeup")) == 1
        outcomes = (await session.scalars(select(Invitation.outcome))).all()
    assert sorted(o or "" for o in outcomes) == ["absent", "absent", "attended"]


async def by_code(
    session: AsyncSession, s: MeetingSettings, actor: Actor, code: str, *, now: datetime
) -> meetings.CheckedIn:
    """/checkin with a meeting's code, through the one entry point every code goes to."""
    volunteer_settings = VolunteerSettings(s.push, VolunteersConfig(), s.cfg.code_grace_seconds)
    result = await checkin.checkin_with_code(session, s, volunteer_settings, actor, code, now=now)
    assert isinstance(result, meetings.CheckedIn)
    return result


async def test_window_edges_and_code_grace(db: Database, org: OrgBuilder, org_id: int) -> None:
    meeting_id, _, member, other = await scheduled(db, org, org_id)
    s = settings(org_id, code_grace_seconds=20)
    async with db.read() as session:
        meeting = await session.get(Meeting, meeting_id)
    assert meeting is not None
    opens = START - timedelta(minutes=30)

    async def attempt(code: str, at: datetime) -> str:
        async with db.write() as session:
            try:
                result = await by_code(session, s, member.actor(), code, now=at)
            except (Invalid, Denied) as exc:
                return exc.key
            return "late" if result.late else "ok"

    before = opens - timedelta(seconds=1)
    assert await attempt(meetings.code_for(meeting, int(before.timestamp()) // 60), before) == (
        "checkin.outside_window"
    )
    # The previous minute's code: accepted at +19 s, refused at +20 s.
    counter = int(opens.timestamp()) // 60
    stale = meetings.code_for(meeting, counter - 1)
    assert await attempt(stale, opens + timedelta(seconds=20)) == "checkin.wrong_code"
    assert await attempt(stale, opens + timedelta(seconds=19)) == "ok"
    closes = START + timedelta(minutes=30)
    last = closes - timedelta(seconds=1)
    code = meetings.code_for(meeting, int(last.timestamp()) // 60)
    async with db.write() as session:
        result = await by_code(session, s, other.actor(), code, now=last)
    assert result.late and not result.already
    async with db.write() as session:
        with pytest.raises(Invalid) as refused:
            await by_code(session, s, other.actor(), code, now=closes)
    assert refused.value.key in ("checkin.nothing_open", "checkin.outside_window")


def test_codes_differ_by_meeting_and_minute() -> None:
    a = Meeting(id=1, secret="a" * 32)
    b = Meeting(id=2, secret="b" * 32)
    codes = {meetings.code_for(m, c) for m in (a, b) for c in range(100, 110)}
    assert len(codes) == 20
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    param = meetings.qr_param_for(a, 100)
    assert param.startswith("ci_1_") and len(param) <= 64 and meetings.is_checkin_param(param)


async def test_changes_refused_once_started(db: Database, org: OrgBuilder, org_id: int) -> None:
    meeting_id, secretary, member, _ = await scheduled(db, org, org_id)
    s = settings(org_id)
    later = START + timedelta(minutes=1)
    async with db.write() as session:
        with pytest.raises(Invalid):
            await meetings.edit(session, s, secretary.actor(), meeting_id, now=later, title="新")
        # Cancelling stays possible until check-in closes (a meeting called off at the door).
        with pytest.raises(Invalid):
            await meetings.cancel(
                session, s, secretary.actor(), meeting_id, "", now=START + timedelta(minutes=30)
            )
        with pytest.raises(Invalid):
            await meetings.answer(session, member.actor(), meeting_id, "attend", now=later)
        with pytest.raises(Denied):
            await meetings.edit(session, s, member.actor(), meeting_id, now=NOW, title="新")


def test_config_section_is_validated() -> None:
    cfg = parse_config(
        {"meetings": {"group_every": "quarter", "remind_before_hours": [48]}}, env={}
    )
    assert cfg.meetings.group_every == "quarter" and cfg.meetings.remind_before_hours == (48,)
    for bad, key in (
        ({"general_every": "weekly"}, "meetings.general_every"),
        ({"lecture_times": 0}, "meetings.lecture_times"),
        ({"remind_before_hours": [0]}, "meetings.remind_before_hours"),
        ({"code_grace_seconds": 60}, "meetings.code_grace_seconds"),
        ({"checkin_after_minutes": 0}, "meetings.checkin_after_minutes"),
        ({"compliance_remind_time": "25:00"}, "meetings.compliance_remind_time"),
        ({"committee_audience": "org"}, "meetings.committee_audience"),
    ):
        with pytest.raises(ConfigError) as error:
            parse_config({"meetings": bad}, env={})
        assert error.value.key == key


async def test_two_close_firings_at_once_make_one_make_up(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    meeting_id, secretary, _, _ = await scheduled(db, org, org_id)
    s = settings(org_id)
    async with db.write() as session:
        await meetings.mark_present(session, s, secretary.actor(), meeting_id, ["书记"], now=START)
    closes = START + timedelta(minutes=30)
    firing = Firing(1, org_id, {"meeting_id": meeting_id, "revision": 0}, closes, closes, None)

    async def fire() -> None:
        # As the scheduler does: the handler runs, then the transaction commits.
        async with db.write() as session:
            await meetings.fire_close(session, s, firing)
            await session.commit()

    await asyncio.gather(fire(), fire())
    async with db.read() as session:
        assert await session.scalar(select(func.count(Item.id)).where(Item.kind == "makeup")) == 1
