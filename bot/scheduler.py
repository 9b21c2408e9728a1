"""The scheduler: jobs are rows, and each occurrence fires in the same transaction that moves the
job on, so a restart, an upgrade or a second process changes nothing about what fires and when.

Firing a job only writes rows (items, receipts, outbox deliveries); the sender does the sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import Heartbeat, Metrics
from bot.services.recurrence import next_occurrence
from storage.db import Database
from storage.models import Job, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RETRY_FAILED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Firing:
    """What a job handler gets: the job's id and payload, and the occurrence being fired."""

    job_id: int
    organisation_id: int
    payload: dict[str, Any]
    scheduled_for: datetime
    now: datetime
    created_by_member_id: int | None


# A handler adds rows to the session and may return the next run time itself (holiday jobs do);
# returning None leaves the rule (or, for one-offs, retirement) to decide.
JobHandler = Callable[[AsyncSession, Firing], Awaitable[datetime | None]]
# For a repeating kind without a rule: its next run after `now`, given the payload.
SkipTo = Callable[[dict[str, Any], datetime], datetime | None]


def add_job(
    session: AsyncSession,
    *,
    organisation_id: int,
    kind: str,
    payload: dict[str, Any],
    first: datetime,
    anchor: datetime | None = None,
    rule: str | None = None,
    created_by: int | None = None,
) -> Job:
    job = Job(
        organisation_id=organisation_id,
        kind=kind,
        payload=json.dumps(payload, ensure_ascii=False),
        rule=rule,
        anchor=anchor or first,
        next_run_at=first,
        active=True,
        created_by_member_id=created_by,
    )
    session.add(job)
    return job


async def ensure_standing_job(
    session: AsyncSession,
    *,
    organisation_id: int,
    kind: str,
    rule: str | None,
    at: time,
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """Keep exactly one active job of `kind` on `rule` at local time `at` (None: no job). Run at
    every start: it leaves a correct job alone, moves one whose rule or time changed, and drops
    duplicates. The caller commits."""
    jobs = list(
        (
            await session.scalars(
                select(Job)
                .where(
                    Job.organisation_id == organisation_id,
                    Job.kind == kind,
                    Job.active.is_(True),
                )
                .order_by(Job.id)
            )
        ).all()
    )
    keep = jobs.pop(0) if jobs and rule is not None else None
    for job in jobs:
        job.active = False
        job.next_run_at = None
    if rule is None:
        return
    anchor = datetime.combine(now.astimezone(tz).date(), at, tzinfo=tz)
    first = next_occurrence(rule, anchor, now, tz)
    assert first is not None  # a rule without an end never runs out
    if keep is None:
        add_job(
            session,
            organisation_id=organisation_id,
            kind=kind,
            payload={},
            first=first,
            anchor=anchor,
            rule=rule,
        )
    elif keep.rule != rule or keep.anchor.astimezone(tz).time() != at:
        keep.rule = rule
        keep.anchor = anchor
        keep.next_run_at = first


class Scheduler:
    def __init__(
        self,
        db: Database,
        handlers: dict[str, JobHandler],
        tz: ZoneInfo,
        *,
        grace: timedelta,
        clock: Clock = utcnow,
        tick_seconds: float = 5.0,
        fire_late: frozenset[str] = frozenset(),
        skip_to: dict[str, SkipTo] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.handlers = handlers
        # Kinds that must happen even late (publishing a post), and how rule-less repeating kinds
        # (holiday reminders) find their next run when a missed one is skipped.
        self.fire_late = fire_late
        self.skip_to = skip_to or {}
        self.tz = tz
        self.grace = grace
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.metrics = metrics
        # Beats after every fired job and every round: /healthz reads it.
        self.heartbeat = Heartbeat(tick_seconds)

    async def _fire_next(self) -> bool:
        """Fire one due job, if any, in one transaction. Returns False when nothing was due."""
        now = self.clock()
        failed: int | None = None
        lag: float | None = None
        async with self.db.write() as session:
            job = await session.scalar(
                select(Job)
                .where(Job.active.is_(True), Job.next_run_at <= now)
                .order_by(Job.next_run_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                await session.rollback()
                return False
            scheduled = job.next_run_at
            assert scheduled is not None
            handler = self.handlers.get(job.kind)
            next_at: datetime | None = None
            if handler is None:
                log.error("job %s has unknown kind %r; retiring it", job.id, job.kind)
                job.active = False
            elif now - scheduled > self.grace and job.kind not in self.fire_late:
                # Missed by more than the grace period (the bot was down): skip, don't fire late.
                log.warning("job %s missed its %s run; skipping to the next", job.id, scheduled)
                skip_to = self.skip_to.get(job.kind)
                if skip_to is not None:
                    next_at = skip_to(json.loads(job.payload), now)
            else:
                firing = Firing(
                    job.id,
                    job.organisation_id,
                    json.loads(job.payload),
                    scheduled,
                    now,
                    job.created_by_member_id,
                )
                try:
                    next_at = await handler(session, firing)
                except Exception:
                    log.exception(
                        "job %s (%s) failed; retrying in %s", job.id, job.kind, RETRY_FAILED_AFTER
                    )
                    failed = job.id  # the rollback expires the ORM object
                    await session.rollback()
                if failed is None:
                    job.last_run_at = now
                    job.runs += 1
                    lag = (now - scheduled).total_seconds()
            if failed is None and job.active:
                if next_at is None and job.rule:
                    # From now, not from the missed time: a backlog fires once, not once per miss.
                    next_at = next_occurrence(
                        job.rule, job.anchor.astimezone(self.tz), now, self.tz
                    )
                job.next_run_at = next_at
                job.active = next_at is not None
            if failed is None:
                await session.commit()
                if lag is not None and self.metrics is not None:
                    self.metrics.observe_job_lag(lag)
                return True
        # After the failed transaction has ended: a second write session inside it would wait
        # for the first (SQLite has one writer).
        assert failed is not None
        await self._postpone(failed, now + RETRY_FAILED_AFTER)
        return True

    async def _postpone(self, job_id: int, until: datetime) -> None:
        # A failing job must neither block the ones behind it nor fire in a tight loop.
        async with self.db.write() as session:
            job = await session.get(Job, job_id)
            if job is not None:
                job.next_run_at = until
                await session.commit()

    async def run_due(self) -> int:
        fired = 0
        while await self._fire_next():
            fired += 1
            # A long backlog of due jobs is progress, not a stall.
            self.heartbeat.beat()
        return fired

    async def run(self, stop: asyncio.Event, on_fired: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            try:
                if await self.run_due() and on_fired is not None:
                    on_fired()
                self.heartbeat.beat()
            except Exception:
                log.exception("scheduler round failed; retrying")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_seconds)
