"""Check-in and check-out at a volunteer activity: the rotating codes and QR links on the
organiser's screen (shared with meetings through checkin_codes), and marks by hand.

Check-in opens before the start and closes at the end; check-out stays open a while after the
end. The minutes served are counted at check-out, within the activity's own window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Denied, Invalid
from bot.services import audit, volunteers
from bot.services import checkin_codes as codes
from bot.services.audience import may_manage
from bot.services.checkin_codes import CheckinCode, CodeMiss
from bot.services.volunteers import VolunteerSettings
from storage.models import Activity, SignUp

QR_PREFIXES = ("vi_", "vo_")
_QR_PARAM = re.compile(r"^v([io])_([0-9]{1,9})_([0-9a-f]{12})$")


def _purpose(direction: str, medium: str) -> str:
    return f"va-{direction}-{medium}"


def qr_param_for(activity: Activity, direction: str, counter: int) -> str:
    token = codes.token_for(activity.secret, _purpose(direction, "qr"), activity.id, counter)
    return f"v{direction[0]}_{activity.id}_{token}"


def code_for(activity: Activity, direction: str, counter: int) -> str:
    return codes.code_for(activity.secret, _purpose(direction, "code"), activity.id, counter)


def is_checkin_param(param: str) -> bool:
    return param.startswith(QR_PREFIXES)


def _check_window(
    settings: VolunteerSettings, activity: Activity, now: datetime, direction: str = "in"
) -> None:
    """Check-in is open until the end, check-out until `checkout_after_minutes` after it."""
    volunteers.refuse_if_over(activity)
    opens = volunteers.opens_at(settings, activity)
    closes = activity.ends_at if direction == "in" else volunteers.closes_at(settings, activity)
    if not opens <= now < closes:
        tz = settings.tz
        raise Invalid(
            "checkin.outside_window",
            title=activity.title,
            opens=opens.astimezone(tz).strftime("%m-%d %H:%M"),
            closes=closes.astimezone(tz).strftime("%H:%M"),
        )


@dataclass(frozen=True)
class VolunteerCheck:
    activity_id: int
    title: str
    direction: str  # in | out
    late: bool
    already: bool
    # Check-out: the minutes served so far.
    minutes: int


def _record(
    activity: Activity, signup: SignUp, direction: str, method: str, now: datetime
) -> VolunteerCheck:
    """Check a confirmed sign-up in or out; a repeat changes nothing."""
    if direction == "in":
        if signup.checked_in_at is not None:
            late = signup.checked_in_at > activity.starts_at
            return VolunteerCheck(activity.id, activity.title, "in", late, True, 0)
        if now >= activity.ends_at:
            raise Invalid("activity.checkin_over", title=activity.title)
        signup.checked_in_at = now
        signup.checkin_method = method
        return VolunteerCheck(activity.id, activity.title, "in", now > activity.starts_at, False, 0)
    if signup.checked_in_at is None:
        raise Invalid("activity.not_checked_in", title=activity.title)
    if signup.checked_out_at is not None:
        return VolunteerCheck(activity.id, activity.title, "out", False, True, signup.minutes or 0)
    signup.checked_out_at = now
    signup.checkout_method = method
    signup.minutes = volunteers.served_minutes(activity, signup.checked_in_at, now)
    return VolunteerCheck(activity.id, activity.title, "out", False, False, signup.minutes)


async def _confirmed(session: AsyncSession, activity: Activity, member_id: int) -> SignUp:
    signup = await volunteers.signup_of(session, activity.id, member_id)
    if signup is None or signup.status != "confirmed":
        raise Denied("activity.not_signed_up", title=activity.title)
    return signup


async def _commit_check(
    session: AsyncSession, actor: Actor, result: VolunteerCheck, method: str
) -> None:
    if not result.already:
        audit.record(
            session,
            action=f"activity.check{result.direction}",
            entity="activity",
            entity_id=result.activity_id,
            actor_member_id=actor.member_id,
            method=method,
            minutes=result.minutes,
        )
        await session.commit()


async def match_code(
    session: AsyncSession, settings: VolunteerSettings, actor: Actor, code: str, *, now: datetime
) -> VolunteerCheck | CodeMiss:
    """`/checkin 123456` for an activity: the code says which activity and whether it is the
    check-in or the check-out code. The caller has checked the form and the attempts."""
    before = timedelta(minutes=settings.cfg.checkin_before_minutes)
    after = timedelta(minutes=settings.cfg.checkout_after_minutes)
    open_now = (
        await session.scalars(
            select(Activity).where(
                Activity.organisation_id == settings.org_id,
                Activity.status == "open",
                Activity.starts_at <= now + before,
                Activity.ends_at > now - after,
            )
        )
    ).all()
    grace = settings.code_grace_seconds
    for activity in open_now:
        for direction in ("in", "out"):
            purpose = _purpose(direction, "code")
            if codes.code_matches(code, activity.secret, purpose, activity.id, now, grace):
                signup = await _confirmed(session, activity, actor.member_id)
                result = _record(activity, signup, direction, "code", now)
                await _commit_check(session, actor, result, "code")
                return result
    expected = False
    for activity in open_now:
        mine = await volunteers.signup_of(session, activity.id, actor.member_id)
        expected = expected or (mine is not None and mine.status == "confirmed")
    return CodeMiss(compared=bool(open_now), expected=expected)


async def explain_closed(
    session: AsyncSession, settings: VolunteerSettings, actor: Actor, *, now: datetime
) -> None:
    """No activity is open for the member: say when their next one opens, if there is one."""
    upcoming = await session.scalar(
        select(Activity)
        .join(SignUp, SignUp.activity_id == Activity.id)
        .where(
            SignUp.member_id == actor.member_id,
            SignUp.status == "confirmed",
            Activity.status == "open",
            Activity.starts_at > now,
        )
        .order_by(Activity.starts_at)
        .limit(1)
    )
    if upcoming is not None:
        _check_window(settings, upcoming, now)


async def check_with_qr(
    session: AsyncSession, settings: VolunteerSettings, actor: Actor, param: str, *, now: datetime
) -> VolunteerCheck:
    """The deep link on the organiser's screen: /start vi_<activity>_<token> (or vo_ for out)."""
    await codes.check_attempts(session, actor, now)
    match = _QR_PARAM.match(param)
    activity = await session.get(Activity, int(match[2])) if match else None
    direction = "in" if match and match[1] == "i" else "out"
    # The token is checked before anything about the activity is said.
    if (
        match is None
        or activity is None
        or activity.organisation_id != settings.org_id
        or not codes.token_matches(
            match[3],
            activity.secret,
            _purpose(direction, "qr"),
            activity.id,
            now,
            settings.code_grace_seconds,
        )
    ):
        await codes.record_failure(session, actor, now)
        raise Invalid("checkin.stale_qr")
    signup = await _confirmed(session, activity, actor.member_id)
    _check_window(settings, activity, now, direction)
    result = _record(activity, signup, direction, "qr", now)
    await _commit_check(session, actor, result, "qr")
    return result


