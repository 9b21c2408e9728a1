"""三会一课 compliance: how many meetings each branch and group owes per kind, how many it held.

Every rule (bot.services.meeting_kinds) asks for `times` meetings per calendar month or quarter of
the organisation's zone. A view period (a month or a quarter) is cut into the rule's own periods
("slices"): a monthly rule has three slices in a quarter view, a quarterly rule in a month view
has the one quarter that contains it. Only closed meetings someone checked in to count as held;
scheduled ones are shown as planned, cancelled ones not at all. A branch or group owes nothing
before the period it came into being in (its first member or meeting on record), nor before
`meetings.count_from`: those slices are "before", with nothing required.

A daily job reminds secretaries (and, for a group's meetings, its leader) near a slice's end when
a meeting is neither held nor planned; a ComplianceNotice row makes that once per slice.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch, can_see_group
from bot.config import Config, parse_hhmm
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid
from bot.scheduler import Firing, ensure_standing_job
from bot.services import periods
from bot.services.meeting_kinds import KindRule, kind_rules
from bot.services.meetings import MeetingSettings, was_held
from bot.texts import Raw, t
from storage.models import Branch, ComplianceNotice, Group, Meeting, Member, Role

JOB_CHECK = "compliance_check"
DAILY = "FREQ=DAILY"
MONTH = "month"
QUARTER = "quarter"
# Slice states, in the order a row's mark prefers them.
OVERDUE = "overdue"
OPEN = "open"
FUTURE = "future"
OK = "ok"
# Before the unit came into being (or before `meetings.count_from`): nothing owed.
BEFORE = "before"

_CURRENT_MONTH = frozenset({"month", "本月", "月"})
_CURRENT_QUARTER = frozenset({"quarter", "本季度", "本季", "季度"})


# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A calendar month or quarter in the organisation's zone; `end` is the next one's first day."""

    every: str  # month | quarter
    start: date
    end: date

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def quarter(self) -> int:
        return (self.start.month - 1) // 3 + 1

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The local midnights that open and close the period, as aware instants."""
        return _bounds(self, tz)

    def label(self, lang: str) -> Raw:
        return _label(self, lang)


# A year's report for a large organisation asks each of these thousands of times.
@functools.lru_cache(maxsize=4096)
def _bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(period.start, time(0), tzinfo=tz),
        datetime.combine(period.end, time(0), tzinfo=tz),
    )


@functools.lru_cache(maxsize=4096)
def _label(period: Period, lang: str) -> Raw:
    if period.every == MONTH:
        return t(lang, "compliance.month_label", year=period.start.year, month=period.start.month)
    return t(lang, "compliance.quarter_label", year=period.start.year, quarter=period.quarter)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_of(day: date) -> Period:
    start = day.replace(day=1)
    return Period(MONTH, start, _next_month(start))


def quarter_of(day: date) -> Period:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return Period(QUARTER, start, _next_month(_next_month(_next_month(start))))


def period_of(every: str, day: date) -> Period:
    return month_of(day) if every == MONTH else quarter_of(day)


def slices(every: str, view: Period) -> list[Period]:
    """The rule's own periods that overlap the view, in order."""
    found: list[Period] = []
    day = view.start
    while day < view.end:
        found.append(period_of(every, day))
        day = found[-1].end
    return found


def parse_period(text: str | None, today: date) -> Period:
    """`month`/`本月`, `quarter`/`本季度`, `YYYY-MM` or `YYYY-Qn`; nothing means this quarter. A
    year outside 2000–2100 is refused with `date.year_range`."""
    word = (text or "").strip().lower()
    if not word or word in _CURRENT_QUARTER:
        return quarter_of(today)
    if word in _CURRENT_MONTH:
        return month_of(today)
    # The one period grammar (and year range) of chat, the command line and the API.
    span = periods.parse_span((text or "").strip(), (periods.MONTH, periods.QUARTER))
    if span is None:
        raise Invalid("compliance.usage", value=(text or "").strip())
    return period_of(span.unit, span.start)


