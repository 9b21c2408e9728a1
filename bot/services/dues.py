"""党费: each member's monthly amount, a monthly reminder, the member's 「已缴纳」 and the
secretary's confirmation, and totals per branch for a quarter. Records only: no payment
processing.

Amounts are exact: typed and shown as decimals (`Decimal`), stored as whole fen (分).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.config import Config, DuesConfig, parse_hhmm
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, ensure_standing_job
from bot.services import audit, items, ledger
from bot.services.audience import chat_of
from bot.services.members import find_member
from bot.services.money import amount_text
from bot.texts import plain, t
from storage.models import Branch, DuesPayment, Group, Member

JOB_REMIND = "dues_reminder"


@dataclass(frozen=True)
class DuesSettings(items.PushScoped):
    push: items.PushSettings
    cfg: DuesConfig


def month_key(month: date) -> int:
    """A month as it travels in button data: 2026-12 -> 202612."""
    return month.year * 100 + month.month


def month_of_key(key: int) -> date:
    year, month = divmod(key, 100)
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise Denied("not_your_button")
    return date(year, month, 1)


def month_label(lang: str, month: date) -> str:
    return plain(t(lang, "compliance.month_label", year=month.year, month=month.month))


# ---------------------------------------------------------------- amounts


@dataclass(frozen=True)
class AmountSet:
    name: str
    before: int | None
    after: int


async def set_amount(
    session: AsyncSession, settings: DuesSettings, actor: Actor, ref: str, cents: int
) -> AmountSet:
    """A secretary sets one member's monthly amount (their own branch; an admin anyone's)."""
    member = await find_member(session, settings.org_id, actor, ref)
    before = member.dues_cents
    member.dues_cents = cents
    audit.record(
        session,
        action="dues.amount_set",
        entity="member",
        entity_id=member.id,
        actor_member_id=actor.member_id,
        before=before,
        after=cents,
    )
    await session.commit()
    return AmountSet(member.name, before, cents)


# ---------------------------------------------------------------- the monthly reminder


async def ensure_job(session: AsyncSession, org_id: int, config: Config, *, now: datetime) -> None:
    """The monthly reminder on `dues.remind_day` at `dues.remind_time` (none when 0)."""
    cfg = config.dues
    at = parse_hhmm(cfg.remind_time)
    assert at is not None  # validated with the config
    rule = f"FREQ=MONTHLY;BYMONTHDAY={cfg.remind_day}" if cfg.remind_day else None
    await ensure_standing_job(
        session,
        organisation_id=org_id,
        kind=JOB_REMIND,
        rule=rule,
        at=at,
        tz=config.organisation.tz,
        now=now,
    )
    await session.commit()


def report_button(lang: str, month: date) -> dict[str, Any]:
    label = plain(t(lang, "dues.btn_paid"))
    return {"inline_keyboard": [[{"text": label, "callback_data": f"du:rp:{month_key(month)}"}]]}


async def _unpaid(session: AsyncSession, org_id: int, month: date) -> list[Member]:
    """Active members with an amount who have neither reported nor been confirmed this month."""
    paid = select(DuesPayment.member_id).where(DuesPayment.month == month)
    return list(
        (
            await session.scalars(
                select(Member)
                .where(
                    Member.organisation_id == org_id,
                    Member.active.is_(True),
                    Member.branch_id.is_not(None),
                    Member.dues_cents > 0,
                    Member.id.not_in(paid),
                )
                .order_by(Member.id)
            )
        ).all()
    )


async def fire_reminder(session: AsyncSession, settings: DuesSettings, firing: Firing) -> None:
    """The month is the one the reminder falls in, in the organisation's zone."""
    month = firing.scheduled_for.astimezone(settings.tz).date().replace(day=1)
    outgoing = []
    for member in await _unpaid(session, settings.org_id, month):
        chat = chat_of(member)
        if chat is None or member.dues_cents is None:
            continue
        lang = settings.push.language_of(member)
        text = t(
            lang,
            "dues.reminder",
            month=month_label(lang, month),
            amount=amount_text(member.dues_cents),
        )
        outgoing.append(
            Outgoing(chat, member.id, text, "notice", markup=report_button(lang, month))
        )
    await enqueue(session, outgoing, now=firing.now, quiet=settings.push.quiet)


# ---------------------------------------------------------------- reported and confirmed


@dataclass(frozen=True)
class Reported:
    month: date
    amount: int
    # reported | confirmed
    status: str
    already: bool


def month_of(tz: ZoneInfo, now: datetime) -> date:
    """The first day of the month `now` falls in, in the organisation's zone."""
    return now.astimezone(tz).date().replace(day=1)


def _this_month(settings: DuesSettings, now: datetime) -> date:
    return month_of(settings.tz, now)


