"""Which function fires which kind of job: the scheduler's table of contents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import parse_hhmm
from bot.scheduler import Firing, JobHandler, SkipTo
from bot.services import items, reminders
from bot.services.items import PushSettings


def job_handlers(settings: PushSettings) -> dict[str, JobHandler]:
    async def publish_item(session: AsyncSession, firing: Firing) -> datetime | None:
        await items.publish_scheduled(session, settings, firing)
        return None

    async def ladder(session: AsyncSession, firing: Firing) -> datetime | None:
        await items.run_ladder_step(session, settings, firing)
        return None

    async def reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await reminders.fire_reminder(session, settings, firing)
        return None

    async def holiday_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        return await reminders.fire_holiday_reminder(session, settings, firing)

    return {
        "publish_item": publish_item,
        "ladder": ladder,
        reminders.JOB_REMINDER: reminder,
        reminders.JOB_HOLIDAY: holiday_reminder,
    }


# Publishing a post is never dropped for being late: it goes out on start, however late.
FIRE_LATE = frozenset({"publish_item"})


def skip_targets(settings: PushSettings) -> dict[str, SkipTo]:
    def next_holiday(payload: dict[str, Any], now: datetime) -> datetime | None:
        at = parse_hhmm(payload["time"])
        assert at is not None
        return reminders.next_holiday_run(settings, int(payload["days_before"]), at, now)

    return {reminders.JOB_HOLIDAY: next_holiday}