# ---------------------------------------------------------------- counting


@dataclass(frozen=True)
class Slice:
    period: Period
    required: int
    held: int
    planned: int
    state: str  # ok | overdue | open | future | before


@dataclass(frozen=True)
class KindRow:
    kind: str
    every: str
    slices: tuple[Slice, ...]
    # The first day meetings are owed, when some of the view lies before it.
    since: date | None = None

    @property
    def required(self) -> int:
        return sum(s.required for s in self.slices)

    @property
    def held(self) -> int:
        return sum(s.held for s in self.slices)

    @property
    def planned(self) -> int:
        return sum(s.planned for s in self.slices)

    @property
    def overdue(self) -> list[Period]:
        return [s.period for s in self.slices if s.state == OVERDUE]

    @property
    def state(self) -> str:
        states = {s.state for s in self.slices}
        for state in (OVERDUE, OPEN, FUTURE):
            if state in states:
                return state
        return BEFORE if states == {BEFORE} else OK


@dataclass(frozen=True)
class GroupReport:
    group_id: int
    name: str
    kinds: tuple[KindRow, ...]


@dataclass(frozen=True)
class BranchReport:
    branch_id: int
    name: str
    # Empty for a group leader, who sees only their group's row.
    kinds: tuple[KindRow, ...]
    groups: tuple[GroupReport, ...]


@dataclass(frozen=True)
class ComplianceReport:
    period: Period
    branches: tuple[BranchReport, ...]
    rules: int


# (unit kind, unit id, meeting kind) -> [(status, starts_at)]
_Tally = dict[tuple[str, int, str], list[tuple[str, datetime]]]


def _active_rules(settings: MeetingSettings) -> list[KindRule]:
    return [r for r in kind_rules(settings.cfg) if r.every in (MONTH, QUARTER) and r.times > 0]


def _unit_kind(rule: KindRule) -> str:
    # Meetings for a group audience carry their group; every other kind is owed by the branch.
    return "group" if rule.audience == "group" else "branch"


async def _tally(
    session: AsyncSession,
    settings: MeetingSettings,
    rules: list[KindRule],
    start: datetime,
    end: datetime,
) -> _Tally:
    by_kind = {r.kind: r for r in rules}
    rows = await session.execute(
        select(
            Meeting.branch_id, Meeting.group_id, Meeting.kind, Meeting.status, Meeting.starts_at
        ).where(
            Meeting.organisation_id == settings.org_id,
            Meeting.kind.in_(list(by_kind)),
            or_(Meeting.status == "scheduled", was_held()),
            Meeting.starts_at >= start,
            Meeting.starts_at < end,
        )
    )
    tally: _Tally = defaultdict(list)
    for branch_id, group_id, kind, status, starts_at in rows:
        if _unit_kind(by_kind[kind]) == "group":
            if group_id is None:
                continue
            tally["group", group_id, kind].append((status, starts_at))
        else:
            tally["branch", branch_id, kind].append((status, starts_at))
    return tally


def _count(meetings: list[tuple[str, datetime]], period: Period, tz: ZoneInfo) -> tuple[int, int]:
    lo, hi = period.bounds(tz)
    inside = [status for status, at in meetings if lo <= at < hi]
    return inside.count("closed"), inside.count("scheduled")


def _slice(
    meetings: list[tuple[str, datetime]],
    period: Period,
    required: int,
    tz: ZoneInfo,
    now: datetime,
    since: date | None,
) -> Slice:
    held, planned = _count(meetings, period, tz)
    lo, hi = period.bounds(tz)
    if since is None or period.end <= since:
        # The unit owes only from the period it came into being in.
        return Slice(period, 0, held, planned, BEFORE)
    if held >= required:
        state = OK
    elif now >= hi:
        state = OVERDUE
    elif now >= lo:
        state = OPEN
    else:
        state = FUTURE
    return Slice(period, required, held, planned, state)


