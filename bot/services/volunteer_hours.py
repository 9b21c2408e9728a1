"""The hours volunteers served: the close that makes them final (no-shows, a missing check-out
counted to the end), the organiser's corrections with a reason, /me and the /hours ranking."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Row, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing
from bot.services import audit, volunteers
from bot.services.audience import chat_of, may_manage
from bot.services.volunteers import VolunteerSettings
from bot.texts import t
from storage.models import Activity, Branch, Group, Member, Role, SignUp

MAX_ADJUSTED_HOURS = 24


async def close_activity(
    session: AsyncSession, settings: VolunteerSettings, activity_id: int, *, now: datetime
) -> bool:
    """Make the hours final: who served (a missing check-out counts to the end) and who signed
    up and never came. Runs once: a retried job finds the activity closed. The caller commits."""
    activity = await volunteers.lock_activity(session, settings, activity_id)
    if activity.status != "open":
        return False
    signups = (
        await session.scalars(
            select(SignUp)
            .where(SignUp.activity_id == activity.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    served = no_shows = minutes = 0
    for signup in signups:
        if signup.status == "offered":
            signup.status = "expired"
            signup.offered_at = signup.offer_expires_at = None
        if signup.status != "confirmed":
            continue
        if signup.checked_in_at is None:
            signup.outcome = "no_show"
            no_shows += 1
            continue
        if signup.checked_out_at is None:
            signup.checked_out_at = min(activity.ends_at, now)
            signup.checkout_method = "auto"
            signup.minutes = volunteers.served_minutes(
                activity, signup.checked_in_at, signup.checked_out_at
            )
        signup.outcome = "served"
        served += 1
        minutes += signup.minutes or 0
    activity.status = "closed"
    activity.closed_at = now
    audit.record(
        session,
        action="activity.closed",
        entity="activity",
        entity_id=activity.id,
        served=served,
        no_shows=no_shows,
        minutes=minutes,
    )
    organiser = (
        await session.get(Member, activity.created_by_member_id)
        if activity.created_by_member_id
        else None
    )
    if organiser is not None and chat_of(organiser) is not None:
        lang = settings.push.language_of(organiser)
        text = t(
            lang,
            "activity.closed_report",
            id=activity.id,
            title=activity.title,
            served=served,
            no_shows=no_shows,
            hours=volunteers.hours_text(minutes),
        )
        chat = chat_of(organiser)
        assert chat is not None
        await enqueue(
            session,
            [Outgoing(chat, organiser.id, text, "notice")],
            now=now,
            quiet=settings.push.quiet,
        )
    return True


async def fire_close(session: AsyncSession, settings: VolunteerSettings, firing: Firing) -> None:
    activity = await session.get(Activity, int(firing.payload["activity_id"]))
    if activity is None:
        return
    await close_activity(session, settings, activity.id, now=firing.now)


def parse_hours(text: str) -> int:
    """`2.5`, `2`, `1.25小时` or `3h` as whole minutes; at most a day."""
    cleaned = re.sub(r"(小时|hours?|h)$", "", text.strip().lower()).strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid("sethours.bad_hours", value=text, limit=MAX_ADJUSTED_HOURS) from None
    if not value.is_finite() or not 0 <= value <= MAX_ADJUSTED_HOURS:
        raise Invalid("sethours.bad_hours", value=text, limit=MAX_ADJUSTED_HOURS)
    return int((value * 60).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Adjusted:
    activity_id: int
    title: str
    name: str
    before: int
    after: int


async def adjust_hours(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    name: str,
    minutes: int,
    reason: str,
) -> Adjusted:
    """The organiser corrects one member's final hours; the reason goes into the audit log."""
    reason = reason.strip()
    if not reason:
        raise Invalid("sethours.no_reason")
    if len(reason) > volunteers.MAX_REASON:
        raise Invalid("leave.too_long", limit=volunteers.MAX_REASON, length=len(reason))
    activity = await volunteers.lock_activity(session, settings, activity_id)
    if not await may_manage(session, actor, activity.audience_kind, activity.audience_id):
        raise Denied("out_of_scope")
    if activity.status == "cancelled":
        raise Invalid("activity.is_cancelled", title=activity.title)
    if activity.status != "closed":
        raise Invalid("sethours.not_closed", title=activity.title)
    found = volunteers.pick(await volunteers.confirmed_signups(session, activity.id), name)
    if isinstance(found, list):
        options = "、".join(f"#{m.id}" for m in found)
        raise Invalid("sethours.ambiguous", name=name, options=options)
    if found is None:
        raise NotFound("sethours.not_on_list", name=name, title=activity.title)
    signup, member = found
    before = volunteers.effective_minutes(signup)
    signup.adjusted_minutes = minutes
    if minutes > 0:
        # Came after all (forgot to check in): hours given by hand make them a volunteer.
        signup.outcome = "served"
    audit.record(
        session,
        action="activity.hours_adjusted",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
        member_id=member.id,
        before=before,
        after=minutes,
        reason=reason,
    )
    await session.commit()
    return Adjusted(activity.id, activity.title, member.name, before, minutes)


