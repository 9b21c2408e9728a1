"""The holiday calendar in force for an organisation: the installed calendar with the notices its
admins imported (one query), and which years still lack the official arrangement."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.holidays import BUILT_IN, Arrangement, Calendar, Holiday, Source
from storage.models import HolidayNotice, HolidayNoticeDay

ACTIVE = "active"
# The State Council publishes the next year's notice in November (2025-11-04 for 2026).
NOTICE_MONTH = 11


async def load_calendar(session: AsyncSession, org_id: int) -> Calendar:
    """The installed calendar with the organisation's notices in force (for a year with several,
    the one confirmed last)."""
    rows = (
        await session.execute(
            select(
                HolidayNotice.id,
                HolidayNotice.year,
                HolidayNoticeDay.day,
                HolidayNoticeDay.working,
                HolidayNoticeDay.holiday,
            )
            .join(HolidayNoticeDay, HolidayNoticeDay.notice_id == HolidayNotice.id)
            .where(HolidayNotice.organisation_id == org_id, HolidayNotice.status == ACTIVE)
            .order_by(HolidayNotice.confirmed_at, HolidayNotice.id)
        )
    ).all()
    if not rows:
        return BUILT_IN
    latest: dict[int, int] = {}
    days_off: dict[int, dict[date, Holiday]] = defaultdict(dict)
    workdays: dict[int, dict[date, Holiday]] = defaultdict(dict)
    for notice_id, year, _day, _working, _holiday in rows:
        latest[year] = notice_id
    for notice_id, year, day, working, holiday in rows:
        if latest[year] != notice_id:
            continue
        (workdays if working else days_off)[notice_id][day] = Holiday(holiday)
    return Calendar(
        Arrangement(year, days_off[notice_id], workdays[notice_id])
        for year, notice_id in latest.items()
    )


def missing_years(calendar: Calendar, today: date) -> list[int]:
    """The years whose official arrangement is needed and not known: this year, and from
    November (when the State Council publishes it) next year."""
    years = [today.year, today.year + 1] if today.month >= NOTICE_MONTH else [today.year]
    return [year for year in years if calendar.source(year) is Source.ESTIMATE]
