"""志愿服务: activities with a number of places, a first-come waitlist, and their records.
Check-in and check-out are in volunteer_checkin, the hours served in volunteer_hours.

Every change to an activity's places locks the activity row first (FOR UPDATE on PostgreSQL; on
SQLite every writer holds the database lock from BEGIN IMMEDIATE), so concurrent sign-ups are
counted one after another and capacity is never exceeded. A place offered to the first on the
waitlist is held for them until they answer or the offer runs out.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.config import VolunteersConfig
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, items
from bot.services.audience import Audience, audience_members, chat_of, may_manage
from bot.services.names import normalise_name
from bot.texts import plain, t
from storage.models import Activity, Member, SignUp

JOB_REMINDER = "activity_reminder"
JOB_CLOSE = "activity_close"
JOB_OFFER = "activity_offer"
MAX_TITLE = 100
MAX_PLACE = 100
MAX_CAPACITY = 1000
MAX_REASON = 200
RECENT_DAYS = 60

# A sign-up that holds one of the places.
HOLDING = ("confirmed", "offered")
# A sign-up still in the activity (holding a place or waiting for one).
ACTIVE = ("confirmed", "offered", "waiting")


@dataclass(frozen=True)
class VolunteerSettings(items.PushScoped):
    push: items.PushSettings
    cfg: VolunteersConfig
    # The same rotating-code grace as meetings: one rule for every screen.
    code_grace_seconds: int


@dataclass(frozen=True)
class ActivityDraft:
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str
    capacity: int
    audience: Audience
    signup_deadline: datetime | None = None


# ---------------------------------------------------------------- texts


def when_text(lang: str, starts_at: datetime, ends_at: datetime, tz: ZoneInfo) -> str:
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return plain(
        t(
            lang,
            "activity.when",
            day=start.strftime("%Y-%m-%d"),
            start=start.strftime("%H:%M"),
            end=end.strftime("%H:%M"),
            wd=t(lang, f"wd.{start.weekday()}"),
        )
    )


def describe(activity: Activity, lang: str, tz: ZoneInfo, taken: int | None = None) -> str:
    """Title, time, place, places and deadline, as every activity message shows them."""
    lines = [
        t(lang, "activity.head", title=activity.title),
        t(lang, "activity.time", when=when_text(lang, activity.starts_at, activity.ends_at, tz)),
        t(lang, "activity.place", place=activity.place),
    ]
    if taken is None:
        lines.append(t(lang, "activity.capacity", capacity=activity.capacity))
    else:
        lines.append(t(lang, "activity.places", taken=taken, capacity=activity.capacity))
    if activity.signup_deadline < activity.starts_at:
        local = activity.signup_deadline.astimezone(tz)
        lines.append(t(lang, "activity.deadline", at=local.strftime("%m-%d %H:%M")))
    return "\n".join(lines)


def signup_buttons(activity_id: int, lang: str, status: str | None) -> dict[str, Any]:
    """The buttons under an activity message, for the member's current state."""

    def button(key: str, verb: str) -> dict[str, str]:
        return {"text": plain(t(lang, key)), "callback_data": f"va:{verb}:{activity_id}"}

    if status == "confirmed":
        row = [button("activity.btn_cancel", "cx")]
    elif status == "waiting":
        row = [button("activity.btn_leave_waitlist", "cx")]
    elif status == "offered":
        row = [button("activity.btn_accept", "ok"), button("activity.btn_decline", "no")]
    else:
        row = [button("activity.btn_signup", "su")]
    return {"inline_keyboard": [row]}


