"""What the dashboard shows, as plain data: the HTML pages render it and the JSON API returns
it, so the two cannot disagree. Every function goes through the same services (and so the same
scope checks) as the chat commands."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.auth import Actor
from bot.errors import Invalid, NotFound
from bot.services import (
    dues,
    items,
    ledger,
    meetings,
    members,
    money,
    periods,
    stats,
    summary,
    tasks,
    volunteer_checkin,
    volunteers,
    workbench,
)
from bot.services.stats import Rate
from bot.texts import plain, t
from handlers.common import Deps
from storage.models import Role

JSON = dict[str, Any]


def _local(deps: Deps, moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(deps.config.organisation.tz).strftime("%Y-%m-%d %H:%M")


# An admin named in the config who is on no roster is entered as 「管理员 <Telegram id>」
# (bot.services.organisation.promote_admins): the pages call them by their office instead of
# showing the number.
_UNNAMED_ADMIN = re.compile(r"^管理员 [0-9]+$")


def person(lang: str, name: str) -> str:
    """A member's name as the pages show it."""
    if _UNNAMED_ADMIN.match(name):
        return plain(t(lang, "dash.office_admin"))
    return name


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
    return _overview_of(s)


# The statistics name meeting kinds as the ledger does; the pages translate them.
_KIND_KEYS = {name: kind for kind, name in ledger.KIND_NAMES.items()}


