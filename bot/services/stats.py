"""Statistics for a period and scope, from the running tallies of the same records the ledger's
tables list, with the same filters (a test holds the two together): awareness (confirmed /
pushed), attendance by meeting kind, compliance with the required meetings, volunteer hours,
per branch and group."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.services import compliance, items, ledger, tallies
from bot.services.meetings import MeetingSettings
from storage.models import (
    Item,
    Meeting,
    Member,
)


@dataclass
class Rate:
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> Decimal | None:
        """Whole percent, None when there was nothing to count."""
        if not self.total:
            return None
        # 四舍五入, as a report reader expects: 1/8 is 13 %, not 12 %.
        return (Decimal(100 * self.done) / self.total).quantize(Decimal("1"), ROUND_HALF_UP)

    def add(self, done: bool) -> None:
        self.total += 1
        self.done += done


@dataclass
class Unit:
    """A branch, or a group inside one ("第一支部/第一党小组")."""

    name: str
    study: Rate = field(default_factory=Rate)
    reminders: Rate = field(default_factory=Rate)
    attendance: Rate = field(default_factory=Rate)
    hours: Decimal = Decimal(0)

    @property
    def awareness(self) -> Rate:
        return Rate(self.study.done + self.reminders.done, self.study.total + self.reminders.total)


@dataclass(frozen=True)
class Compliance:
    required: int
    held: int
    # "第一支部 支部委员会 2026年11月" for each period that ended without the meeting.
    overdue: list[str]


@dataclass(frozen=True)
class Stats:
    scope: ledger.Scope
    period: ledger.ReportPeriod
    branches: list[Unit]
    groups: list[Unit]
    by_kind: dict[str, Rate]
    compliance: Compliance
    study_items: int
    reminder_items: int
    meetings_held: int
    activities: int
    volunteers: int
    members: int
    bound: int

    def total(self, part: str) -> Rate:
        rate = Rate()
        for unit in self.branches:
            one: Rate = getattr(unit, part)
            rate.done += one.done
            rate.total += one.total
        return rate

    @property
    def units(self) -> list[Unit]:
        """Each branch, then its groups ("第一支部", "第一支部/第一党小组", …)."""
        return sorted(self.branches + self.groups, key=lambda u: u.name)

    @property
    def hours(self) -> Decimal:
        return sum((u.hours for u in self.branches), Decimal(0))


@dataclass
class _Units:
    """The statistics' units, named as the ledger names them."""

    names: ledger.Names
    branches: dict[str, Unit] = field(default_factory=dict)
    groups: dict[str, Unit] = field(default_factory=dict)

    def of(self, branch_id: int | None, group_id: int | None) -> list[Unit]:
        """The branch's unit and, for a member in a group, the group's."""
        branch = self.names.branches.get(branch_id or 0)
        if branch is None:
            return []
        found = [self.branches.setdefault(branch, Unit(branch))]
        if group_id is not None and self.names.group_branch.get(group_id) == branch_id:
            name = f"{branch}/{self.names.groups[group_id]}"
            found.append(self.groups.setdefault(name, Unit(name)))
        return found


