"""Tasks without Telegram: owners, reminders and the escalation in the organisation's zone,
postponement with a reason, one escalation per due date, the ledger and its scope."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.config import DeliveryConfig, FollowupConfig, TasksConfig
from bot.delivery import QuietHours
from bot.errors import Denied, DomainError, Invalid
from bot.scheduler import Firing
from bot.services import tasks
from bot.services.items import PushSettings
from bot.services.tasks import TaskSettings
from storage.db import Database
from storage.models import Delivery, Job, Member, Role, Task, TaskEvent
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
DUE = date(2026, 12, 10)


@pytest.fixture
def settings(org_id: int) -> TaskSettings:
    push = PushSettings(
        org_id, "zh", TZ, QuietHours.from_config(DeliveryConfig(), TZ), FollowupConfig()
    )
    return TaskSettings(push, TasksConfig())


async def people(org: OrgBuilder) -> tuple[Person, Person, Person, Person]:
    secretary = await org.member("书记", telegram_id=10, role=Role.SECRETARY)
    owner = await org.member("张三", telegram_id=1)
    other = await org.member("李四", telegram_id=2)
    leader = await org.member("组长", telegram_id=3, role=Role.GROUP_LEADER, group="第二党小组")
    return secretary, owner, other, leader


async def assign(
    db: Database, settings: TaskSettings, by: Person, ref: str, due: date = DUE
) -> int:
    async with db.write() as session:
        owner = await tasks.resolve_owner(session, settings, by.actor(), ref)
        done = await tasks.create_task(
            session, settings, by.actor(), "整理上半年台账", owner, due, now=NOW
        )
    return done.task_id


async def jobs_of(db: Database, task_id: int) -> list[Job]:
    async with db.read() as session:
        jobs = (await session.scalars(select(Job).order_by(Job.next_run_at))).all()
    return [j for j in jobs if json.loads(j.payload).get("task_id") == task_id]


def firing(job: Job, at: datetime | None = None) -> Firing:
    moment = at or job.next_run_at
    assert moment is not None
    return Firing(job.id, job.organisation_id, json.loads(job.payload), moment, moment, None)


async def texts_to(db: Database, who: Person) -> list[str]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Delivery.text)
                    .where(Delivery.member_id == who.member_id)
                    .order_by(Delivery.id)
                )
            ).all()
        )


async def run(db: Database, settings: TaskSettings, job: Job, at: datetime | None = None) -> None:
    handler = tasks.fire_reminder if job.kind == tasks.JOB_REMIND else tasks.fire_escalation
    async with db.write() as session:
        await handler(session, settings, firing(job, at))
        await session.commit()


async def test_a_task_reaches_its_owner_with_jobs_in_the_zone(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, _, _ = await people(org)
    task_id = await assign(db, settings, secretary, "张三")
    (assigned,) = await texts_to(db, owner)
    assert "新任务" in assigned and "2026-12-10" in assigned
    jobs = await jobs_of(db, task_id)
    assert [(j.kind, j.next_run_at and j.next_run_at.astimezone(TZ)) for j in jobs] == [
        (tasks.JOB_REMIND, datetime(2026, 12, 7, 9, 0, tzinfo=TZ)),
        (tasks.JOB_REMIND, datetime(2026, 12, 9, 9, 0, tzinfo=TZ)),
        (tasks.JOB_ESCALATE, datetime(2026, 12, 11, 9, 0, tzinfo=TZ)),
    ]
    await run(db, settings, jobs[0])
    assert "还有 3 天到期" in (await texts_to(db, owner))[-1]


async def test_a_group_task_goes_to_its_leaders_and_needs_one(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, other, leader = await people(org)
    task_id = await assign(db, settings, secretary, "#第二党小组")
    assert len(await texts_to(db, leader)) == 1 and not await texts_to(db, owner)
    with pytest.raises(DomainError) as unknown:
        await assign(db, settings, secretary, "#第三党小组")
    assert unknown.value.key == "unknown_audience"
    await org.member("组员", telegram_id=4, group="第三党小组")
    with pytest.raises(Invalid) as leaderless:
        await assign(db, settings, secretary, "#第三党小组")
    assert leaderless.value.key == "task.no_leader"
    # The leader may finish it; a member of another group may not.
    for who in (other, owner):
        async with db.write() as session:
            with pytest.raises(Denied):
                await tasks.complete(session, settings, who.actor(), task_id, now=NOW)
    async with db.write() as session:
        done = await tasks.complete(session, settings, leader.actor(), task_id, now=NOW)
    assert not done.already


async def test_only_the_owner_finishes_it_and_twice_is_once(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, other, _ = await people(org)
    task_id = await assign(db, settings, secretary, "张三")
    for who in (other, secretary):
        async with db.write() as session:
            with pytest.raises(Denied):
                await tasks.complete(session, settings, who.actor(), task_id, now=NOW)
    results = []
    for _ in range(2):
        async with db.write() as session:
            results.append(await tasks.complete(session, settings, owner.actor(), task_id, now=NOW))
    assert [r.already for r in results] == [False, True]
    assert any("已完成任务" in text for text in await texts_to(db, secretary))
    # A finished task is neither reminded nor escalated.
    for job in await jobs_of(db, task_id):
        await run(db, settings, job)
    assert len(await texts_to(db, owner)) == 1


async def test_postponing_needs_a_later_date_and_a_reason_and_moves_the_jobs(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, other, _ = await people(org)
    task_id = await assign(db, settings, secretary, "张三")
    old_jobs = await jobs_of(db, task_id)

    async def postpone(who: Person, day: date, reason: str) -> tasks.Postponed:
        async with db.write() as session:
            return await tasks.postpone(
                session, settings, who.actor(), task_id, day, reason, now=NOW
            )

    for day, reason, key in (
        (date(2026, 12, 20), " ", "task.no_reason"),
        (DUE, "等文件", "task.not_later"),
        (date(2026, 12, 9), "等文件", "task.not_later"),
    ):
        with pytest.raises(Invalid) as refused:
            await postpone(owner, day, reason)
        assert refused.value.key == key
    with pytest.raises(Denied):
        await postpone(other, date(2026, 12, 20), "替人延期")
    done = await postpone(owner, date(2026, 12, 20), "等待上级文件")
    assert (done.old_due, done.new_due) == (DUE, date(2026, 12, 20))
    assert "等待上级文件" in (await texts_to(db, secretary))[-1]
    async with db.read() as session:
        event = await session.scalar(select(TaskEvent).where(TaskEvent.kind == "postponed"))
    assert event is not None and (event.old_due, event.new_due) == (DUE, date(2026, 12, 20))
    assert event.reason == "等待上级文件"
    # The old date's jobs now do nothing: no reminder, no escalation.
    before = len(await texts_to(db, owner)), len(await texts_to(db, secretary))
    for job in old_jobs:
        await run(db, settings, job)
    assert (len(await texts_to(db, owner)), len(await texts_to(db, secretary))) == before


async def test_an_overdue_task_is_escalated_once(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, _, _ = await people(org)
    task_id = await assign(db, settings, secretary, "张三")
    escalate = next(j for j in await jobs_of(db, task_id) if j.kind == tasks.JOB_ESCALATE)
    await asyncio.gather(*[run(db, settings, escalate) for _ in range(3)])
    await run(db, settings, escalate)
    escalations = [t for t in await texts_to(db, secretary) if "逾期" in t]
    assert len(escalations) == 1 and "负责人：张三" in escalations[0]
    # Postponed after the escalation: the new date may be escalated once more.
    async with db.write() as session:
        await tasks.postpone(
            session,
            settings,
            owner.actor(),
            task_id,
            date(2026, 12, 20),
            "补充材料",
            now=datetime(2026, 12, 11, 10, 0, tzinfo=TZ),
        )
    again = [j for j in await jobs_of(db, task_id) if j.kind == tasks.JOB_ESCALATE][-1]
    await run(db, settings, again)
    await run(db, settings, again)
    assert len([t for t in await texts_to(db, secretary) if "逾期" in t]) == 2


async def test_the_ledger_tells_open_overdue_and_done_within_scope(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, other, _ = await people(org)
    late = await assign(db, settings, secretary, "张三", date(2026, 12, 1))
    later = await assign(db, settings, secretary, "李四")
    finished = await assign(db, settings, secretary, "李四")
    async with db.write() as session:
        await tasks.complete(session, settings, other.actor(), finished, now=NOW)
    async with db.read() as session:
        rows, counts = await tasks.ledger(
            session, settings, secretary.actor(), None, now=NOW + timedelta(days=1), done_limit=0
        )
    # The done one is counted, though none is listed.
    assert counts == {"open": 1, "overdue": 1, "done": 1, "cancelled": 0}
    async with db.read() as session:
        rows, _ = await tasks.ledger(
            session, settings, secretary.actor(), None, now=NOW + timedelta(days=1)
        )
    assert [(r.id, r.status, r.owner) for r in rows] == [
        (late, "overdue", "张三"),
        (later, "open", "李四"),
        (finished, "done", "李四"),
    ]
    outsider = await org.member("外书记", telegram_id=20, role=Role.SECRETARY, branch="第二支部")
    async with db.read() as session:
        assert (await tasks.ledger(session, settings, outsider.actor(), None, now=NOW))[0] == []
        with pytest.raises(Denied):
            await tasks.ledger(session, settings, outsider.actor(), "#第一支部", now=NOW)
        with pytest.raises(DomainError):
            await tasks.history(session, settings, outsider.actor(), late, now=NOW)
        row, events = await tasks.history(session, settings, owner.actor(), late, now=NOW)
    assert row.status == "open" and [e.kind for e in events] == ["created"]
    async with db.read() as session:
        mine = await tasks.my_open_tasks(session, settings, owner.actor(), now=NOW)
    assert [t.id for t in mine] == [late]


async def test_a_due_date_in_the_past_is_refused(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, _, _, _ = await people(org)
    with pytest.raises(Invalid) as refused:
        await assign(db, settings, secretary, "张三", date(2026, 11, 30))
    assert refused.value.key == "task.due_in_past"
    async with db.read() as session:
        assert (await session.scalars(select(Task))).all() == []
        assert await session.scalar(select(Member.id).where(Member.name == "张三"))


async def test_a_secretary_closes_or_withdraws_a_task_nobody_else_can(
    db: Database, org: OrgBuilder, settings: TaskSettings
) -> None:
    secretary, owner, other, _ = await people(org)
    first = await assign(db, settings, secretary, "张三")
    second = await assign(db, settings, secretary, "张三")
    # 张三 leaves: their tasks would stay open for ever.
    async with db.write() as session:
        member = await session.get(Member, owner.member_id)
        assert member is not None
        member.active = False
        await session.commit()

    async def close(who: Person, task_id: int, cancel: bool, reason: str) -> tasks.Done:
        async with db.write() as session:
            return await tasks.close_by_manager(
                session, settings, who.actor(), task_id, cancel=cancel, reason=reason, now=NOW
            )

    with pytest.raises(Denied):
        await close(other, first, False, "")
    with pytest.raises(Invalid) as no_reason:
        await close(secretary, second, True, " ")
    assert no_reason.value.key == "task.no_reason"
    assert not (await close(secretary, first, False, "")).already
    assert not (await close(secretary, second, True, "人员调离")).already
    assert (await close(secretary, second, True, "再撤一次")).already
    async with db.read() as session:
        _rows, counts = await tasks.ledger(session, settings, secretary.actor(), None, now=NOW)
        events = (await session.scalars(select(TaskEvent).where(TaskEvent.task_id == second))).all()
    assert counts == {"open": 0, "overdue": 0, "done": 1, "cancelled": 1}
    assert [(e.kind, e.reason) for e in events][-1] == ("cancelled", "人员调离")
    # The escalation for a withdrawn task does nothing.
    escalate = next(j for j in await jobs_of(db, second) if j.kind == tasks.JOB_ESCALATE)
    before = len(await texts_to(db, secretary))
    await run(db, settings, escalate)
    assert len(await texts_to(db, secretary)) == before