def _counted_minutes() -> Any:
    return func.coalesce(SignUp.adjusted_minutes, SignUp.minutes, 0)


_signups = SignUp.__table__
_activities = Activity.__table__
_counted = func.coalesce(_signups.c.adjusted_minutes, _signups.c.minutes, 0)


def _served_since(since: str) -> Any:
    return func.sum(case((_activities.c.starts_at >= bindparam(since), _counted), else_=0))


# The member's served minutes in activities that started since the month's, quarter's and
# year's start and by now (binds: member_id, month, quarter, year, now; the year starts first).
# One row, for /me's single statement. Prebuilt: SQL and cache key once.
MY_MINUTES = (
    select(
        _served_since("month").label("minutes_month"),
        _served_since("quarter").label("minutes_quarter"),
        _served_since("year").label("minutes_year"),
    )
    .select_from(_signups.join(_activities, _activities.c.id == _signups.c.activity_id))
    .where(
        _signups.c.member_id == bindparam("member_id"),
        _signups.c.outcome == "served",
        _activities.c.starts_at >= bindparam("year"),
        _activities.c.starts_at <= bindparam("now"),
    )
)


def minutes_of(row: Row[*tuple[Any, ...]]) -> tuple[int, int, int]:
    """Month, quarter and year from a row holding MY_MINUTES's columns."""
    return (
        int(row.minutes_month or 0),
        int(row.minutes_quarter or 0),
        int(row.minutes_year or 0),
    )


async def my_minutes(
    session: AsyncSession, actor: Actor, starts: list[datetime], now: datetime
) -> list[int]:
    """The member's served minutes since each of `starts` (month, quarter, year for /me)."""
    result = []
    for since in starts:
        total = await session.scalar(
            select(func.sum(_counted_minutes()))
            .join(Activity, Activity.id == SignUp.activity_id)
            .where(
                SignUp.member_id == actor.member_id,
                SignUp.outcome == "served",
                Activity.starts_at >= since,
                Activity.starts_at <= now,
            )
        )
        result.append(int(total or 0))
    return result


@dataclass(frozen=True)
class HoursRow:
    name: str
    minutes: int
    activities: int


@dataclass(frozen=True)
class HoursReport:
    members: list[HoursRow]
    groups: list[HoursRow]
    total_minutes: int


async def hours_report(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    since: datetime,
    until: datetime,
) -> HoursReport:
    """Members and groups ranked by served hours for activities in [since, until); a secretary
    sees their branch, an admin the organisation."""
    if actor.role is not Role.ADMIN and not can_manage_branch(actor, actor.branch_id):
        raise Denied("no_permission")
    query = (
        select(
            Member.id,
            Member.name,
            Member.group_id,
            Branch.name,
            func.sum(_counted_minutes()),
            func.count(SignUp.id),
        )
        .join(Branch, Branch.id == Member.branch_id)
        .join(SignUp, SignUp.member_id == Member.id)
        .join(Activity, Activity.id == SignUp.activity_id)
        .where(
            Activity.organisation_id == settings.org_id,
            SignUp.outcome == "served",
            Activity.starts_at >= since,
            Activity.starts_at < until,
        )
        .group_by(Member.id, Member.name, Member.group_id, Branch.name)
    )
    whole = actor.role is Role.ADMIN
    if not whole:
        query = query.where(Member.branch_id == actor.branch_id)
    rows = (await session.execute(query)).all()

    def label(name: str, branch: str) -> str:
        # Across the organisation two branches may each have a 王伟 and a 第一党小组.
        return f"{branch}/{name}" if whole else name

    members = sorted(
        (HoursRow(label(name, b), int(total or 0), count) for _, name, _, b, total, count in rows),
        key=lambda r: (-r.minutes, r.name),
    )
    group_ids = {group_id for _, _, group_id, _, _, _ in rows if group_id is not None}
    names = {
        g.id: g.name
        for g in (await session.scalars(select(Group).where(Group.id.in_(group_ids)))).all()
    }
    by_group: dict[int, list[int]] = {}
    branch_of: dict[int, str] = {}
    for _, _, group_id, branch, total, count in rows:
        if group_id is not None:
            entry = by_group.setdefault(group_id, [0, 0])
            entry[0] += int(total or 0)
            entry[1] += count
            branch_of[group_id] = branch
    groups = sorted(
        (HoursRow(label(names[g], branch_of[g]), m, c) for g, (m, c) in by_group.items()),
        key=lambda r: (-r.minutes, r.name),
    )
    return HoursReport(members, groups, sum(r.minutes for r in members))