async def report_paid(
    session: AsyncSession, settings: DuesSettings, actor: Actor, key: int, *, now: datetime
) -> Reported:
    """「已缴纳」: the member says they paid this month's dues. Only for themselves: the button
    carries the month, never a member."""
    month = month_of_key(key)
    this_month = _this_month(settings, now)
    # The button carries a month: only this one and the year before it are real.
    if not this_month.replace(year=this_month.year - 1) < month <= this_month:
        raise Denied("not_your_button")
    # Locked, so two presses at once make one record.
    member = await session.scalar(
        select(Member).where(Member.id == actor.member_id).with_for_update()
    )
    assert member is not None
    payment = await session.scalar(
        select(DuesPayment).where(DuesPayment.member_id == member.id, DuesPayment.month == month)
    )
    if payment is not None:
        return Reported(month, payment.amount_cents, payment.status, True)
    if not member.dues_cents or member.branch_id is None:
        raise Invalid("dues.no_amount")
    session.add(
        DuesPayment(
            member_id=member.id,
            branch_id=member.branch_id,
            month=month,
            amount_cents=member.dues_cents,
            status="reported",
            reported_at=now,
        )
    )
    audit.record(
        session,
        action="dues.reported",
        entity="member",
        entity_id=member.id,
        actor_member_id=actor.member_id,
        month=month.isoformat(),
        amount=member.dues_cents,
    )
    await session.commit()
    return Reported(month, member.dues_cents, "reported", False)


@dataclass(frozen=True)
class Confirmed:
    names: list[str]
    already: list[str]
    total: int


async def _confirm(
    session: AsyncSession,
    settings: DuesSettings,
    actor: Actor,
    payments: list[tuple[DuesPayment, Member]],
    now: datetime,
) -> Confirmed:
    names: list[str] = []
    already: list[str] = []
    total = 0
    outgoing = []
    for payment, member in payments:
        if payment.status == "confirmed":
            already.append(member.name)
            continue
        payment.status = "confirmed"
        payment.confirmed_at = now
        payment.confirmed_by_member_id = actor.member_id
        names.append(member.name)
        total += payment.amount_cents
        chat = chat_of(member)
        if chat is not None:
            lang = settings.push.language_of(member)
            text = t(
                lang,
                "dues.confirmed_notice",
                month=month_label(lang, payment.month),
                amount=amount_text(payment.amount_cents),
            )
            outgoing.append(Outgoing(chat, member.id, text, "notice"))
        audit.record(
            session,
            action="dues.confirmed",
            entity="member",
            entity_id=member.id,
            actor_member_id=actor.member_id,
            month=payment.month.isoformat(),
            amount=payment.amount_cents,
        )
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    await session.commit()
    return Confirmed(names, already, total)


async def confirm_one(
    session: AsyncSession, settings: DuesSettings, actor: Actor, payment_id: int, *, now: datetime
) -> Confirmed:
    """The secretary confirms receipt of one reported payment in their scope."""
    row = (
        await session.execute(
            select(DuesPayment, Member)
            .join(Member, Member.id == DuesPayment.member_id)
            .where(DuesPayment.id == payment_id, Member.organisation_id == settings.org_id)
            .with_for_update(of=DuesPayment)
        )
    ).first()
    if row is None:
        raise NotFound("dues.unknown_payment")
    payment, member = row
    if not can_manage_branch(actor, member.branch_id):
        raise Denied("out_of_scope")
    return await _confirm(session, settings, actor, [(payment, member)], now)


async def confirm_all(
    session: AsyncSession,
    settings: DuesSettings,
    actor: Actor,
    key: int,
    branch_id: int,
    up_to: int,
    *,
    now: datetime,
) -> Confirmed:
    """「全部确认」 under a /dues view: the reported payments of that month and branch that the
    view listed (none reported after it, whose id is higher), in the secretary's scope."""
    month = month_of_key(key)
    if not can_manage_branch(actor, branch_id):
        raise Denied("out_of_scope")
    rows = (
        await session.execute(
            select(DuesPayment, Member)
            .join(Member, Member.id == DuesPayment.member_id)
            .where(
                Member.organisation_id == settings.org_id,
                DuesPayment.branch_id == branch_id,
                DuesPayment.month == month,
                DuesPayment.status == "reported",
                DuesPayment.id <= up_to,
            )
            .order_by(Member.name)
            .with_for_update(of=DuesPayment)
        )
    ).all()
    return await _confirm(session, settings, actor, [(p, m) for p, m in rows], now)


# ---------------------------------------------------------------- views


@dataclass
class GroupDues:
    name: str
    branch_id: int
    confirmed: list[tuple[str, int]] = field(default_factory=list)
    # (payment id, name, amount): the secretary's buttons confirm these.
    reported: list[tuple[int, str, int]] = field(default_factory=list)
    outstanding: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class MonthView:
    month: date
    groups: list[GroupDues]
    no_amount: int

    def total(self, part: str) -> int:
        return sum(row[-1] for g in self.groups for row in getattr(g, part))

    def count(self, part: str) -> int:
        return sum(len(getattr(g, part)) for g in self.groups)

    def reported_by_branch(self) -> dict[int, list[int]]:
        """Branch -> the ids of its reported payments, for one 「全部确认」 each."""
        found: dict[int, list[int]] = {}
        for group in self.groups:
            found.setdefault(group.branch_id, []).extend(p for p, _, _ in group.reported)
        return {b: ids for b, ids in found.items() if ids}


