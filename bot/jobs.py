"""Which function fires which kind of job: the scheduler's table of contents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import parse_hhmm
from bot.scheduler import Firing, JobHandler, SkipTo
from bot.services import (
    compliance,
    dues,
    holiday_notices,
    items,
    meetings,
    reminders,
    tasks,
    timepolls,
    volunteer_hours,
    volunteers,
)
from bot.services.dues import DuesSettings
from bot.services.items import PushSettings
from bot.services.meetings import MeetingSettings
from bot.services.tasks import TaskSettings
from bot.services.volunteers import VolunteerSettings


def job_handlers(
    meeting_settings: MeetingSettings,
    volunteer_settings: VolunteerSettings,
    dues_settings: DuesSettings,
    task_settings: TaskSettings,
) -> dict[str, JobHandler]:
    settings = meeting_settings.push

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

    async def meeting_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await meetings.fire_reminder(session, meeting_settings, firing)
        return None

    async def meeting_close(session: AsyncSession, firing: Firing) -> datetime | None:
        await meetings.fire_close(session, meeting_settings, firing)
        return None

    async def poll_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await timepolls.fire_reminder(session, meeting_settings, firing)
        return None

    async def compliance_check(session: AsyncSession, firing: Firing) -> datetime | None:
        await compliance.fire_check(session, meeting_settings, firing)
        return None

    async def activity_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await volunteers.fire_reminder(session, volunteer_settings, firing)
        return None

    async def activity_offer(session: AsyncSession, firing: Firing) -> datetime | None:
        await volunteers.fire_offer_expiry(session, volunteer_settings, firing)
        return None

    async def activity_close(session: AsyncSession, firing: Firing) -> datetime | None:
        await volunteer_hours.fire_close(session, volunteer_settings, firing)
        return None

    async def holiday_notice_alert(session: AsyncSession, firing: Firing) -> datetime | None:
        await holiday_notices.fire_alert(session, settings, firing)
        return None

    async def dues_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await dues.fire_reminder(session, dues_settings, firing)
        return None

    async def task_reminder(session: AsyncSession, firing: Firing) -> datetime | None:
        await tasks.fire_reminder(session, task_settings, firing)
        return None

    async def task_escalation(session: AsyncSession, firing: Firing) -> datetime | None:
        await tasks.fire_escalation(session, task_settings, firing)
        return None

    return {
        dues.JOB_REMIND: dues_reminder,
        tasks.JOB_REMIND: task_reminder,
        tasks.JOB_ESCALATE: task_escalation,
        volunteers.JOB_REMINDER: activity_reminder,
        volunteers.JOB_OFFER: activity_offer,
        volunteers.JOB_CLOSE: activity_close,
        meetings.JOB_REMINDER: meeting_reminder,
        timepolls.JOB_REMINDER: poll_reminder,
        compliance.JOB_CHECK: compliance_check,
        holiday_notices.JOB_ALERT: holiday_notice_alert,
        meetings.JOB_CLOSE: meeting_close,
        "publish_item": publish_item,
        "ladder": ladder,
        reminders.JOB_REMINDER: reminder,
        reminders.JOB_HOLIDAY: holiday_reminder,
    }


# Never dropped for being late: a post goes out on start, however late, a meeting's attendance
# is made final (and its make-ups sent) and an activity's hours, even if the bot was down at the
# close, an offer that ran out passes to the next on the waitlist, and an overdue task reaches
# its creator.
FIRE_LATE = frozenset(
    {
        "publish_item",
        meetings.JOB_CLOSE,
        volunteers.JOB_CLOSE,
        volunteers.JOB_OFFER,
        tasks.JOB_ESCALATE,
    }
)


def skip_targets(settings: PushSettings) -> dict[str, SkipTo]:
    def next_holiday(payload: dict[str, Any], now: datetime) -> datetime | None:
        # The reminder's next daily slot: a holiday reminder only ever fires at its time of day,
        # so no real run comes sooner, and firing there finds the next one with the
        # organisation's calendar (imported notices included), which this hook cannot read.
        at = parse_hhmm(payload["time"])
        assert at is not None
        local = now.astimezone(settings.tz)
        slot = datetime.combine(local.date(), at, tzinfo=settings.tz)
        return slot if slot > local else slot + timedelta(days=1)

    return {reminders.JOB_HOLIDAY: next_holiday}