def _overview_of(s: stats.Stats) -> JSON:
    return {
        "scope": s.scope.label,
        "period": s.period.key,
        "awareness": _rate(s.total("awareness")),
        "study": _rate(s.total("study")),
        "reminders": _rate(s.total("reminders")),
        "attendance": [
            {"kind": k, "kind_key": _KIND_KEYS.get(k, k), **_rate(r)} for k, r in s.by_kind.items()
        ],
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
        status, confirmed = await workbench.item_confirmations(session, actor, item_id)
    s = status.summary
    return {
        "id": s.id,
        "kind": s.kind,
        "title": s.title,
        "confirmed": s.confirmed,
        "total": s.total,
        "published_at": _local(deps, s.published_at),
        "deadline": _local(deps, s.deadline),
        "pending": status.pending,
        "unbound": status.unbound,
        "unreachable": status.unreachable,
        "confirmations": [{"name": c.name, "at": _local(deps, c.at)} for c in confirmed],
        "reflections": [{"name": n, "text": text} for n, text in status.reflections],
    }


def _meeting_row(
    deps: Deps, m: meetings.MeetingSummary, outcomes: workbench.Outcomes | None = None
) -> JSON:
    row: JSON = {
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
    if outcomes is not None:
        # After the close: present (on time), late, on leave, absent, and make-ups done.
        row["outcomes"] = {
            "attended": outcomes.attended,
            "late": outcomes.late,
            "leave": outcomes.leave,
            "absent": outcomes.absent,
            "made_up": outcomes.made_up,
        }
    return row


async def meeting_list(deps: Deps, actor: Actor) -> JSON:
    async with deps.db.read() as session:
        upcoming, recent = await meetings.list_meetings(
            session, deps.meetings, actor, now=deps.now()
        )
        closed = [m.id for m in recent if m.status == "closed"]
        outcomes = await workbench.meeting_outcomes(session, closed)
    return {
        "upcoming": [_meeting_row(deps, m) for m in upcoming],
        "recent": [
            _meeting_row(
                deps,
                m,
                outcomes.get(m.id, workbench.Outcomes()) if m.status == "closed" else None,
            )
            for m in recent
        ],
    }


async def meeting_detail(deps: Deps, actor: Actor, meeting_id: int) -> JSON:
    async with deps.db.read() as session:
        view = await meetings.attendance(session, actor, meeting_id)
    m = view.meeting
    counts = {"invited": len(view.rows), "made_up": 0}
    for r in view.rows:
        counts[r.status] = counts.get(r.status, 0) + 1
        counts["made_up"] += r.made_up_at is not None
    return {
        "id": m.id,
        "kind": m.kind,
        "title": m.title,
        "starts_at": _local(deps, m.starts_at),
        "place": m.place,
        "status": m.status,
        "counts": counts,
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
    roles = {text: role.value for role, text in ledger.ROLE_NAMES.items()}
    return {
        "scope": scope.label,
        "page": page,
        "limit": limit,
        "total": total,
        "pages": max(1, -(-total // limit)),
        "members": [
            {**dict(zip(keys, row[:9], strict=True)), "role_key": roles.get(row[4], "member")}
            for row in members_table.rows
        ],
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


# ---------------------------------------------------------------- the workbench's pages


def _text(lang: str, key: str, **params: Any) -> str:
    return plain(t(lang, key, **params))


def period_label(lang: str, key: str) -> str:
    """2026-Q4 as a reader says it: 2026年第4季度, Q4 2026."""
    span = periods.parse_span(key)
    if span is None:
        return key
    if span.unit == periods.MONTH:
        return _text(lang, "dash.period_month", year=span.year, month=span.number)
    if span.unit == periods.QUARTER:
        return _text(lang, "dash.period_quarter", year=span.year, quarter=span.number)
    if span.unit == periods.HALF:
        return _text(lang, f"dash.period_half{span.number}", year=span.year)
    return _text(lang, "dash.period_year", year=span.year)


def _months_back(month: date, count: int) -> list[date]:
    """`month` (a first day) and the months before it, `count` in all, latest first."""
    found = [month]
    while len(found) < count:
        month = found[-1]
        found.append(date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1))
    return found


def _option(lang: str, key: str) -> JSON:
    return {"key": key, "label": period_label(lang, key)}


def period_choices(lang: str, today: date, selected: str) -> list[JSON]:
    """The periods offered in the overview's list, grouped: this year's and last year's
    quarters, half-years and years that have begun, and the last twelve months; the period shown
    is always among them."""
    years = (today.year, today.year - 1)
    spans = {
        unit: [
            periods.Span(unit, year, number)
            for year in years
            for number in range(count, 0, -1)
            if periods.Span(unit, year, number).start <= today
        ]
        for unit, count in ((periods.QUARTER, 4), (periods.HALF, 2), (periods.YEAR, 1))
    }
    months = [periods.span_of(periods.MONTH, m) for m in _months_back(today.replace(day=1), 12)]
    groups = [
        ("dash.periods_quarters", spans[periods.QUARTER]),
        ("dash.periods_halves", spans[periods.HALF]),
        ("dash.periods_years", spans[periods.YEAR]),
        ("dash.periods_months", months),
    ]
    found: list[JSON] = [
        {"label": _text(lang, label), "options": [_option(lang, s.key) for s in listed]}
        for label, listed in groups
    ]
    if selected not in {s.key for _, listed in groups for s in listed}:
        found.insert(
            0, {"label": _text(lang, "dash.periods_shown"), "options": [_option(lang, selected)]}
        )
    return found


def summary_periods(lang: str, period: ledger.ReportPeriod) -> JSON:
    """The periods the draft report may be downloaded for: the period itself when the report
    supports it (a half-year or a year), else the half-year and the year it lies in."""
    try:
        summary.check_period(period)
    except Invalid:
        half = periods.span_of(periods.HALF, period.start).key
        return {
            "supported": False,
            "periods": [_option(lang, half), _option(lang, str(period.start.year))],
        }
    return {"supported": True, "periods": [_option(lang, period.key)]}


def _percent(rate: Rate) -> int | None:
    return int(rate.percent) if rate.percent is not None else None


def _money(cents: int) -> str:
    return money.amount_text(cents)


def _chart(labels: list[str], datasets: list[tuple[str, list[Rate]]]) -> JSON:
    """What dashboard.js draws: percentages, with "done/total" for the tooltips."""
    return {
        "labels": labels,
        "datasets": [
            {
                "label": label,
                "data": [_percent(r) for r in rates],
                "counts": [f"{r.done}/{r.total}" for r in rates],
            }
            for label, rates in datasets
        ],
    }


async def workbench_overview(
    deps: Deps, actor: Actor, period_text: str | None, branch: str | None
) -> JSON:
    """The overview's cards, the units' table and charts, the lists to choose the period and the
    branch from, and the downloads, for the period and the caller's scope."""
    lang = actor.language
    now = deps.now()
    today = now.astimezone(deps.config.organisation.tz).date()
    async with deps.db.read() as session:
        s = await stats.build(session, deps.meetings, actor, period_text, branch, now=now)
        months = workbench.months_of(s.period, today)
        dues_rows = await workbench.dues_months(session, s.scope, months)
        _, task_counts = await tasks.ledger(
            session, deps.tasks, actor, branch, now=now, done_limit=0
        )
        branches = await workbench.branch_names(session, deps.org_id, actor)
    data = _overview_of(s)
    if lang != "zh":
        # The statistics name the kinds of meeting in Chinese, as the ledger does.
        data["compliance"]["overdue"] = [
            _translated_kinds(lang, text) for text in data["compliance"]["overdue"]
        ]
    attendance = s.total("attendance")
    kinds = list(s.by_kind.items())
    data.update(
        {
            "period_label": period_label(lang, s.period.key),
            "periods": period_choices(lang, today, s.period.key),
            "branch": s.scope.label if actor.role is Role.ADMIN else "",
            "branches": branches,
            "all_branches": actor.role is Role.ADMIN,
            "attendance_total": _rate(attendance),
            "dues": {
                "paid": sum(m.paid for m in dues_rows),
                "due": sum(m.due for m in dues_rows),
                "reported": sum(m.reported for m in dues_rows),
                "paid_amount": _money(sum(m.confirmed_cents + m.reported_cents for m in dues_rows)),
                "due_amount": _money(
                    sum(m.confirmed_cents + m.reported_cents + m.missing_cents for m in dues_rows)
                ),
                "month": dues_rows[-1].month.strftime("%Y-%m") if dues_rows else None,
            },
            "tasks": task_counts,
            "summary": summary_periods(lang, s.period),
            "charts": {
                "units": _chart(
                    [u.name for u in s.units],
                    [
                        (_text(lang, "dash.awareness"), [u.awareness for u in s.units]),
                        (_text(lang, "dash.attendance"), [u.attendance for u in s.units]),
                    ],
                ),
                "kinds": _chart(
                    [_text(lang, f"kind.{_KIND_KEYS.get(k, k)}") for k, _ in kinds],
                    [(_text(lang, "dash.attendance"), [r for _, r in kinds])],
                ),
            },
        }
    )
    return data


def _translated_kinds(lang: str, text: str) -> str:
    """「第一支部 支部委员会 10/2026」 with the kind in the viewer's language."""
    for kind, name in ledger.KIND_NAMES.items():
        at = text.rfind(f" {name} ")
        if at >= 0:
            return f"{text[:at]} {_text(lang, f'kind.{kind}')} {text[at + len(name) + 2 :]}"
    return text


FIGURES = ("awareness", "attendance", "compliance", "volunteering")


async def figure(
    deps: Deps, actor: Actor, name: str, period_text: str | None, branch: str | None
) -> JSON:
    """The names behind one of the overview's figures, for the same period and scope."""
    if name not in FIGURES:
        raise NotFound("dashboard.not_found")
    lang = actor.language
    now = deps.now()
    tz = deps.config.organisation.tz
    today = now.astimezone(tz).date()
    period = ledger.parse_report_period(period_text, today)
    data: JSON = {
        "figure": name,
        "period": period.key,
        "period_label": period_label(lang, period.key),
        "periods": period_choices(lang, today, period.key),
        "all_branches": actor.role is Role.ADMIN,
    }
    async with deps.db.read() as session:
        scope = await ledger.resolve_scope(session, deps.org_id, actor, branch)
        data["scope"] = scope.label
        data["branch"] = scope.label if actor.role is Role.ADMIN else ""
        data["branches"] = await workbench.branch_names(session, deps.org_id, actor)
        since, until = period.bounds(tz)
        if name == "awareness":
            found = await workbench.awareness(session, deps.org_id, scope, since, until)
            data["items"] = [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "title": i.title,
                    "published_at": _local(deps, i.published_at),
                    "deadline": _local(deps, i.deadline),
                    "confirmed": i.confirmed.shown,
                    "confirmed_count": i.confirmed.count,
                    "confirmed_more": i.confirmed.more,
                    "pending": i.pending.shown,
                    "pending_count": i.pending.count,
                    "pending_more": i.pending.more,
                    "total": i.confirmed.count + i.pending.count,
                }
                for i in found
            ]
        elif name == "attendance":
            held = await workbench.attendance(session, deps.org_id, scope, since, until)
            data["meetings"] = [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "title": m.title,
                    "starts_at": _local(deps, m.starts_at),
                    "invited": m.invited,
                    "attended": m.attended,
                    "late": m.late,
                    "leave": [{"name": n, "reason": r} for n, r in m.leave],
                    "absent": m.absent,
                    "made_up": m.made_up,
                }
                for m in held
            ]
        elif name == "compliance":
            rows = await workbench.compliance_rows(
                session, deps.meetings, actor, scope, period, now=now
            )
            data["rows"] = [
                {
                    "unit": r.unit,
                    "kind": r.kind,
                    "required": r.required,
                    "held": r.held,
                    "overdue": r.overdue,
                    "state": r.state,
                }
                for r in rows
            ]
            data["required"] = sum(r.required for r in rows)
            data["held"] = sum(r.held for r in rows)
        else:
            served = await workbench.volunteer_hours(session, deps.org_id, scope, since, until)
            names = await ledger.Names.of(session, scope)
            data["volunteers"] = [
                {
                    "name": v.name,
                    "unit": "/".join(x for x in names(v.branch_id, v.group_id) if x),
                    "activities": v.activities,
                    "hours": _number(v.hours),
                }
                for v in served
            ]
            data["hours"] = _number(sum((v.hours for v in served), Decimal(0)))
    return data


def _month_choices(lang: str, this_month: date, selected: date) -> list[JSON]:
    found = _months_back(this_month, 12)
    if selected not in found:
        found.insert(0, selected)
    return [_option(lang, m.strftime("%Y-%m")) for m in found]


async def dues_page(deps: Deps, actor: Actor, month_text: str | None, branch: str | None) -> JSON:
    """One month's dues (as /dues shows it: confirmed, reported and waiting for the secretary's
    confirmation, missing), the months before it as a chart, and the lists to choose from."""
    lang = actor.language
    tz = deps.config.organisation.tz
    this_month = deps.now().astimezone(tz).date().replace(day=1)
    if month_text:
        span = periods.parse_span(month_text, (periods.MONTH,))
        if span is None:
            raise Invalid("dashboard.bad_month", value=month_text)
        month = span.start
    else:
        month = this_month
    async with deps.db.read() as session:
        view = await dues.month_view(session, deps.dues, actor, month, branch)
        scope = await ledger.resolve_scope(session, deps.org_id, actor, branch)
        trend_months = _months_back(min(month, this_month), 6)[::-1]
        trend = await workbench.dues_months(session, scope, trend_months)
        branches = await workbench.branch_names(session, deps.org_id, actor)
        branch_names = await workbench.branch_labels(session, list(view.reported_by_branch()))

    def entries(rows: list[tuple[str, int]]) -> list[JSON]:
        return [{"name": person(lang, n), "amount": _money(c)} for n, c in rows]

    return {
        "month": month.strftime("%Y-%m"),
        "month_key": dues.month_key(month),
        "month_label": period_label(lang, month.strftime("%Y-%m")),
        "months": _month_choices(lang, this_month, month),
        "scope": scope.label,
        "branch": scope.label if actor.role is Role.ADMIN else "",
        "branches": branches,
        "all_branches": actor.role is Role.ADMIN,
        "groups": [
            {
                "name": g.name,
                "confirmed": entries(g.confirmed),
                "reported": [
                    {"id": pid, "name": person(lang, n), "amount": _money(c)}
                    for pid, n, c in g.reported
                ],
                "outstanding": entries(g.outstanding),
            }
            for g in view.groups
        ],
        "totals": {
            part: {"count": view.count(part), "amount": _money(view.total(part))}
            for part in ("confirmed", "reported", "outstanding")
        },
        "no_amount": view.no_amount,
        "confirm_all": [
            {
                "branch_id": b,
                "branch": branch_names.get(b, ""),
                "up_to": max(ids),
                "count": len(ids),
            }
            for b, ids in view.reported_by_branch().items()
        ],
        "chart": {
            "labels": [period_label(lang, m.month.strftime("%Y-%m")) for m in trend],
            "datasets": [
                {"label": _text(lang, "dash.dues_confirmed"), "data": [m.confirmed for m in trend]},
                {"label": _text(lang, "dash.dues_reported"), "data": [m.reported for m in trend]},
                {"label": _text(lang, "dash.dues_missing"), "data": [m.missing for m in trend]},
            ],
        },
    }


async def tasks_page(deps: Deps, actor: Actor, branch: str | None) -> JSON:
    """对账销号: overdue and open tasks, the latest done or withdrawn, and each one's
    postponements with their reasons."""
    lang = actor.language
    async with deps.db.read() as session:
        rows, counts = await tasks.ledger(
            session, deps.tasks, actor, branch, now=deps.now(), done_limit=50
        )
        changes = await workbench.task_changes(session, [r.id for r in rows])
        scope = await ledger.resolve_scope(session, deps.org_id, actor, branch)
        branches = await workbench.branch_names(session, deps.org_id, actor)

    def shown(r: tasks.TaskRow) -> JSON:
        history = changes.get(r.id, [])
        return {
            "id": r.id,
            "title": r.title,
            "owner": person(lang, r.owner),
            "due": r.due.isoformat(),
            "status": r.status,
            "done_at": _local(deps, r.done_at),
            "changes": [
                {
                    "kind": c.kind,
                    "at": _local(deps, c.at),
                    "by": person(lang, c.by) if c.by else "",
                    "old_due": c.old_due.isoformat() if c.old_due else "",
                    "new_due": c.new_due.isoformat() if c.new_due else "",
                    "reason": c.reason or "",
                }
                for c in history
            ],
            "postponed": sum(1 for c in history if c.kind == "postponed"),
        }

    listed = [shown(r) for r in rows]
    return {
        "scope": scope.label,
        "branch": scope.label if actor.role is Role.ADMIN else "",
        "branches": branches,
        "all_branches": actor.role is Role.ADMIN,
        "counts": counts,
        "postponed_count": sum(1 for r in listed if r["postponed"]),
        "overdue": [r for r in listed if r["status"] == "overdue"],
        "open": [r for r in listed if r["status"] == "open"],
        "closed": [r for r in listed if r["status"] in ("done", "cancelled")],
        "postponed": [r for r in listed if r["postponed"]],
    }