async def _units(session: AsyncSession, org_id: int) -> list[tuple[Branch, list[Group]]]:
    """Every branch with its groups, sorted by name (in Python: collations differ by backend)."""
    branches = (await session.scalars(select(Branch).where(Branch.organisation_id == org_id))).all()
    groups = (
        await session.scalars(
            select(Group)
            .join(Branch, Group.branch_id == Branch.id)
            .where(Branch.organisation_id == org_id)
        )
    ).all()
    by_branch: dict[int, list[Group]] = defaultdict(list)
    for group in groups:
        by_branch[group.branch_id].append(group)
    return [
        (b, sorted(by_branch[b.id], key=lambda g: (g.name, g.id)))
        for b in sorted(branches, key=lambda b: (b.name, b.id))
    ]


async def unit_starts(
    session: AsyncSession, settings: MeetingSettings
) -> dict[tuple[str, int], date]:
    """The first local day each branch and group owes meetings from: the day it first shows in
    the records (its earliest member, or meeting, since branches and groups keep no creation
    date), or `meetings.count_from` when that is later. A unit with neither is left out: it
    owes nothing yet."""
    tz = settings.tz
    first: dict[tuple[str, int], datetime] = {}

    def seen(unit: tuple[str, int], moment: datetime | None) -> None:
        if moment is not None and (unit not in first or moment < first[unit]):
            first[unit] = moment

    for model, column in ((Member, Member.created_at), (Meeting, Meeting.starts_at)):
        rows = await session.execute(
            select(model.branch_id, model.group_id, func.min(column))
            .where(model.organisation_id == settings.org_id)
            .group_by(model.branch_id, model.group_id)
        )
        for branch_id, group_id, moment in rows:
            if branch_id is not None:
                seen(("branch", branch_id), moment)
            if group_id is not None:
                seen(("group", group_id), moment)
    floor = settings.cfg.count_from_date
    return {
        unit: max(moment.astimezone(tz).date(), floor) if floor else moment.astimezone(tz).date()
        for unit, moment in first.items()
    }


async def report(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    period_text: str | None,
    *,
    now: datetime,
) -> ComplianceReport:
    """/compliance: admins see every branch, secretaries theirs, group leaders their group."""
    if actor.role is Role.MEMBER:
        raise Denied("no_permission")
    view = parse_period(period_text, now.astimezone(settings.tz).date())
    return await report_over(session, settings, actor, view, now=now)


async def report_over(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    view: Period,
    *,
    now: datetime,
) -> ComplianceReport:
    """The report for any run of whole months (the statistics ask for a half-year or a year):
    each rule's own months or quarters inside it."""
    if actor.role is Role.MEMBER:
        raise Denied("no_permission")
    tz = settings.tz
    rules = _active_rules(settings)
    cut = {r.kind: slices(r.every, view) for r in rules}
    starts = [p.bounds(tz)[0] for ps in cut.values() for p in ps]
    ends = [p.bounds(tz)[1] for ps in cut.values() for p in ps]
    tally = await _tally(session, settings, rules, min(starts), max(ends)) if rules else {}
    since = await unit_starts(session, settings)

    def row(unit_kind: str, unit_id: int, rule: KindRule) -> KindRow:
        meetings = tally.get((unit_kind, unit_id, rule.kind), [])
        start = since.get((unit_kind, unit_id))
        owed = tuple(_slice(meetings, p, rule.times, tz, now, start) for p in cut[rule.kind])
        partly = any(s.state == BEFORE for s in owed)
        return KindRow(rule.kind, rule.every, owed, start if partly else None)

    branches: list[BranchReport] = []
    for branch, groups in await _units(session, settings.org_id):
        manages = can_manage_branch(actor, branch.id)
        visible = [g for g in groups if can_see_group(actor, branch.id, g.id)]
        if not manages and not visible:
            continue
        branch_kinds = (
            tuple(row("branch", branch.id, r) for r in rules if _unit_kind(r) == "branch")
            if manages
            else ()
        )
        group_reports = tuple(
            GroupReport(
                g.id,
                g.name,
                tuple(row("group", g.id, r) for r in rules if _unit_kind(r) == "group"),
            )
            for g in visible
        )
        branches.append(BranchReport(branch.id, branch.name, branch_kinds, group_reports))
    if not branches and actor.role is not Role.ADMIN:
        raise Denied("out_of_scope")
    return ComplianceReport(view, tuple(branches), len(rules))


