"""What the dashboard shows, as plain data: the HTML pages render it and the JSON API returns
it, so the two cannot disagree. Every function goes through the same services (and so the same
scope checks) as the chat commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.auth import Actor
from bot.errors import Invalid
from bot.services import (
    items,
    ledger,
    meetings,
    members,
    stats,
    volunteer_checkin,
    volunteers,
)
from bot.services.stats import Rate
from handlers.common import Deps

JSON = dict[str, Any]


def _local(deps: Deps, moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(deps.config.organisation.tz).strftime("%Y-%m-%d %H:%M")


def _rate(rate: Rate) -> JSON:
    return {
        "done": rate.done,
        "total": rate.total,
        "percent": int(rate.percent) if rate.percent is not None else None,
    }


def _number(value: Decimal) -> float:
    # JSON has no decimals; two places are exact enough to show hours.
    return float(value.quantize(Decimal("0.01")))


async def me(deps: Deps, actor: Actor) -> JSON:
    async with deps.db.read() as session:
        view = await members.my_record(session, actor)
        now = deps.now()
        counts = await items.my_counts(session, actor, deps.config.organisation.tz, now)
    return {
        "id": view.id,
        "name": view.name,
        "role": view.role.value,
        "branch": view.branch,
        "group": view.group,
        "study": {"month": counts.study[0], "quarter": counts.study[1], "year": counts.study[2]},
        "reminders": {
            "month": counts.reminders[0],
            "quarter": counts.reminders[1],
            "year": counts.reminders[2],
        },
    }


async def overview(deps: Deps, actor: Actor, period: str | None, branch: str | None) -> JSON:
    async with deps.db.read() as session:
        s = await stats.build(session, deps.meetings, actor, period, branch, now=deps.now())
    return {
        "scope": s.scope.label,
        "period": s.period.key,
        "awareness": _rate(s.total("awareness")),
        "study": _rate(s.total("study")),
        "reminders": _rate(s.total("reminders")),
        "attendance": [{"kind": k, **_rate(r)} for k, r in s.by_kind.items()],
        "compliance": {
            "required": s.compliance.required,
            "held": s.compliance.held,
            "overdue": s.compliance.overdue,
        },
        "volunteering": {
            "activities": s.activities,
            "volunteers": s.volunteers,
            "hours": _number(s.hours),
        },
        "units": [
            {
                "name": u.name,
                "awareness": _rate(u.awareness),
                "attendance": _rate(u.attendance),
                "hours": _number(u.hours),
            }
            for u in s.units
        ],
    }


async def item_list(deps: Deps, actor: Actor) -> list[JSON]:
    async with deps.db.read() as session:
        summaries = await items.list_items(session, deps.org_id, actor)
    return [
        {
            "id": s.id,
            "kind": s.kind,
            "title": s.title,
            "confirmed": s.confirmed,
            "total": s.total,
            "published_at": _local(deps, s.published_at),
            "deadline": _local(deps, s.deadline),
        }
        for s in summaries
    ]


async def item_detail(deps: Deps, actor: Actor, item_id: int) -> JSON:
    async with deps.db.read() as session:
        status = await items.item_status(session, actor, item_id)
    s = status.summary
    return {
        "id": s.id,
        "kind": s.kind,
        "title": s.title,
        "confirmed": s.confirmed,
        "total": s.total,
        "pending": status.pending,
        "unbound": status.unbound,
        "unreachable": status.unreachable,
        "reflections": [{"name": n, "text": t} for n, t in status.reflections],
    }


def _meeting_row(deps: Deps, m: meetings.MeetingSummary) -> JSON:
    return {
        "id": m.id,
        "kind": m.kind,
        "title": m.title,
        "starts_at": _local(deps, m.starts_at),
        "status": m.status,
        "invited": m.invited,
        "attending": m.attending,
        "leave": m.leave,
        "checked_in": m.checked_in,
    }


async def meeting_list(deps: Deps, actor: Actor) -> JSON:
    async with deps.db.read() as session:
        upcoming, recent = await meetings.list_meetings(
            session, deps.meetings, actor, now=deps.now()
        )
    return {
        "upcoming": [_meeting_row(deps, m) for m in upcoming],
        "recent": [_meeting_row(deps, m) for m in recent],
    }


async def meeting_detail(deps: Deps, actor: Actor, meeting_id: int) -> JSON:
    async with deps.db.read() as session:
        view = await meetings.attendance(session, actor, meeting_id)
    m = view.meeting
    return {
        "id": m.id,
        "kind": m.kind,
        "title": m.title,
        "starts_at": _local(deps, m.starts_at),
        "place": m.place,
        "status": m.status,
        "attendance": [
            {
                "name": r.name,
                "status": r.status,
                "reason": r.reason,
                "checked_in_at": _local(deps, r.checked_in_at),
                "made_up_at": _local(deps, r.made_up_at),
            }
            for r in view.rows
        ],
    }


def _activity_row(deps: Deps, a: volunteers.ActivitySummary) -> JSON:
    return {
        "id": a.id,
        "title": a.title,
        "starts_at": _local(deps, a.starts_at),
        "ends_at": _local(deps, a.ends_at),
        "status": a.status,
        "capacity": a.capacity,
        "taken": a.taken,
        "waiting": a.waiting,
    }


async def activity_list(deps: Deps, actor: Actor) -> JSON:
    async with deps.db.read() as session:
        upcoming, recent = await volunteers.list_activities(
            session, deps.volunteers, actor, now=deps.now()
        )
    return {
        "open": [_activity_row(deps, a) for a in upcoming],
        "recent": [_activity_row(deps, a) for a in recent],
    }


async def activity_detail(deps: Deps, actor: Actor, activity_id: int) -> JSON:
    async with deps.db.read() as session:
        view = await volunteers.roster(session, actor, activity_id)
    a = view.activity

    def person(row: volunteers.RosterRow) -> JSON:
        return {
            "name": row.name,
            "status": row.status,
            "checked_in_at": _local(deps, row.checked_in_at),
            "checked_out_at": _local(deps, row.checked_out_at),
            "hours": _number(Decimal(row.minutes) / 60) if row.minutes is not None else None,
            "outcome": row.outcome,
        }

    return {
        "id": a.id,
        "title": a.title,
        "starts_at": _local(deps, a.starts_at),
        "ends_at": _local(deps, a.ends_at),
        "place": a.place,
        "capacity": a.capacity,
        "status": a.status,
        "confirmed": [person(r) for r in view.confirmed],
        "offered": [person(r) for r in view.offered],
        "waiting": [person(r) for r in view.waiting],
        "cancelled": view.cancelled,
    }


# The member list comes a page at a time: `limit` rows (at most MAX_PAGE) of page `page`.
DEFAULT_PAGE = 100
MAX_PAGE = 200
MAX_PAGE_NUMBER = 1_000_000


async def member_list(
    deps: Deps, actor: Actor, branch: str | None, *, page: int = 1, limit: int = DEFAULT_PAGE
) -> JSON:
    if not 1 <= page <= MAX_PAGE_NUMBER or not 1 <= limit <= MAX_PAGE:
        raise Invalid("dashboard.bad_page", max=MAX_PAGE)
    async with deps.db.read() as session:
        scope = await ledger.resolve_scope(session, deps.org_id, actor, branch)
        total = await ledger.member_count(session, scope)
        members_table = await ledger.member_rows(
            session, scope, offset=(page - 1) * limit, limit=limit
        )
    keys = ("id", "name", "branch", "group", "role", "phone", "committee", "bound", "active")
    return {
        "scope": scope.label,
        "page": page,
        "limit": limit,
        "total": total,
        "pages": max(1, -(-total // limit)),
        "members": [dict(zip(keys, row[:9], strict=True)) for row in members_table.rows],
    }


async def checkin_code(deps: Deps, actor: Actor, kind: str, event_id: int, direction: str) -> JSON:
    """This minute's code for a meeting or an activity's check-in or check-out screen."""
    async with deps.db.read() as session:
        if kind == "meeting":
            code = await meetings.current_code(
                session, deps.meetings, actor, event_id, now=deps.now()
            )
        else:
            code = await volunteer_checkin.current_code(
                session, deps.volunteers, actor, event_id, direction, now=deps.now()
            )
    return {
        "title": code.title,
        "code": code.code,
        "start_param": code.qr_param,
        "valid_until": _local(deps, code.valid_until),
        "closes": _local(deps, code.closes),
    }
