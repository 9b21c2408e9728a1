"""What the web workbench shows beyond the chat's views: the names behind the overview's figures,
the dues of a period, each meeting's outcomes and each task's postponements. Read only.

Every function takes a scope already resolved by `ledger.resolve_scope` (the one scope rule of
reports: a secretary's branch, an admin's organisation or the branch they named) or checks the
record through the same service the chat uses, and filters records as the statistics and the
ledger do, so the names add up to the figures they explain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.services import compliance, items, ledger
from bot.services.meetings import MeetingSettings
from storage.models import (
    Branch,
    DuesPayment,
    Invitation,
    Item,
    Meeting,
    Member,
    Receipt,
    Role,
    TaskEvent,
)

# A drill-down lists at most this many names in one list, and counts the rest.
MAX_NAMES = 200


@dataclass
class Names:
    """Names in a list, the first MAX_NAMES of them, and how many there are in all."""

    shown: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.shown) < MAX_NAMES:
            self.shown.append(name)

    @property
    def more(self) -> int:
        return self.count - len(self.shown)


async def branch_names(session: AsyncSession, org_id: int, actor: Actor) -> list[str]:
    """The branches the actor may choose between: every one for an admin, their own for a
    secretary (resolve_scope refuses anyone else)."""
    if actor.role is Role.ADMIN:
        names = await session.scalars(
            select(Branch.name).where(Branch.organisation_id == org_id).order_by(Branch.name)
        )
        return list(names.all())
    scope = await ledger.resolve_scope(session, org_id, actor, None)
    return [scope.label]


# ---------------------------------------------------------------- dues


@dataclass(frozen=True)
class DuesMonth:
    """One month of dues in a scope: confirmed and reported payments, and the active members
    with an amount who have neither (as /dues counts them), each with the amount in fen."""

    month: date
    confirmed: int
    confirmed_cents: int
    reported: int
    reported_cents: int
    missing: int
    missing_cents: int

    @property
    def paid(self) -> int:
        return self.confirmed + self.reported

    @property
    def due(self) -> int:
        return self.paid + self.missing


def months_of(period: ledger.ReportPeriod, today: date) -> list[date]:
    """The months of the period that have begun (a month is due from its first day)."""
    found = []
    month = period.start
    while month < period.end and month <= today:
        found.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return found


async def dues_months(
    session: AsyncSession, scope: ledger.Scope, months: list[date]
) -> list[DuesMonth]:
    """Counts and amounts per month. What was paid counts for the branch it was paid in; what is
    missing is asked of the active members there now, as `dues.month_view` does."""
    if not months:
        return []
    paid: dict[tuple[date, str], tuple[int, int]] = {}
    for month, status, counted, cents in await session.execute(
        select(
            DuesPayment.month,
            DuesPayment.status,
            func.count(DuesPayment.id),
            func.coalesce(func.sum(DuesPayment.amount_cents), 0),
        )
        .where(DuesPayment.branch_id.in_(scope.branch_ids), DuesPayment.month.in_(months))
        .group_by(DuesPayment.month, DuesPayment.status)
    ):
        paid[(month, status)] = (int(counted), int(cents))
    result = []
    for month in months:
        missing, missing_cents = (
            await session.execute(
                select(func.count(Member.id), func.coalesce(func.sum(Member.dues_cents), 0)).where(
                    Member.branch_id.in_(scope.branch_ids),
                    Member.active.is_(True),
                    Member.dues_cents > 0,
                    Member.id.not_in(
                        select(DuesPayment.member_id).where(DuesPayment.month == month)
                    ),
                )
            )
        ).one()
        confirmed = paid.get((month, "confirmed"), (0, 0))
        reported = paid.get((month, "reported"), (0, 0))
        result.append(
            DuesMonth(month, *confirmed, *reported, int(missing), int(missing_cents or 0))
        )
    return result


# ---------------------------------------------------------------- awareness


@dataclass
class ItemNames:
    id: int
    kind: str
    title: str
    published_at: datetime | None
    deadline: datetime | None
    confirmed: Names = field(default_factory=Names)
    pending: Names = field(default_factory=Names)


async def awareness(
    session: AsyncSession,
    org_id: int,
    scope: ledger.Scope,
    since: datetime,
    until: datetime,
) -> list[ItemNames]:
    """Each study item and reminder published in the period, with who in the scope confirmed it
    and who has not: the receipts the awareness figure counts (the ledger's study and reminder
    sheets)."""
    found: dict[int, ItemNames] = {}
    rows = await session.execute(
        select(
            Item.id,
            Item.kind,
            Item.title,
            Item.published_at,
            Item.deadline,
            Member.name,
            Receipt.confirmed_at,
        )
        .join(Receipt, Receipt.item_id == Item.id)
        .join(Member, Member.id == Receipt.member_id)
        .where(
            Item.organisation_id == org_id,
            Item.kind.in_((items.KIND_STUDY, items.KIND_REMINDER)),
            Item.published_at >= since,
            Item.published_at < until,
            Receipt.branch_id.in_(scope.branch_ids),
        )
        .order_by(Item.published_at, Item.id, Member.name, Member.id)
    )
    for item_id, kind, title, published_at, deadline, name, confirmed_at in rows:
        entry = found.get(item_id)
        if entry is None:
            entry = found[item_id] = ItemNames(item_id, kind, title, published_at, deadline)
        (entry.confirmed if confirmed_at is not None else entry.pending).add(name)
    return list(found.values())


@dataclass(frozen=True)
class Confirmed:
    name: str
    at: datetime


async def item_confirmations(
    session: AsyncSession, actor: Actor, item_id: int
) -> tuple[items.ItemStatus, list[Confirmed]]:
    """An item's status as /item gives it (the same scope check), and who confirmed it when."""
    status = await items.item_status(session, actor, item_id)
    rows = await session.execute(
        select(Member.name, Receipt.confirmed_at)
        .join(Member, Member.id == Receipt.member_id)
        .where(Receipt.item_id == item_id, Receipt.confirmed_at.is_not(None))
        .order_by(Receipt.confirmed_at, Member.name)
    )
    return status, [Confirmed(name, at) for name, at in rows if at is not None]