def served_minutes(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes from check-in to check-out, within the activity's own window."""
    start = max(checked_in_at, activity.starts_at)
    end = min(checked_out_at, activity.ends_at)
    return max(0, int((end - start).total_seconds() // 60))


def hours_text(minutes: int) -> str:
    """Minutes as hours with at most two decimals: 150 -> "2.5"."""
    value = (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(value.normalize(), "f")


# ---------------------------------------------------------------- creating


def validate(draft: ActivityDraft, now: datetime) -> None:
    if not draft.title.strip():
        raise Invalid("activity.no_title")
    if len(draft.title) > MAX_TITLE:
        raise Invalid("item.title_too_long", limit=MAX_TITLE)
    if not draft.place.strip():
        raise Invalid("activity.no_place")
    if len(draft.place) > MAX_PLACE:
        raise Invalid("meeting.place_too_long", limit=MAX_PLACE)
    if not 1 <= draft.capacity <= MAX_CAPACITY:
        raise Invalid("activity.bad_capacity", limit=MAX_CAPACITY)
    if draft.starts_at <= now:
        raise Invalid("activity.in_past")
    if draft.ends_at <= draft.starts_at:
        raise Invalid("activity.end_before_start")
    if draft.signup_deadline is not None and not now < draft.signup_deadline <= draft.starts_at:
        raise Invalid("activity.bad_deadline")


@dataclass(frozen=True)
class Created:
    activity_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    pushed: int


async def create_activity(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    draft: ActivityDraft,
    *,
    now: datetime,
) -> Created:
    """Store the activity, push it to the audience with 「报名」 and plan its jobs."""
    if not await may_manage(session, actor, draft.audience.kind, draft.audience.id):
        raise Denied("out_of_scope")
    validate(draft, now)
    activity = Activity(
        organisation_id=settings.org_id,
        audience_kind=draft.audience.kind,
        audience_id=draft.audience.id,
        title=draft.title.strip(),
        place=draft.place.strip(),
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        capacity=draft.capacity,
        signup_deadline=draft.signup_deadline or draft.starts_at,
        status="open",
        secret=secrets.token_hex(16),
        created_by_member_id=actor.member_id,
        created_at=now,
    )
    session.add(activity)
    await session.flush()
    members = await audience_members(
        session, settings.org_id, activity.audience_kind, activity.audience_id
    )
    pushed = await _notify(
        session, settings, activity, members, "activity.invitation", now=now, status=None
    )
    for hours in settings.cfg.remind_before_hours:
        moment = activity.starts_at - timedelta(hours=hours)
        if moment > now:
            add_job(
                session,
                organisation_id=settings.org_id,
                kind=JOB_REMINDER,
                payload={"activity_id": activity.id, "hours": hours},
                first=moment,
            )
    add_job(
        session,
        organisation_id=settings.org_id,
        kind=JOB_CLOSE,
        payload={"activity_id": activity.id},
        first=closes_at(settings, activity),
    )
    audit.record(
        session,
        action="activity.created",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
        title=activity.title,
        starts_at=activity.starts_at.isoformat(),
        capacity=activity.capacity,
        audience=f"{activity.audience_kind}:{activity.audience_id}",
    )
    await session.commit()
    return Created(activity.id, activity.title, activity.starts_at, activity.ends_at, pushed)


def opens_at(settings: VolunteerSettings, activity: Activity) -> datetime:
    return activity.starts_at - timedelta(minutes=settings.cfg.checkin_before_minutes)


def closes_at(settings: VolunteerSettings, activity: Activity) -> datetime:
    """Check-out closes, and the hours become final."""
    return activity.ends_at + timedelta(minutes=settings.cfg.checkout_after_minutes)


async def _notify(
    session: AsyncSession,
    settings: VolunteerSettings,
    activity: Activity,
    members: list[Member],
    key: str,
    *,
    now: datetime,
    status: str | bool | None = False,
    urgent: bool = False,
    **params: Any,
) -> int:
    """One message per reachable member: `key` above the activity. `status` (a sign-up state or
    None for "not signed up") adds the matching buttons; False adds none. `urgent` messages do
    not wait for the end of quiet hours."""
    outgoing: list[Outgoing] = []
    rendered: dict[str, str] = {}
    for member in members:
        chat = chat_of(member)
        if chat is None:
            continue
        lang = settings.push.language_of(member)
        if lang not in rendered:
            rendered[lang] = t(lang, key, **params) + "\n" + describe(activity, lang, settings.tz)
        markup = None
        if status is not False:
            assert status is None or isinstance(status, str)
            markup = signup_buttons(activity.id, lang, status)
        outgoing.append(
            Outgoing(chat, member.id, rendered[lang], "notice", markup=markup, urgent=urgent)
        )
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    return len(outgoing)


def _before_quiet_ends(settings: VolunteerSettings, activity: Activity, now: datetime) -> bool:
    """Whether a message held for quiet hours would arrive only after the activity starts."""
    return settings.push.quiet.release(now) >= activity.starts_at


# ---------------------------------------------------------------- signing up and cancelling


async def lock_activity(
    session: AsyncSession, settings: VolunteerSettings, activity_id: int
) -> Activity:
    """The activity, locked for this transaction: changes to its places are counted in turn."""
    activity = await session.scalar(
        select(Activity)
        .where(Activity.id == activity_id, Activity.organisation_id == settings.org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if activity is None:
        raise NotFound("activity.unknown", id=activity_id)
    return activity


def in_audience(actor: Actor, activity: Activity) -> bool:
    if actor.branch_id is None:
        return False
    if activity.audience_kind == "branch":
        return actor.branch_id == activity.audience_id
    if activity.audience_kind == "group":
        return actor.group_id == activity.audience_id
    return activity.audience_kind == "org"


async def signup_of(session: AsyncSession, activity_id: int, member_id: int) -> SignUp | None:
    return await session.scalar(
        select(SignUp)
        .where(SignUp.activity_id == activity_id, SignUp.member_id == member_id)
        .execution_options(populate_existing=True)
    )


async def _mine_locked(
    session: AsyncSession, settings: VolunteerSettings, actor: Actor, activity_id: int
) -> tuple[Activity, SignUp | None]:
    """The locked activity and the member's sign-up; only its audience may press its buttons."""
    activity = await lock_activity(session, settings, activity_id)
    signup = await signup_of(session, activity.id, actor.member_id)
    if signup is None and not in_audience(actor, activity):
        raise Denied("not_your_button")
    return activity, signup


async def _taken(session: AsyncSession, activity_id: int) -> int:
    count = await session.scalar(
        select(func.count(SignUp.id)).where(
            SignUp.activity_id == activity_id, SignUp.status.in_(HOLDING)
        )
    )
    return count or 0


async def _position(session: AsyncSession, signup: SignUp) -> int:
    """1 for the first on the waitlist."""
    ahead = await session.scalar(
        select(func.count(SignUp.id)).where(
            SignUp.activity_id == signup.activity_id,
            SignUp.status == "waiting",
            (SignUp.queued_at < signup.queued_at)
            | ((SignUp.queued_at == signup.queued_at) & (SignUp.id < signup.id)),
        )
    )
    return (ahead or 0) + 1


def refuse_if_over(activity: Activity) -> None:
    if activity.status == "cancelled":
        raise Invalid("activity.is_cancelled", title=activity.title)
    if activity.status == "closed":
        raise Invalid("activity.is_over", title=activity.title)


@dataclass(frozen=True)
class SignedUp:
    activity_id: int
    title: str
    # confirmed | waiting | offered
    status: str
    # On the waitlist: 1 for the first.
    position: int
    already: bool
    markup: dict[str, Any]


async def sign_up(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    *,
    now: datetime,
) -> SignedUp:
    """「报名」: a place while there is one, else the end of the waitlist. Pressing again changes
    nothing."""
    activity = await lock_activity(session, settings, activity_id)
    if not in_audience(actor, activity):
        raise Denied("not_your_button")
    refuse_if_over(activity)
    signup = await signup_of(session, activity.id, actor.member_id)
    if signup is not None and signup.status in ACTIVE:
        position = await _position(session, signup) if signup.status == "waiting" else 0
        return SignedUp(
            activity.id,
            activity.title,
            signup.status,
            position,
            True,
            signup_buttons(activity.id, actor.language, signup.status),
        )
    if now >= activity.signup_deadline:
        raise Invalid("activity.deadline_passed", title=activity.title)
    status = "confirmed" if await _taken(session, activity.id) < activity.capacity else "waiting"
    if signup is None:
        signup = SignUp(activity_id=activity.id, member_id=actor.member_id)
        session.add(signup)
    # Signing up again after cancelling goes to the back of the queue.
    signup.status = status
    signup.queued_at = now
    signup.offered_at = signup.offer_expires_at = None
    await session.flush()
    position = await _position(session, signup) if status == "waiting" else 0
    audit.record(
        session,
        action=f"activity.{'signup' if status == 'confirmed' else 'waitlist'}",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
        position=position,
    )
    await session.commit()
    return SignedUp(
        activity.id,
        activity.title,
        status,
        position,
        False,
        signup_buttons(activity.id, actor.language, status),
    )


@dataclass(frozen=True)
class Cancelled:
    activity_id: int
    title: str
    # What the member had: confirmed | waiting | offered, or None when they had nothing.
    had: str | None
    markup: dict[str, Any]


async def cancel_signup(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    *,
    now: datetime,
) -> Cancelled:
    """「取消报名」 until the start; a freed place is offered to the first on the waitlist."""
    activity, signup = await _mine_locked(session, settings, actor, activity_id)
    markup = signup_buttons(activity.id, actor.language, None)
    if signup is None or signup.status not in ACTIVE:
        return Cancelled(activity.id, activity.title, None, markup)
    refuse_if_over(activity)
    if now >= activity.starts_at:
        raise Invalid("activity.started", title=activity.title)
    if signup.checked_in_at is not None:
        raise Invalid("activity.checked_in", title=activity.title)
    had = signup.status
    signup.status = "cancelled"
    signup.offered_at = signup.offer_expires_at = None
    audit.record(
        session,
        action="activity.cancelled_signup",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
        had=had,
    )
    if had in HOLDING:
        await session.flush()
        await _offer_next(session, settings, activity, now=now)
    await session.commit()
    return Cancelled(activity.id, activity.title, had, markup)


# An offer may run out at the start itself rather than the evening before when that evening
# would leave less than this to answer.
MIN_EVENING_OFFER = timedelta(hours=1)


def offer_expiry(settings: VolunteerSettings, starts_at: datetime, now: datetime) -> datetime:
    """When a place offered `now` passes to the next on the waitlist: `offer_hours` later, but
    never at night (the organisation's quiet hours, 22:00 to 07:30 by default), when no one
    answers: an offer that would run out then runs until the quiet hours end. Never past the
    start either (a place is no use once the activity has begun); when the start itself falls
    at night, the offer runs out as the quiet hours begin the evening before, if that still
    leaves an hour, and at the start otherwise (an offer made that same night)."""
    quiet = settings.push.quiet
    expires = quiet.release(now + timedelta(hours=settings.cfg.offer_hours))
    if expires <= starts_at:
        return expires
    if quiet.contains(starts_at):
        evening = _quiet_began(settings, starts_at)
        if evening - now >= MIN_EVENING_OFFER:
            return evening
    return starts_at


def _quiet_began(settings: VolunteerSettings, moment: datetime) -> datetime:
    """The start of the quiet hours that `moment` falls in (as UTC)."""
    start = settings.push.quiet.start_minute
    local = moment.astimezone(settings.tz)
    day = local.date()
    if local.hour * 60 + local.minute < start:
        day -= timedelta(days=1)  # after midnight: they began the evening before
    began = datetime.combine(day, time(start // 60, start % 60), tzinfo=settings.tz)
    return began.astimezone(UTC)


async def _offer_next(
    session: AsyncSession, settings: VolunteerSettings, activity: Activity, *, now: datetime
) -> Member | None:
    """Offer a free place to the first on the waitlist, if there is both. The caller commits."""
    if activity.status != "open" or now >= activity.starts_at:
        return None
    if await _taken(session, activity.id) >= activity.capacity:
        return None
    row = (
        await session.execute(
            select(SignUp, Member)
            .join(Member, Member.id == SignUp.member_id)
            .where(SignUp.activity_id == activity.id, SignUp.status == "waiting")
            .order_by(SignUp.queued_at, SignUp.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    signup, member = row
    signup.status = "offered"
    signup.offered_at = now
    signup.offer_expires_at = offer_expiry(settings, activity.starts_at, now)
    await _notify(
        session,
        settings,
        activity,
        [member],
        "activity.offer",
        now=now,
        status="offered",
        # The offer's clock runs from now: held until the morning, it would arrive spent.
        urgent=True,
        until=signup.offer_expires_at.astimezone(settings.tz).strftime("%m-%d %H:%M"),
    )
    add_job(
        session,
        organisation_id=settings.org_id,
        kind=JOB_OFFER,
        payload={"signup_id": signup.id, "offered_at": now.isoformat()},
        first=signup.offer_expires_at,
    )
    audit.record(
        session,
        action="activity.offered",
        entity="activity",
        entity_id=activity.id,
        member_id=member.id,
        until=signup.offer_expires_at.isoformat(),
    )
    return member


@dataclass(frozen=True)
class OfferAnswered:
    activity_id: int
    title: str
    # confirmed (accepted, or had it already) | declined
    status: str
    markup: dict[str, Any]


async def answer_offer(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    accept: bool,
    *,
    now: datetime,
) -> OfferAnswered:
    """「确认参加」 or 「放弃」 on an offered place. A late answer finds the offer passed on."""
    activity, signup = await _mine_locked(session, settings, actor, activity_id)
    refuse_if_over(activity)
    if signup is None:
        raise Invalid("activity.no_offer", title=activity.title)
    if signup.status == "confirmed":
        markup = signup_buttons(activity.id, actor.language, "confirmed")
        return OfferAnswered(activity.id, activity.title, "confirmed", markup)
    if signup.status != "offered":
        raise Invalid("activity.no_offer", title=activity.title)
    assert signup.offer_expires_at is not None
    if now >= signup.offer_expires_at:
        # The expiry job may not have run yet: pass the place on now, then say so.
        await _expire_offer(session, settings, activity, signup, now=now, notify=False)
        await session.commit()
        raise Invalid("activity.offer_expired", title=activity.title)
    signup.status = "confirmed" if accept else "declined"
    signup.offered_at = signup.offer_expires_at = None
    audit.record(
        session,
        action="activity.offer_accepted" if accept else "activity.offer_declined",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
    )
    if not accept:
        await session.flush()
        await _offer_next(session, settings, activity, now=now)
    await session.commit()
    status = "confirmed" if accept else "declined"
    markup = signup_buttons(activity.id, actor.language, status if accept else None)
    return OfferAnswered(activity.id, activity.title, status, markup)


async def _expire_offer(
    session: AsyncSession,
    settings: VolunteerSettings,
    activity: Activity,
    signup: SignUp,
    *,
    now: datetime,
    notify: bool,
) -> None:
    signup.status = "expired"
    signup.offered_at = signup.offer_expires_at = None
    audit.record(
        session,
        action="activity.offer_expired",
        entity="activity",
        entity_id=activity.id,
        member_id=signup.member_id,
    )
    if notify:
        member = await session.get(Member, signup.member_id)
        if member is not None:
            await _notify(
                session, settings, activity, [member], "activity.offer_expired_notice", now=now
            )
    await session.flush()
    await _offer_next(session, settings, activity, now=now)


async def fire_offer_expiry(
    session: AsyncSession, settings: VolunteerSettings, firing: Firing
) -> None:
    """The offer's time is up: if it was not answered, it passes to the next on the waitlist."""
    found = await session.get(SignUp, int(firing.payload["signup_id"]))
    if found is None:
        return
    activity = await lock_activity(session, settings, found.activity_id)
    # Read again under the lock: an answer may have come in since.
    signup = await signup_of(session, activity.id, found.member_id)
    if (
        signup is None
        or signup.status != "offered"
        or signup.offered_at is None
        # A later offer to the same member has its own job.
        or signup.offered_at != datetime.fromisoformat(str(firing.payload.get("offered_at")))
        or activity.status != "open"
    ):
        return
    await _expire_offer(session, settings, activity, signup, now=firing.now, notify=True)


async def fire_reminder(session: AsyncSession, settings: VolunteerSettings, firing: Firing) -> None:
    activity = await session.get(Activity, int(firing.payload["activity_id"]))
    # Fired late (the bot was down): a reminder after the start only confuses.
    if activity is None or activity.status != "open" or firing.now >= activity.starts_at:
        return
    members = list(
        (
            await session.scalars(
                select(Member)
                .join(SignUp, SignUp.member_id == Member.id)
                .where(SignUp.activity_id == activity.id, SignUp.status == "confirmed")
                .order_by(Member.id)
            )
        ).all()
    )
    await _notify(
        session,
        settings,
        activity,
        members,
        "activity.reminder",
        now=firing.now,
        status="confirmed",
        urgent=_before_quiet_ends(settings, activity, firing.now),
        hours=int(firing.payload.get("hours", 1)),
    )


# ---------------------------------------------------------------- records


async def managed_activity(session: AsyncSession, actor: Actor, activity_id: int) -> Activity:
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity.unknown", id=activity_id)
    if not await may_manage(session, actor, activity.audience_kind, activity.audience_id):
        raise Denied("out_of_scope")
    return activity


async def confirmed_signups(session: AsyncSession, activity_id: int) -> list[tuple[SignUp, Member]]:
    rows = await session.execute(
        select(SignUp, Member)
        .join(Member, Member.id == SignUp.member_id)
        .where(SignUp.activity_id == activity_id, SignUp.status == "confirmed")
        .order_by(Member.id)
    )
    return [(signup, member) for signup, member in rows]


def pick(
    rows: list[tuple[SignUp, Member]], ref: str
) -> tuple[SignUp, Member] | list[Member] | None:
    """The sign-up a name (or "#12", a member number) means; the candidates when a name is
    shared (an activity for the whole organisation may have two 王伟); None when nobody."""
    ref = normalise_name(ref)
    number = re.fullmatch(r"#([0-9]{1,9})", ref)
    found = [(s, m) for s, m in rows if (m.id == int(number[1]) if number else m.name == ref)]
    if len(found) > 1:
        return [m for _, m in found]
    return found[0] if found else None


def effective_minutes(signup: SignUp) -> int:
    if signup.adjusted_minutes is not None:
        return signup.adjusted_minutes
    return signup.minutes or 0


@dataclass(frozen=True)
class ActivitySummary:
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    status: str
    capacity: int
    taken: int
    waiting: int
    # The viewer's own sign-up state, for members' lists.
    mine: str | None
    # The viewer may press 「报名」 now: in the audience, not signed up, before the deadline.
    joinable: bool


async def _counts(session: AsyncSession, activity_ids: list[int]) -> dict[int, tuple[int, int]]:
    if not activity_ids:
        return {}
    rows = await session.execute(
        select(
            SignUp.activity_id,
            func.count(SignUp.id).filter(SignUp.status.in_(HOLDING)),
            func.count(SignUp.id).filter(SignUp.status == "waiting"),
        )
        .where(SignUp.activity_id.in_(activity_ids))
        .group_by(SignUp.activity_id)
    )
    return {a: (taken, waiting) for a, taken, waiting in rows}


async def list_activities(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    *,
    now: datetime,
    limit: int = 15,
) -> tuple[list[ActivitySummary], list[ActivitySummary]]:
    """Open (soonest first) and recent (latest first) activities: those the actor manages, and
    those a member may sign up to."""
    rows = (
        await session.scalars(
            select(Activity)
            .where(
                Activity.organisation_id == settings.org_id,
                Activity.starts_at >= now - timedelta(days=RECENT_DAYS),
            )
            .order_by(Activity.starts_at, Activity.id)
        )
    ).all()
    visible: list[tuple[Activity, bool]] = []
    for activity in rows:
        manages = await may_manage(session, actor, activity.audience_kind, activity.audience_id)
        if manages or (in_audience(actor, activity) and activity.status == "open"):
            visible.append((activity, manages))
    counts = await _counts(session, [a.id for a, _ in visible])
    mine = {
        s.activity_id: s.status
        for s in (
            await session.scalars(
                select(SignUp).where(
                    SignUp.member_id == actor.member_id,
                    SignUp.activity_id.in_([a.id for a, _ in visible]),
                )
            )
        ).all()
    }
    upcoming: list[ActivitySummary] = []
    recent: list[ActivitySummary] = []
    for activity, _ in visible:
        taken, waiting = counts.get(activity.id, (0, 0))
        summary = ActivitySummary(
            activity.id,
            activity.title,
            activity.starts_at,
            activity.ends_at,
            activity.status,
            activity.capacity,
            taken,
            waiting,
            mine.get(activity.id),
            in_audience(actor, activity)
            and activity.status == "open"
            and now < activity.signup_deadline
            and mine.get(activity.id) not in ACTIVE,
        )
        (upcoming if activity.status == "open" else recent).append(summary)
    recent.reverse()
    return upcoming[:limit], recent[:limit]


@dataclass(frozen=True)
class RosterRow:
    name: str
    status: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    checkout_method: str | None
    minutes: int | None
    outcome: str | None
    offer_expires_at: datetime | None


@dataclass(frozen=True)
class RosterView:
    activity: Activity
    confirmed: list[RosterRow]
    offered: list[RosterRow]
    waiting: list[RosterRow]
    cancelled: int


async def roster(session: AsyncSession, actor: Actor, activity_id: int) -> RosterView:
    activity = await managed_activity(session, actor, activity_id)
    rows = (
        await session.execute(
            select(SignUp, Member)
            .join(Member, Member.id == SignUp.member_id)
            .where(SignUp.activity_id == activity.id)
            .order_by(SignUp.queued_at, SignUp.id)
        )
    ).all()
    view: dict[str, list[RosterRow]] = {"confirmed": [], "offered": [], "waiting": []}
    cancelled = 0
    for signup, member in rows:
        if signup.status not in view:
            cancelled += signup.status == "cancelled"
            continue
        minutes = None
        if signup.outcome == "served" or signup.checked_out_at is not None:
            minutes = effective_minutes(signup)
        view[signup.status].append(
            RosterRow(
                member.name,
                signup.status,
                signup.checked_in_at,
                signup.checked_out_at,
                signup.checkout_method,
                minutes,
                signup.outcome,
                signup.offer_expires_at,
            )
        )
    return RosterView(activity, view["confirmed"], view["offered"], view["waiting"], cancelled)


async def activity_detail(
    session: AsyncSession, actor: Actor, activity_id: int
) -> tuple[Activity, int, int]:
    """The activity with its taken places and waitlist length, for its organisers."""
    activity = await managed_activity(session, actor, activity_id)
    taken, waiting = (await _counts(session, [activity.id])).get(activity.id, (0, 0))
    return activity, taken, waiting


@dataclass(frozen=True)
class ActivityCancelled:
    activity_id: int
    title: str
    notified: int


async def cancel_activity(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    reason: str,
    *,
    now: datetime,
) -> ActivityCancelled:
    """Call the activity off before it starts; everyone signed up or waiting is told."""
    activity = await lock_activity(session, settings, activity_id)
    if not await may_manage(session, actor, activity.audience_kind, activity.audience_id):
        raise Denied("out_of_scope")
    refuse_if_over(activity)
    if now >= activity.starts_at:
        raise Invalid("activity.started", title=activity.title)
    if len(reason) > MAX_REASON:
        raise Invalid("leave.too_long", limit=MAX_REASON, length=len(reason))
    activity.status = "cancelled"
    activity.cancelled_at = now
    members = list(
        (
            await session.scalars(
                select(Member)
                .join(SignUp, SignUp.member_id == Member.id)
                .where(SignUp.activity_id == activity.id, SignUp.status.in_(ACTIVE))
                .order_by(Member.id)
            )
        ).all()
    )
    notified = await _notify(
        session,
        settings,
        activity,
        members,
        "activity.cancelled_reason" if reason else "activity.cancelled_notice",
        now=now,
        reason=reason,
    )
    audit.record(
        session,
        action="activity.cancelled",
        entity="activity",
        entity_id=activity.id,
        actor_member_id=actor.member_id,
        reason=reason,
    )
    await session.commit()
    return ActivityCancelled(activity.id, activity.title, notified)