_MARKS = {OK: "✅", OVERDUE: "❗", OPEN: "⏳", FUTURE: "▫️", BEFORE: "➖"}


def _row_text(lang: str, row: KindRow, view: Period, indent: str) -> str:
    extra = ""
    if row.planned:
        extra += t(lang, "compliance.planned", count=row.planned)
    if row.overdue:
        extra += t(
            lang,
            "compliance.overdue",
            periods=Raw(t(lang, "compliance.sep").join(p.label(lang) for p in row.overdue)),
        )
    if row.every == QUARTER and view.every == MONTH:
        # The quarter's count, not the month's: say so, or 应开 1 in a month view misleads.
        extra += t(lang, "compliance.by_quarter", period=row.slices[0].period.label(lang))
    if row.since is not None:
        extra += t(lang, "compliance.since", date=row.since.isoformat())
    elif row.state == BEFORE:
        extra += t(lang, "compliance.not_yet")
    return indent + t(
        lang,
        "compliance.row",
        mark=_MARKS[row.state],
        kind=t(lang, f"kind.{row.kind}"),
        required=row.required,
        held=row.held,
        extra=Raw(extra),
    )


def render(lang: str, result: ComplianceReport) -> list[str]:
    """The report as message lines (reply_long packs them into as few messages as fit)."""
    view = result.period
    lines: list[str] = [
        t(
            lang,
            "compliance.title",
            period=view.label(lang),
            start=view.start.isoformat(),
            end=view.last_day.isoformat(),
        )
    ]
    if not result.rules:
        lines.append(t(lang, "compliance.no_rules"))
        return lines
    if not result.branches:
        lines.append(t(lang, "compliance.none"))
        return lines
    for branch in result.branches:
        lines.append(t(lang, "compliance.branch", name=branch.name))
        lines.extend(_row_text(lang, r, view, "  ") for r in branch.kinds)
        for group in branch.groups:
            if not group.kinds:
                continue
            lines.append("  " + t(lang, "compliance.group", name=group.name))
            lines.extend(_row_text(lang, r, view, "    ") for r in group.kinds)
    lines.append(t(lang, "compliance.legend"))
    return lines


# ---------------------------------------------------------------- the daily reminder


async def ensure_job(session: AsyncSession, org_id: int, config: Config, *, now: datetime) -> None:
    """One active daily check at the configured local time (none when turned off)."""
    cfg = config.meetings
    at = parse_hhmm(cfg.compliance_remind_time)
    assert at is not None  # validated with the config
    await ensure_standing_job(
        session,
        organisation_id=org_id,
        kind=JOB_CHECK,
        rule=DAILY if cfg.compliance_remind_days > 0 else None,
        at=at,
        tz=config.organisation.tz,
        now=now,
    )
    await session.commit()


@dataclass(frozen=True)
class _Missing:
    unit_kind: str
    unit_id: int
    unit_label: str
    branch_id: int
    kind: str
    period: Period
    required: int
    held: int


async def _recipients(
    session: AsyncSession, org_id: int, branch_ids: set[int], group_ids: set[int]
) -> tuple[dict[int, list[Member]], dict[int, list[Member]]]:
    """Bound, reachable secretaries per branch and group leaders per group."""
    members = (
        await session.scalars(
            select(Member)
            .where(
                Member.organisation_id == org_id,
                Member.active.is_(True),
                Member.chat_id.is_not(None),
                Member.unreachable_at.is_(None),
                Member.role.in_((Role.SECRETARY, Role.GROUP_LEADER)),
            )
            .order_by(Member.id)
        )
    ).all()
    secretaries: dict[int, list[Member]] = defaultdict(list)
    leaders: dict[int, list[Member]] = defaultdict(list)
    for member in members:
        if member.role is Role.SECRETARY and member.branch_id in branch_ids:
            secretaries[member.branch_id].append(member)
        elif member.role is Role.GROUP_LEADER and member.group_id in group_ids:
            leaders[member.group_id].append(member)
    return secretaries, leaders


