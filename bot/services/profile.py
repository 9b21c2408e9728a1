"""/me: the member's own card, their record and this period's figures, read in two statements.

Each feature keeps the query for its figures (items.MY_CONFIRMED, meetings.MY_ATTENDANCE,
volunteer_hours.MY_MINUTES, dues.MY_DUES, tasks.MY_TASK_COUNTS), each one row; the card joins
them side by side into one prebuilt statement, so a /me costs two round trips, not twenty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Select, select, true

from bot.auth import Actor
from bot.services import dues, items, meetings, members, tasks, volunteer_hours
from bot.services.members import MemberView
from storage.fast import Prepared, Reader


def _side_by_side(*parts: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """One row of every part's columns: each part is an aggregate (or one-member) query of
    exactly one row, joined to the others on nothing."""
    subqueries = [part.subquery(f"part{n}") for n, part in enumerate(parts)]
    joined: FromClause = subqueries[0]
    for subquery in subqueries[1:]:
        joined = joined.join(subquery, true())
    return select(*(column for subquery in subqueries for column in subquery.c)).select_from(joined)


# Binds: member_id, month, quarter, year, since (the quarter's start), now, dues_month, and
# tasks.mine_params's.
_FIGURES = Prepared(
    _side_by_side(
        items.MY_CONFIRMED,
        meetings.MY_ATTENDANCE,
        volunteer_hours.MY_MINUTES,
        dues.MY_DUES,
        tasks.MY_TASK_COUNTS,
    )
)


@dataclass(frozen=True)
class MyCard:
    record: MemberView
    counts: items.PeriodCounts
    # The member's meetings held this quarter.
    attendance: meetings.MyAttendance
    # Served minutes this month, quarter and year.
    minutes: tuple[int, int, int]
    dues: dues.MyDues
    open_tasks: int
    overdue_tasks: int


async def my_card(
    reader: Reader, settings: items.PushSettings, actor: Actor, now: datetime
) -> MyCard:
    """What /me shows, in two prepared statements (the Database reads them outside any
    session)."""
    record = await members.my_record(reader, actor)
    periods = items.period_params(settings.tz, now)
    month = dues.month_of(settings.tz, now)
    row = await reader.first(
        _FIGURES,
        {
            **periods,
            **tasks.mine_params(settings, actor, now),
            "since": periods["quarter"],
            "now": now,
            "dues_month": month,
        },
    )
    assert row is not None  # aggregates: always one row
    return MyCard(
        record,
        items.counts_of(row),
        meetings.attendance_of(row),
        volunteer_hours.minutes_of(row),
        dues.dues_of(row, month),
        row.open_tasks,
        row.overdue_tasks,
    )