async def _scope_branches(
    session: AsyncSession, settings: DuesSettings, actor: Actor, branch_name: str | None
) -> list[Branch]:
    scope = await ledger.resolve_scope(session, settings.org_id, actor, branch_name)
    query = select(Branch).where(Branch.id.in_(scope.branch_ids)).order_by(Branch.name)
    return list((await session.scalars(query)).all())


async def month_view(
    session: AsyncSession,
    settings: DuesSettings,
    actor: Actor,
    month: date,
    branch_name: str | None = None,
) -> MonthView:
    """Reported, confirmed and outstanding per group (branch/group for an admin's whole view).

    What was paid counts for the branch it was paid in, whoever has left or moved since; what is
    outstanding is asked of the active members there now."""
    branches = await _scope_branches(session, settings, actor, branch_name)
    names = {b.id: b.name for b in branches}
    several = len(branches) > 1
    group_names = {
        g.id: (g.branch_id, g.name)
        for g in (await session.scalars(select(Group).where(Group.branch_id.in_(names)))).all()
    }
    groups: dict[str, GroupDues] = {}

    def entry(branch_id: int, group_id: int | None) -> GroupDues:
        branch_of_group, group = group_names.get(group_id or 0, (None, "—"))
        # A member who moved on is listed without the group they belong to now.
        label = group if branch_of_group == branch_id else "—"
        if several:
            label = f"{names[branch_id]}/{label}"
        return groups.setdefault(label, GroupDues(label, branch_id))

    payments = (
        await session.execute(
            select(DuesPayment, Member)
            .join(Member, Member.id == DuesPayment.member_id)
            .where(DuesPayment.branch_id.in_(names), DuesPayment.month == month)
            .order_by(Member.name, Member.id)
        )
    ).all()
    for payment, member in payments:
        target = entry(payment.branch_id, member.group_id)
        if payment.status == "confirmed":
            target.confirmed.append((member.name, payment.amount_cents))
        else:
            target.reported.append((payment.id, member.name, payment.amount_cents))
    paid = select(DuesPayment.member_id).where(DuesPayment.month == month)
    unpaid = (
        await session.scalars(
            select(Member)
            .where(
                Member.branch_id.in_(names),
                Member.active.is_(True),
                Member.id.not_in(paid),
            )
            .order_by(Member.name, Member.id)
        )
    ).all()
    no_amount = 0
    for member in unpaid:
        assert member.branch_id is not None
        if member.dues_cents:
            entry(member.branch_id, member.group_id).outstanding.append(
                (member.name, member.dues_cents)
            )
        else:
            no_amount += 1
    return MonthView(month, sorted(groups.values(), key=lambda g: g.name), no_amount)


@dataclass(frozen=True)
class BranchQuarter:
    name: str
    # Per month of the quarter: confirmed and reported totals, and how many are outstanding.
    months: list[tuple[date, int, int, int]]

    @property
    def confirmed(self) -> int:
        return sum(m[1] for m in self.months)


async def quarter_totals(
    session: AsyncSession,
    settings: DuesSettings,
    actor: Actor,
    months: list[date],
    branch_name: str | None = None,
) -> list[BranchQuarter]:
    """For the handover to the higher committee: what each branch collected, month by month."""
    branches = await _scope_branches(session, settings, actor, branch_name)
    result = []
    for branch in branches:
        per_month = []
        for month in months:
            view = await month_view(session, settings, actor, month, branch.name)
            per_month.append(
                (
                    month,
                    view.total("confirmed"),
                    view.total("reported"),
                    view.count("outstanding"),
                )
            )
        result.append(BranchQuarter(branch.name, per_month))
    return result


@dataclass(frozen=True)
class MyDues:
    month: date
    amount: int | None
    # None (not reported), reported or confirmed
    status: str | None


_members = Member.__table__
_payments = DuesPayment.__table__
# The member's amount and their payment of one month, if any (binds: member_id, dues_month):
# one row, for my_dues (/todo) and /me's single statement. Prebuilt: SQL and cache key once.
MY_DUES = (
    select(
        _members.c.dues_cents,
        _payments.c.id.label("payment_id"),
        _payments.c.amount_cents.label("paid_cents"),
        _payments.c.status.label("paid_status"),
    )
    .select_from(
        _members.outerjoin(
            _payments,
            and_(
                _payments.c.member_id == _members.c.id,
                _payments.c.month == bindparam("dues_month"),
            ),
        )
    )
    .where(_members.c.id == bindparam("member_id"))
)


def dues_of(row: Row[*tuple[Any, ...]], month: date) -> MyDues:
    """MyDues from a row holding MY_DUES's columns."""
    if row.payment_id is not None:
        return MyDues(month, row.paid_cents, row.paid_status)
    return MyDues(month, row.dues_cents, None)


async def my_dues(
    session: AsyncSession, settings: DuesSettings, actor: Actor, now: datetime
) -> MyDues:
    month = _this_month(settings, now)
    row = (
        await session.execute(MY_DUES, {"member_id": actor.member_id, "dues_month": month})
    ).one()
    return dues_of(row, month)