async def fire_check(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    """Remind about every slice ending within `compliance_remind_days` local days that is neither
    met nor covered by a scheduled meeting, once per unit, kind and slice. The scheduler commits."""
    days = settings.cfg.compliance_remind_days
    if days <= 0:
        return
    tz = settings.tz
    now = firing.now
    today = now.astimezone(tz).date()
    due: list[tuple[KindRule, Period]] = []
    for rule in _active_rules(settings):
        period = period_of(rule.every, today)
        if period.end - timedelta(days=days) <= today:
            due.append((rule, period))
    if not due:
        return
    start = min(p.bounds(tz)[0] for _, p in due)
    end = max(p.bounds(tz)[1] for _, p in due)
    tally = await _tally(session, settings, [r for r, _ in due], start, end)
    notices = await session.execute(
        select(
            ComplianceNotice.unit_kind,
            ComplianceNotice.unit_id,
            ComplianceNotice.kind,
            ComplianceNotice.period_start,
        ).where(
            ComplianceNotice.organisation_id == settings.org_id,
            ComplianceNotice.period_start.in_({p.start for _, p in due}),
        )
    )
    sent = {(unit_kind, unit_id, kind, start) for unit_kind, unit_id, kind, start in notices}
    since = await unit_starts(session, settings)
    missing: list[_Missing] = []
    for branch, groups in await _units(session, settings.org_id):
        for rule, period in due:
            if _unit_kind(rule) == "group":
                units = [("group", g.id, f"{branch.name}/{g.name}") for g in groups]
            else:
                units = [("branch", branch.id, branch.name)]
            for unit_kind, unit_id, label in units:
                if (unit_kind, unit_id, rule.kind, period.start) in sent:
                    continue
                owed_from = since.get((unit_kind, unit_id))
                if owed_from is None or period.end <= owed_from:
                    continue
                held, planned = _count(tally.get((unit_kind, unit_id, rule.kind), []), period, tz)
                # A meeting already scheduled before the end is the plan; no need to nag.
                if held + planned >= rule.times:
                    continue
                missing.append(
                    _Missing(
                        unit_kind, unit_id, label, branch.id, rule.kind, period, rule.times, held
                    )
                )
    if not missing:
        return
    secretaries, leaders = await _recipients(
        session,
        settings.org_id,
        {m.branch_id for m in missing},
        {m.unit_id for m in missing if m.unit_kind == "group"},
    )
    per_member: dict[int, tuple[Member, list[_Missing]]] = {}
    reached: list[_Missing] = []
    for item in missing:
        to = list(secretaries.get(item.branch_id, []))
        if item.unit_kind == "group":
            to += leaders.get(item.unit_id, [])
        for member in to:
            per_member.setdefault(member.id, (member, []))[1].append(item)
        if to:
            reached.append(item)
    outgoing: list[Outgoing] = []
    for member, items in per_member.values():
        assert member.chat_id is not None
        lang = settings.push.language_of(member)
        lines = [
            t(
                lang,
                "compliance.remind_line",
                unit=m.unit_label,
                kind=t(lang, f"kind.{m.kind}"),
                period=m.period.label(lang),
                deadline=m.period.last_day.isoformat(),
                required=m.required,
                held=m.held,
            )
            for m in items
        ]
        text = t(lang, "compliance.remind", lines=Raw("\n".join(lines)))
        outgoing.append(Outgoing(member.chat_id, member.id, text, "notice"))
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    # Only what reached someone is marked: a branch whose secretary binds later still hears.
    session.add_all(
        ComplianceNotice(
            organisation_id=settings.org_id,
            unit_kind=m.unit_kind,
            unit_id=m.unit_id,
            kind=m.kind,
            period_start=m.period.start,
            sent_at=now,
        )
        for m in reached
    )
    await session.flush()