async def count(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    scope: ledger.Scope,
    period: ledger.ReportPeriod,
    compliance_view: Compliance,
) -> Stats:
    """The figures from the running tallies and a count of members per unit, filtered as the
    ledger filters its rows: a year of a large organisation is a few thousand rows to Python."""
    since, until = period.bounds(tz)
    in_scope = scope.branch_ids
    units = _Units(await ledger.Names.of(session, scope))
    members = bound = 0
    for branch_id, group_id, _, active, reachable in await session.execute(
        select(
            Member.branch_id,
            Member.group_id,
            func.count(),
            func.count(case((Member.active, 1))),
            func.count(case((Member.active & Member.chat_id.is_not(None), 1))),
        )
        .where(Member.branch_id.in_(in_scope))
        .group_by(Member.branch_id, Member.group_id)
    ):
        units.of(branch_id, group_id)
        members += active
        bound += reachable
    # The running tallies, not the receipts and invitations themselves: a year of a large
    # organisation is a few thousand tally rows against a million records.
    items_of: dict[str, set[int]] = {items.KIND_STUDY: set(), items.KIND_REMINDER: set()}
    in_period_items = (
        Item.organisation_id == org_id,
        Item.kind.in_(list(items_of)),
        Item.published_at >= since,
        Item.published_at < until,
    )
    for kind, item_id, branch_id, group_id, total, done in await tallies.of_items(
        session, in_period_items, in_scope
    ):
        if not total:
            continue
        items_of[kind].add(item_id)
        part = "study" if kind == items.KIND_STUDY else "reminders"
        for unit in units.of(branch_id, group_id):
            rate: Rate = getattr(unit, part)
            rate.total += total
            rate.done += done
    closed_in_period = (
        Meeting.organisation_id == org_id,
        Meeting.branch_id.in_(in_scope),
        # Only a closed meeting has outcomes; an open one is 未结束 in the ledger.
        Meeting.status == "closed",
        Meeting.starts_at >= since,
        Meeting.starts_at < until,
    )
    by_kind: dict[str, Rate] = defaultdict(Rate)
    held: set[int] = set()
    for kind, meeting_id, branch_id, group_id, total, present in await tallies.of_meetings(
        session, closed_in_period, in_scope
    ):
        name = ledger.KIND_NAMES.get(kind, kind)
        by_kind[name].total += total
        by_kind[name].done += present
        if present:
            held.add(meeting_id)
        for unit in units.of(branch_id, group_id):
            unit.attendance.total += total
            unit.attendance.done += present
    volunteers: set[int] = set()
    activities: set[int] = set()
    # Held means someone served: sign-ups all cancelled or no-shows do not count.
    for activity_id, member_id, _, branch_id, group_id, minutes in await session.execute(
        ledger.served_signups(org_id, since, until, in_scope)
    ):
        activities.add(activity_id)
        volunteers.add(member_id)
        for unit in units.of(branch_id, group_id):
            # Rounded per sign-up, as the ledger's rows show it, so the sum is theirs.
            unit.hours += ledger.hours(minutes)
    return Stats(
        scope,
        period,
        sorted(units.branches.values(), key=lambda u: u.name),
        sorted(units.groups.values(), key=lambda u: u.name),
        dict(sorted(by_kind.items())),
        compliance_view,
        len(items_of[items.KIND_STUDY]),
        len(items_of[items.KIND_REMINDER]),
        len(held),
        len(activities),
        len(volunteers),
        members,
        bound,
    )


async def compliance_in(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    scope: ledger.Scope,
    period: ledger.ReportPeriod,
    *,
    now: datetime,
) -> Compliance:
    """Required vs held over the period: each rule's months or quarters inside it, a period's
    meetings beyond its requirement not making up for another's."""
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    view = compliance.Period(
        compliance.MONTH if months == 1 else compliance.QUARTER, period.start, period.end
    )
    report = await compliance.report_over(session, settings, actor, view, now=now)
    required = held = 0
    # (period start, place in the report, text): listed oldest period first, as the reader
    # works through them, each period's units in the report's order.
    missed: list[tuple[date, int, str]] = []
    lang = actor.language
    for branch in report.branches:
        if branch.branch_id not in scope.branch_ids:
            continue
        rows = [(branch.name, row) for row in branch.kinds]
        rows += [(f"{branch.name}/{g.name}", row) for g in branch.groups for row in g.kinds]
        for unit, row in rows:
            required += row.required
            held += sum(min(s.held, s.required) for s in row.slices)
            missed += [
                (
                    p.start,
                    len(missed),
                    f"{unit} {ledger.KIND_NAMES.get(row.kind, row.kind)} {p.label(lang)}",
                )
                for p in row.overdue
            ]
    overdue = [text for _, _, text in sorted(missed)]
    return Compliance(required, held, list(dict.fromkeys(overdue)))


async def build(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    *,
    now: datetime,
) -> Stats:
    period = ledger.parse_report_period(period_text, now.astimezone(settings.tz).date())
    scope = await ledger.resolve_scope(session, settings.org_id, actor, branch_name)
    view = await compliance_in(session, settings, actor, scope, period, now=now)
    return await count(session, settings.org_id, settings.tz, scope, period, view)