async def current_code(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    direction: str,
    *,
    now: datetime,
) -> CheckinCode:
    """This minute's check-in (or check-out) code and QR parameter, for the organiser's screen."""
    activity = await volunteers.managed_activity(session, actor, activity_id)
    _check_window(settings, activity, now, direction)
    counter = codes.counter(now)
    return CheckinCode(
        activity.id,
        activity.title,
        code_for(activity, direction, counter),
        qr_param_for(activity, direction, counter),
        codes.valid_until(now),
        volunteers.opens_at(settings, activity),
        activity.ends_at if direction == "in" else volunteers.closes_at(settings, activity),
    )


@dataclass(frozen=True)
class Marked:
    title: str
    marked: list[str]
    already: list[str]
    # Not signed up (or, for check-out, not checked in).
    refused: list[str]
    # A name two signed-up members share, with their numbers: "王伟（#12、#15）".
    ambiguous: list[str]


async def mark(
    session: AsyncSession,
    settings: VolunteerSettings,
    actor: Actor,
    activity_id: int,
    direction: str,
    names: list[str],
    *,
    now: datetime,
) -> Marked:
    """The organiser checks members in or out by name (a volunteer without a phone, say)."""
    activity = await volunteers.lock_activity(session, settings, activity_id)
    if not await may_manage(session, actor, activity.audience_kind, activity.audience_id):
        raise Denied("out_of_scope")
    _check_window(settings, activity, now, direction)
    rows = await volunteers.confirmed_signups(session, activity.id)
    marked: list[str] = []
    already: list[str] = []
    refused: list[str] = []
    ambiguous: list[str] = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        found = volunteers.pick(rows, name)
        if isinstance(found, list):
            ambiguous.append(f"{name}（{'、'.join(f'#{m.id}' for m in found)}）")
            continue
        if found is None:
            refused.append(name)
            continue
        signup = found[0]
        try:
            result = _record(activity, signup, direction, "manual", now)
        except Invalid:
            refused.append(name)
            continue
        (already if result.already else marked).append(name)
    if marked:
        audit.record(
            session,
            action=f"activity.marked_{direction}",
            entity="activity",
            entity_id=activity.id,
            actor_member_id=actor.member_id,
            names=marked,
        )
        await session.commit()
    return Marked(activity.title, marked, already, refused, ambiguous)
