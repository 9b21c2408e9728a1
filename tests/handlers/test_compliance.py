"""/compliance through the handlers, and the daily compliance check through the scheduler."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_application, prepare_database
from bot.sandbox import BotApiSandbox, SandboxRequest
from bot.services import compliance
from handlers.common import MESSAGE_LIMIT, Deps
from storage.db import Database
from storage.models import Invitation, Job, Meeting, Role
from tests.conftest import Person
from tests.handlers.conftest import Harness, make_config

TZ = ZoneInfo("Asia/Shanghai")
SECRETARY, LEADER, MEMBER, ADMIN, OTHER = 1, 2, 3, 9000, 4


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


async def add_meeting(
    harness: Harness, owner: Person, kind: str, starts_at: datetime, status: str = "closed"
) -> None:
    assert owner.branch_id is not None
    group = kind == "group"
    async with harness.deps.db.write() as session:
        meeting = Meeting(
            organisation_id=harness.deps.org_id,
            branch_id=owner.branch_id,
            group_id=owner.group_id if group else None,
            kind=kind,
            audience_kind="group" if group else "branch",
            audience_id=owner.group_id if group else owner.branch_id,
            title=kind,
            starts_at=starts_at,
            status=status,
            secret=secrets.token_hex(8),
        )
        session.add(meeting)
        await session.flush()
        if status == "closed":
            # Held means someone checked in.
            session.add(
                Invitation(
                    meeting_id=meeting.id, member_id=owner.member_id, checked_in_at=starts_at
                )
            )
        await session.commit()


async def report_text(harness: Harness, user_id: int, command: str) -> str:
    replies = await harness.send(user_id, command)
    assert replies
    return "\n".join(r.text or "" for r in replies)


async def test_a_secretary_sees_required_held_and_overdue(harness: Harness) -> None:
    secretary = await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await add_meeting(harness, secretary, "general", at(2026, 3, 31, 23, 30))
    await add_meeting(harness, secretary, "committee", at(2026, 1, 8))
    await add_meeting(harness, secretary, "committee", at(2026, 2, 8))
    await add_meeting(harness, secretary, "committee", at(2026, 3, 8), status="cancelled")
    await add_meeting(harness, secretary, "group", at(2026, 4, 1, 0, 30))

    text = await report_text(harness, SECRETARY, "/compliance 2026-Q1")
    assert "三会一课完成情况</b>：2026年第1季度（2026-01-01 至 2026-03-31）" in text
    assert "<b>第一支部</b>" in text
    assert "✅ 支部党员大会：应开 1，已开 1" in text
    assert "❗ 支部委员会：应开 3，已开 2，<b>逾期未开：2026年3月</b>" in text
    assert "❗ 党课：应开 1，已开 0，<b>逾期未开：2026年第1季度</b>" in text
    assert "👥 第一党小组" in text
    assert "❗ 党小组会：应开 3，已开 0" in text

    april = await report_text(harness, SECRETARY, "/compliance 2026-04")
    assert "✅ 党小组会：应开 1，已开 1" in april


async def test_a_bad_period_gets_the_usage(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    reply = await harness.say(SECRETARY, "/compliance 下周")
    assert "无法识别的期间「下周」" in reply and "/compliance 2026-Q1" in reply


async def test_members_may_not_use_it(harness: Harness) -> None:
    await harness.org.member("党员", telegram_id=MEMBER)
    assert "没有使用此命令的权限" in await harness.say(MEMBER, "/compliance")


async def test_a_group_leader_sees_only_their_group(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("组长", group="第二党小组", role=Role.GROUP_LEADER, telegram_id=LEADER)
    text = await report_text(harness, LEADER, "/compliance month")
    assert "第二党小组" in text and "党小组会" in text
    assert "第一党小组" not in text and "支部委员会" not in text and "党课" not in text


async def test_another_branchs_secretary_does_not_see_ours(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member(
        "二支部书记", branch="第二支部", role=Role.SECRETARY, telegram_id=OTHER
    )
    text = await report_text(harness, OTHER, "/compliance")
    assert "第二支部" in text and "第一支部" not in text


async def test_a_long_report_is_split_between_lines(harness: Harness) -> None:
    for n in range(40):
        await harness.org.member(f"书记{n}", branch=f"第{n:02d}支部", role=Role.SECRETARY)
    replies = await harness.send(ADMIN, "/compliance 2026-Q1")
    assert len(replies) > 1
    assert all(len(r.text or "") <= MESSAGE_LIMIT for r in replies)
    text = "\n".join(r.text or "" for r in replies)
    assert text.index("第00支部") < text.index("第39支部")
    assert text.count("🏢") == 40


@pytest.fixture
async def reminding(db: Database) -> AsyncIterator[Harness]:
    """A harness whose config asks for the reminder five days before a period ends."""
    sandbox = BotApiSandbox()
    config = make_config(db.url)
    config = replace(
        config,
        meetings=replace(config.meetings, compliance_remind_days=5, compliance_remind_time="09:00"),
    )
    # Started on 26 November: the daily check is planned for 09:00 on the 27th.
    org_id = await prepare_database(config, db, at(2026, 11, 26, 12))
    deps = Deps(config, db, org_id)
    app = build_application(deps, request=SandboxRequest(sandbox))
    async with app:
        yield Harness(app, sandbox, deps)


async def test_the_daily_check_reminds_the_secretary_once(reminding: Harness) -> None:
    harness = reminding
    secretary = await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await add_meeting(harness, secretary, "committee", at(2026, 11, 3))
    first = at(2026, 11, 27, 9)
    async with harness.deps.db.read() as session:
        (job,) = (await session.scalars(select(Job).where(Job.kind == compliance.JOB_CHECK))).all()
    assert job.next_run_at == first
    assert await harness.fire_jobs(first - timedelta(minutes=1)) == 0
    assert await harness.fire_jobs(first) == 1
    await harness.flush(first)
    (message,) = harness.sandbox.messages_to(SECRETARY)
    assert "三会一课提醒" in (message.text or "")
    assert "第一支部/第一党小组：党小组会（2026年11月，2026-11-30 截止）" in (message.text or "")

    second = at(2026, 11, 28, 9)
    assert await harness.fire_jobs(second) == 1
    await harness.flush(second)
    assert len(harness.sandbox.messages_to(SECRETARY)) == 1
