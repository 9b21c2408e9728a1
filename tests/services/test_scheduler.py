"""The database scheduler: each occurrence fires once, across restarts and competing processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.scheduler import Firing, Scheduler, add_job
from storage import migrate
from storage.db import Database
from storage.models import AuditEntry, Job

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ).astimezone(UTC)  # a Tuesday


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def recording_handlers(fired: list[tuple[int, datetime]]):
    async def mark(session: AsyncSession, firing: Firing) -> datetime | None:
        fired.append((firing.job_id, firing.scheduled_for))
        # Effects are rows in the same transaction; an audit row stands in for them here.
        session.add(
            AuditEntry(
                source="test", action="fired", entity="job", entity_id=firing.job_id, details=""
            )
        )
        return None

    return {"mark": mark}


async def add(db: Database, org_id: int, first: datetime, rule: str | None = None) -> int:
    async with db.write() as session:
        job = add_job(
            session,
            organisation_id=org_id,
            kind="mark",
            payload={},
            first=first,
            anchor=first.astimezone(TZ),
            rule=rule,
        )
        await session.commit()
        return job.id


def scheduler(db: Database, fired, clock: Clock, grace_hours: int = 24) -> Scheduler:
    return Scheduler(
        db, recording_handlers(fired), TZ, grace=timedelta(hours=grace_hours), clock=clock
    )


async def fired_rows(db: Database) -> int:
    async with db.read() as session:
        return len(
            (await session.scalars(select(AuditEntry).where(AuditEntry.action == "fired"))).all()
        )


async def test_one_off_fires_once_and_retires(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    clock = Clock(T0 - timedelta(minutes=1))
    job_id = await add(db, org_id, T0)
    sched = scheduler(db, fired, clock)
    assert await sched.run_due() == 0
    clock.now = T0 + timedelta(seconds=1)
    assert await sched.run_due() == 1
    assert await sched.run_due() == 0
    assert fired == [(job_id, T0)]
    async with db.read() as session:
        job = await session.get(Job, job_id)
    assert job is not None and not job.active and job.next_run_at is None


async def test_restart_between_scheduling_and_firing(db: Database, org_id: int) -> None:
    job_id = await add(db, org_id, T0)
    await db.dispose()  # the bot stops before the job is due
    restarted = db.reopen()
    fired: list[tuple[int, datetime]] = []
    try:
        assert await scheduler(restarted, fired, Clock(T0 + timedelta(minutes=5))).run_due() == 1
    finally:
        await restarted.dispose()
    assert fired == [(job_id, T0)]


async def test_recurring_fires_once_per_occurrence(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    clock = Clock(T0)
    await add(db, org_id, T0, rule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0")
    sched = scheduler(db, fired, clock)
    for day in range(3):
        clock.now = T0 + timedelta(days=day, seconds=30)
        assert await sched.run_due() == 1
        assert await sched.run_due() == 0
    assert [when for _, when in fired] == [T0 + timedelta(days=d) for d in range(3)]


async def test_missed_occurrences_fire_once_on_start(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    job_id = await add(db, org_id, T0, rule="FREQ=HOURLY;INTERVAL=2")
    # Down for five hours: three occurrences were missed, within the grace period.
    clock = Clock(T0 + timedelta(hours=5))
    assert await scheduler(db, fired, clock).run_due() == 1
    async with db.read() as session:
        job = await session.get(Job, job_id)
    assert job is not None and job.next_run_at == T0 + timedelta(hours=6)


async def test_missed_beyond_grace_is_skipped(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    job_id = await add(db, org_id, T0, rule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0")
    clock = Clock(T0 + timedelta(days=3, hours=2))
    assert await scheduler(db, fired, clock, grace_hours=1).run_due() == 1
    assert fired == []
    async with db.read() as session:
        job = await session.get(Job, job_id)
    assert job is not None and job.next_run_at == T0 + timedelta(days=4)


async def test_two_schedulers_fire_each_occurrence_once(db: Database, org_id: int) -> None:
    for minute in range(10):
        await add(db, org_id, T0 + timedelta(minutes=minute))
    other = db.reopen()  # a second process: its own engine on the same database
    fired_a: list[tuple[int, datetime]] = []
    fired_b: list[tuple[int, datetime]] = []
    clock = Clock(T0 + timedelta(minutes=30))
    try:
        counts = await asyncio.gather(
            scheduler(db, fired_a, clock).run_due(), scheduler(other, fired_b, clock).run_due()
        )
    finally:
        await other.dispose()
    assert sum(counts) == 10
    assert sorted(j for j, _ in fired_a + fired_b) == sorted(set(j for j, _ in fired_a + fired_b))
    assert await fired_rows(db) == 10


async def test_failing_job_is_postponed_not_repeated(db: Database, org_id: int) -> None:
    calls = 0

    async def broken(session: AsyncSession, firing: Firing) -> datetime | None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    job_id = await add(db, org_id, T0)
    clock = Clock(T0 + timedelta(seconds=1))
    sched = Scheduler(db, {"mark": broken}, TZ, grace=timedelta(hours=1), clock=clock)
    await sched.run_due()
    await sched.run_due()
    assert calls == 1
    async with db.read() as session:
        job = await session.get(Job, job_id)
    assert job is not None and job.active and job.next_run_at == clock.now + timedelta(minutes=5)


async def test_migrations_still_match(db: Database) -> None:
    assert await migrate.schema_drift(db) == []


async def test_missed_rule_less_job_skips_to_its_next_run(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    job_id = await add(db, org_id, T0)
    later = T0 + timedelta(days=30)
    sched = Scheduler(
        db,
        recording_handlers(fired),
        TZ,
        grace=timedelta(hours=1),
        clock=Clock(T0 + timedelta(days=2)),
        skip_to={"mark": lambda payload, now: later},
    )
    assert await sched.run_due() == 1
    assert fired == []
    async with db.read() as session:
        job = await session.get(Job, job_id)
    assert job is not None and job.active and job.next_run_at == later


async def test_kinds_that_fire_late_are_not_skipped(db: Database, org_id: int) -> None:
    fired: list[tuple[int, datetime]] = []
    job_id = await add(db, org_id, T0)
    sched = Scheduler(
        db,
        recording_handlers(fired),
        TZ,
        grace=timedelta(hours=1),
        clock=Clock(T0 + timedelta(days=2)),
        fire_late=frozenset({"mark"}),
    )
    assert await sched.run_due() == 1
    assert fired == [(job_id, T0)]