# ---------------------------------------------------------------- meetings


@dataclass
class MeetingNames:
    id: int
    kind: str
    title: str
    starts_at: datetime
    attended: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    # (name, reason)
    leave: list[tuple[str, str]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    made_up: list[str] = field(default_factory=list)

    @property
    def invited(self) -> int:
        return len(self.attended) + len(self.late) + len(self.leave) + len(self.absent)


async def attendance(
    session: AsyncSession,
    org_id: int,
    scope: ledger.Scope,
    since: datetime,
    until: datetime,
) -> list[MeetingNames]:
    """Each closed meeting of the period, with its invitees in the scope by outcome (the records
    the attendance figure counts), and who of those who missed it has done the make-up."""
    meetings_in = (
        Meeting.organisation_id == org_id,
        Meeting.branch_id.in_(scope.branch_ids),
        Meeting.status == "closed",
        Meeting.starts_at >= since,
        Meeting.starts_at < until,
    )
    made_up = {
        (meeting_id, member_id)
        for meeting_id, member_id in await session.execute(
            select(Meeting.id, Receipt.member_id)
            .join(Receipt, Receipt.item_id == Meeting.makeup_item_id)
            .where(*meetings_in, Receipt.confirmed_at.is_not(None))
        )
    }
    found: dict[int, MeetingNames] = {}
    rows = await session.execute(
        select(
            Meeting.id,
            Meeting.kind,
            Meeting.title,
            Meeting.starts_at,
            Member.id,
            Member.name,
            Invitation.outcome,
            Invitation.leave_reason,
        )
        .join(Invitation, Invitation.meeting_id == Meeting.id)
        .join(Member, Member.id == Invitation.member_id)
        .where(*meetings_in, Invitation.branch_id.in_(scope.branch_ids))
        .order_by(Meeting.starts_at, Meeting.id, Member.name, Member.id)
    )
    for meeting_id, kind, title, starts_at, member_id, name, outcome, reason in rows:
        entry = found.get(meeting_id)
        if entry is None:
            entry = found[meeting_id] = MeetingNames(meeting_id, kind, title, starts_at)
        if outcome == "attended":
            entry.attended.append(name)
        elif outcome == "late":
            entry.late.append(name)
        elif outcome == "leave":
            entry.leave.append((name, reason or ""))
        else:
            entry.absent.append(name)
        if (meeting_id, member_id) in made_up:
            entry.made_up.append(name)
    return list(found.values())


@dataclass(frozen=True)
class Outcomes:
    """A meeting's invitations by outcome (after it closed), and the make-ups done."""

    attended: int = 0
    late: int = 0
    leave: int = 0
    absent: int = 0
    made_up: int = 0


async def meeting_outcomes(session: AsyncSession, meeting_ids: list[int]) -> dict[int, Outcomes]:
    """For the meetings list: the outcomes of each closed meeting among `meeting_ids` (the
    caller listed them through `meetings.list_meetings`, which checked the scope)."""
    if not meeting_ids:
        return {}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for meeting_id, outcome, counted in await session.execute(
        select(Invitation.meeting_id, Invitation.outcome, func.count(Invitation.id))
        .where(Invitation.meeting_id.in_(meeting_ids), Invitation.outcome.is_not(None))
        .group_by(Invitation.meeting_id, Invitation.outcome)
    ):
        counts[meeting_id][str(outcome)] = int(counted)
    for meeting_id, counted in await session.execute(
        select(Meeting.id, func.count(Receipt.id))
        .join(Receipt, Receipt.item_id == Meeting.makeup_item_id)
        .where(Meeting.id.in_(meeting_ids), Receipt.confirmed_at.is_not(None))
        .group_by(Meeting.id)
    ):
        counts[meeting_id]["made_up"] = int(counted)
    return {
        meeting_id: Outcomes(
            by.get("attended", 0),
            by.get("late", 0),
            by.get("leave", 0),
            by.get("absent", 0),
            by.get("made_up", 0),
        )
        for meeting_id, by in counts.items()
    }


@dataclass(frozen=True)
class ComplianceRow:
    unit: str
    kind: str
    required: int
    held: int
    overdue: list[str]
    # ok | overdue | open | future | before
    state: str


async def compliance_rows(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    scope: ledger.Scope,
    period: ledger.ReportPeriod,
    *,
    now: datetime,
) -> list[ComplianceRow]:
    """Required and held per unit and kind over the period, counted as `stats.compliance_in`
    counts the overview's figure (a period's meetings beyond its requirement do not make up for
    another's)."""
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    view = compliance.Period(
        compliance.MONTH if months == 1 else compliance.QUARTER, period.start, period.end
    )
    report = await compliance.report_over(session, settings, actor, view, now=now)
    found = []
    for branch in report.branches:
        if branch.branch_id not in scope.branch_ids:
            continue
        rows = [(branch.name, row) for row in branch.kinds]
        rows += [(f"{branch.name}/{g.name}", row) for g in branch.groups for row in g.kinds]
        for unit, row in rows:
            found.append(
                ComplianceRow(
                    unit,
                    row.kind,
                    row.required,
                    sum(min(s.held, s.required) for s in row.slices),
                    [str(p.label(actor.language)) for p in row.overdue],
                    row.state,
                )
            )
    return found


# ---------------------------------------------------------------- volunteering


@dataclass
class VolunteerHours:
    name: str
    branch_id: int | None
    group_id: int | None
    activities: int = 0
    hours: Decimal = Decimal(0)


async def volunteer_hours(
    session: AsyncSession,
    org_id: int,
    scope: ledger.Scope,
    since: datetime,
    until: datetime,
) -> list[VolunteerHours]:
    """Each member who served in the period, with their activities and hours (rounded per
    sign-up, as the ledger's rows and the statistics round them), most hours first."""
    found: dict[int, VolunteerHours] = {}
    for _, member_id, name, branch_id, group_id, minutes in await session.execute(
        ledger.served_signups(org_id, since, until, scope.branch_ids)
    ):
        entry = found.setdefault(member_id, VolunteerHours(name, branch_id, group_id))
        entry.activities += 1
        entry.hours += ledger.hours(minutes)
    return sorted(found.values(), key=lambda v: (-v.hours, v.name))


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TaskChange:
    """A postponement (old and new due date) or a withdrawal, with its reason."""

    task_id: int
    kind: str  # postponed | cancelled
    at: datetime
    by: str | None
    old_due: date | None
    new_due: date | None
    reason: str | None


async def task_changes(session: AsyncSession, task_ids: list[int]) -> dict[int, list[TaskChange]]:
    """The postponements and withdrawals of tasks already listed through `tasks.ledger` (which
    checked the scope), oldest first."""
    if not task_ids:
        return {}
    found: dict[int, list[TaskChange]] = defaultdict(list)
    for event, name in await session.execute(
        select(TaskEvent, Member.name)
        .outerjoin(Member, Member.id == TaskEvent.actor_member_id)
        .where(TaskEvent.task_id.in_(task_ids), TaskEvent.kind.in_(("postponed", "cancelled")))
        .order_by(TaskEvent.at, TaskEvent.id)
    ):
        found[event.task_id].append(
            TaskChange(
                event.task_id,
                event.kind,
                event.at,
                name,
                event.old_due,
                event.new_due,
                event.reason,
            )
        )
    return dict(found)


async def branch_labels(session: AsyncSession, branch_ids: list[int]) -> dict[int, str]:
    """Branch names by id, for branches a view already listed."""
    if not branch_ids:
        return {}
    rows = await session.execute(select(Branch.id, Branch.name).where(Branch.id.in_(branch_ids)))
    return {branch_id: name for branch_id, name in rows}
