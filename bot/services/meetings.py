"""三会一课: scheduling a meeting for the right audience, answers, check-in, closing, minutes.

A meeting's invitees are fixed when it is scheduled. Jobs carry the meeting's revision they were
planned for, so moving a meeting leaves the old reminders and close harmlessly stale.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Join,
    Row,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.auth import Actor, can_manage_branch
from bot.config import MeetingsConfig
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, items, tallies
from bot.services import checkin_codes as codes
from bot.services.audience import (
    Audience,
    audience_members,
    chat_of,
    may_manage,
    resolve_audience,
)
from bot.services.checkin_codes import CheckinCode, CodeMiss
from bot.services.meeting_kinds import kind_rule
from bot.texts import plain, t
from storage.models import (
    Branch,
    Group,
    Invitation,
    Item,
    Meeting,
    Member,
    Receipt,
)

JOB_REMINDER = "meeting_reminder"
JOB_CLOSE = "meeting_close"
MAX_TITLE = 100
MAX_PLACE = 100
MAX_REASON = 200
MAX_MINUTES = 3000
# A make-up (补学) is due this many days after the meeting closes.
MAKEUP_DAYS = 14
QR_PREFIX = "ci_"
_QR_PARAM = re.compile(r"^ci_([0-9]{1,9})_([0-9a-f]{12})$")


@dataclass(frozen=True)
class MeetingSettings(items.PushScoped):
    push: items.PushSettings
    cfg: MeetingsConfig


@dataclass(frozen=True)
class MeetingDraft:
    kind: str
    title: str
    starts_at: datetime
    audience: Audience
    place: str | None = None


def when_text(lang: str, moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return plain(
        t(
            lang,
            "meeting.when",
            at=local.strftime("%Y-%m-%d %H:%M"),
            wd=t(lang, f"wd.{local.weekday()}"),
        )
    )


def describe(meeting: Meeting, lang: str, tz: ZoneInfo) -> str:
    """The kind, title, time and place, as every meeting message starts."""
    lines = [
        t(lang, "meeting.head", kind=t(lang, f"kind.{meeting.kind}"), title=meeting.title),
        t(lang, "meeting.time", when=when_text(lang, meeting.starts_at, tz)),
    ]
    if meeting.place:
        lines.append(t(lang, "meeting.place", place=meeting.place))
    return "\n".join(lines)


def answer_buttons(meeting_id: int, lang: str, answer: str | None) -> dict[str, Any]:
    def label(key: str, value: str) -> str:
        text = plain(t(lang, key))
        return f"✔ {text}" if answer == value else text

    return {
        "inline_keyboard": [
            [
                {
                    "text": label("meeting.btn_attend", "attend"),
                    "callback_data": f"mt:go:{meeting_id}",
                },
                {
                    "text": label("meeting.btn_leave", "leave"),
                    "callback_data": f"mt:lv:{meeting_id}",
                },
            ]
        ]
    }


# ---------------------------------------------------------------- audience and scheduling


async def meeting_audience(
    session: AsyncSession, settings: MeetingSettings, actor: Actor, kind: str, ref: str | None
) -> Audience:
    """The kind's default audience (the secretary's branch, committee or group), or `#ref`."""
    wanted = kind_rule(settings.cfg, kind).audience
    if ref is not None and ref.strip().lstrip("#").strip():
        named = await resolve_audience(session, settings.org_id, actor, ref)
        if wanted == "group":
            if named.kind != "group":
                raise Invalid("meeting.need_group")
            return named
        if named.kind != "branch":
            raise Invalid("meeting.need_branch", kind=t(actor.language, f"kind.{kind}"))
        return Audience(wanted, named.id, named.label)
    if wanted == "group":
        if actor.group_id is None:
            raise Invalid("meeting.need_group")
        group = await session.get(Group, actor.group_id)
        assert group is not None
        if not await may_manage(session, actor, "group", group.id):
            raise Denied("out_of_scope")
        branch = await session.get(Branch, group.branch_id)
        assert branch is not None
        return Audience("group", group.id, f"{branch.name}/{group.name}")
    if actor.branch_id is None:
        raise Invalid("meeting.need_branch", kind=t(actor.language, f"kind.{kind}"))
    if not can_manage_branch(actor, actor.branch_id):
        raise Denied("out_of_scope")
    branch = await session.get(Branch, actor.branch_id)
    assert branch is not None
    return Audience(wanted, branch.id, branch.name)


def validate(draft: MeetingDraft, now: datetime) -> None:
    if not draft.title.strip():
        raise Invalid("meeting.no_title")
    if len(draft.title) > MAX_TITLE:
        raise Invalid("item.title_too_long", limit=MAX_TITLE)
    if draft.place is not None and len(draft.place) > MAX_PLACE:
        raise Invalid("meeting.place_too_long", limit=MAX_PLACE)
    if draft.starts_at <= now:
        raise Invalid("meeting.in_past")


@dataclass(frozen=True)
class Scheduled:
    meeting_id: int
    title: str
    starts_at: datetime
    invited: int


async def create_meeting(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    draft: MeetingDraft,
    *,
    now: datetime,
) -> Scheduled:
    """Store the meeting, invite its audience through the outbox and plan its jobs.

    The caller commits (a time poll closes in the same transaction)."""
    validate(draft, now)
    audience = draft.audience
    if audience.kind == "group":
        group = await session.get(Group, audience.id)
        assert group is not None
        branch_id, group_id = group.branch_id, group.id
    else:
        assert audience.id is not None
        branch_id, group_id = audience.id, None
    assert audience.id is not None
    meeting = Meeting(
        organisation_id=settings.org_id,
        branch_id=branch_id,
        group_id=group_id,
        kind=draft.kind,
        audience_kind=audience.kind,
        audience_id=audience.id,
        title=draft.title.strip(),
        place=(draft.place or "").strip() or None,
        starts_at=draft.starts_at,
        status="scheduled",
        revision=0,
        secret=secrets.token_hex(16),
        created_by_member_id=actor.member_id,
        created_at=now,
    )
    session.add(meeting)
    await session.flush()
    members = await audience_members(session, settings.org_id, audience.kind, audience.id)
    if members:
        await session.execute(
            insert(Invitation),
            [
                {
                    "meeting_id": meeting.id,
                    "member_id": m.id,
                    "branch_id": m.branch_id,
                    "group_id": m.group_id,
                }
                for m in members
            ],
        )
    await _notify(session, settings, meeting, members, "meeting.invitation", now=now, buttons=True)
    _plan_jobs(session, settings, meeting, now)
    audit.record(
        session,
        action="meeting.scheduled",
        entity="meeting",
        entity_id=meeting.id,
        actor_member_id=actor.member_id,
        kind=draft.kind,
        title=meeting.title,
        starts_at=meeting.starts_at.isoformat(),
        audience=f"{audience.kind}:{audience.id}",
    )
    return Scheduled(meeting.id, meeting.title, meeting.starts_at, len(members))


async def schedule(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    draft: MeetingDraft,
    *,
    now: datetime,
) -> Scheduled:
    """A secretary's /meeting as one use case."""
    if not await may_manage(session, actor, draft.audience.kind, draft.audience.id):
        raise Denied("out_of_scope")
    result = await create_meeting(session, settings, actor, draft, now=now)
    await session.commit()
    return result


class MeetingTime(Protocol):
    """What the check-in window reads of a meeting: a Meeting, or a row of those columns."""

    @property
    def title(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...


def window(settings: MeetingSettings, meeting: MeetingTime) -> tuple[datetime, datetime]:
    cfg = settings.cfg
    return (
        meeting.starts_at - timedelta(minutes=cfg.checkin_before_minutes),
        meeting.starts_at + timedelta(minutes=cfg.checkin_after_minutes),
    )


def _plan_jobs(
    session: AsyncSession, settings: MeetingSettings, meeting: Meeting, now: datetime
) -> None:
    stamp = meeting.revision
    for hours in settings.cfg.remind_before_hours:
        moment = meeting.starts_at - timedelta(hours=hours)
        if moment > now:
            add_job(
                session,
                organisation_id=settings.org_id,
                kind=JOB_REMINDER,
                payload={"meeting_id": meeting.id, "revision": stamp, "hours": hours},
                first=moment,
            )
    add_job(
        session,
        organisation_id=settings.org_id,
        kind=JOB_CLOSE,
        payload={"meeting_id": meeting.id, "revision": stamp},
        first=window(settings, meeting)[1],
    )


async def _notify(
    session: AsyncSession,
    settings: MeetingSettings,
    meeting: Meeting,
    members: list[Member],
    key: str,
    *,
    now: datetime,
    buttons: bool = False,
    answers: dict[int, str | None] | None = None,
    **params: Any,
) -> int:
    """One message per reachable member: `key` above the meeting's description."""
    outgoing: list[Outgoing] = []
    rendered: dict[str, str] = {}
    for member in members:
        chat = chat_of(member)
        if chat is None:
            continue
        lang = settings.push.language_of(member)
        if lang not in rendered:
            rendered[lang] = t(lang, key, **params) + "\n" + describe(meeting, lang, settings.tz)
        answer = (answers or {}).get(member.id)
        markup = answer_buttons(meeting.id, lang, answer) if buttons else None
        outgoing.append(Outgoing(chat, member.id, rendered[lang], "notice", markup=markup))
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    return len(outgoing)


async def _invitees(session: AsyncSession, meeting_id: int) -> list[tuple[Invitation, Member]]:
    rows = (
        await session.execute(
            select(Invitation, Member)
            .join(Member, Invitation.member_id == Member.id)
            .where(Invitation.meeting_id == meeting_id)
            .order_by(Member.name, Member.id)
        )
    ).all()
    return [(i, m) for i, m in rows]


# ---------------------------------------------------------------- members' answers


async def _my_invitation(
    session: AsyncSession, actor: Actor, meeting_id: int
) -> tuple[Meeting, Invitation]:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("meeting.unknown", id=meeting_id)
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.meeting_id == meeting_id, Invitation.member_id == actor.member_id
        )
    )
    if invitation is None:
        raise Denied("not_your_button")
    return meeting, invitation


def _may_still_answer(meeting: Meeting, now: datetime) -> None:
    if meeting.status == "cancelled":
        raise Invalid("meeting.is_cancelled", title=meeting.title)
    if meeting.status == "closed" or now >= meeting.starts_at:
        raise Invalid("meeting.started", title=meeting.title)


async def check_may_answer(
    session: AsyncSession, actor: Actor, meeting_id: int, *, now: datetime
) -> str:
    """Before asking for a leave reason: the member is invited and it has not started."""
    meeting, _ = await _my_invitation(session, actor, meeting_id)
    _may_still_answer(meeting, now)
    return meeting.title


@dataclass(frozen=True)
class Answered:
    title: str
    answer: str
    changed: bool
    markup: dict[str, Any]


async def answer(
    session: AsyncSession,
    actor: Actor,
    meeting_id: int,
    choice: str,
    *,
    now: datetime,
    reason: str | None = None,
) -> Answered:
    meeting, invitation = await _my_invitation(session, actor, meeting_id)
    _may_still_answer(meeting, now)
    if choice == "leave":
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("leave.empty")
        if len(reason) > MAX_REASON:
            raise Invalid("leave.too_long", limit=MAX_REASON, length=len(reason))
    else:
        reason = None
    changed = invitation.answer != choice or invitation.leave_reason != reason
    if changed:
        invitation.answer = choice
        invitation.leave_reason = reason
        invitation.answered_at = now
        audit.record(
            session,
            action=f"meeting.{choice}",
            entity="meeting",
            entity_id=meeting.id,
            actor_member_id=actor.member_id,
            reason=reason or "",
        )
        await session.commit()
    return Answered(
        meeting.title, choice, changed, answer_buttons(meeting.id, actor.language, choice)
    )


# ---------------------------------------------------------------- check-in


def code_for(meeting: Meeting, counter: int) -> str:
    return codes.code_for(meeting.secret, "code", meeting.id, counter)


def qr_param_for(meeting: Meeting, counter: int) -> str:
    """The deep link's start parameter, ci_<meeting>_<token>: Telegram allows 64 characters."""
    return f"{QR_PREFIX}{meeting.id}_{codes.token_for(meeting.secret, 'qr', meeting.id, counter)}"


async def current_code(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    meeting_id: int,
    *,
    now: datetime,
) -> CheckinCode:
    """The code and QR parameter for this minute, for the organiser's screen."""
    meeting = await _managed(session, actor, meeting_id)
    opens, closes = window(settings, meeting)
    _check_open(settings, meeting, now)
    counter = codes.counter(now)
    return CheckinCode(
        meeting.id,
        meeting.title,
        code_for(meeting, counter),
        qr_param_for(meeting, counter),
        codes.valid_until(now),
        opens,
        closes,
    )


def _check_open(settings: MeetingSettings, meeting: MeetingTime, now: datetime) -> None:
    if meeting.status == "cancelled":
        raise Invalid("meeting.is_cancelled", title=meeting.title)
    opens, closes = window(settings, meeting)
    if meeting.status == "closed" or not opens <= now < closes:
        tz = settings.tz
        raise Invalid(
            "checkin.outside_window",
            title=meeting.title,
            opens=opens.astimezone(tz).strftime("%m-%d %H:%M"),
            closes=closes.astimezone(tz).strftime("%H:%M"),
        )


@dataclass(frozen=True)
class CheckedIn:
    meeting_id: int
    title: str
    late: bool
    already: bool


def _record_checkin(
    meeting: Meeting, invitation: Invitation, method: str, now: datetime, by: int
) -> CheckedIn:
    if invitation.checked_in_at is not None:
        late = invitation.checked_in_at > meeting.starts_at
        return CheckedIn(meeting.id, meeting.title, late, True)
    invitation.checked_in_at = now
    invitation.checkin_method = method
    invitation.checked_in_by_member_id = by
    return CheckedIn(meeting.id, meeting.title, now > meeting.starts_at, False)


# A member checking in, prebuilt (everyone at a meeting does it within minutes): one statement
# reads their recent wrong codes (codes.FAILURES, always one row) with the meetings the code or
# link may be for and their invitation to each; a first check-in then updates the invitation
# only if it is still unchecked, so a repeat, or a second device racing, writes nothing more.
_meetings = Meeting.__table__
# A Table, for update() (a model's __table__ is typed as any FromClause).
_invitations = Invitation.metadata.tables[Invitation.__tablename__]
_CHECKIN_COLUMNS = (
    codes.FAILURES.c.failures,
    _meetings.c.id,
    _meetings.c.organisation_id,
    _meetings.c.title,
    _meetings.c.secret,
    _meetings.c.starts_at,
    _meetings.c.status,
    _invitations.c.id.label("invitation_id"),
    _invitations.c.checked_in_at,
)


def _checkin_rows(meetings_on: ColumnElement[bool]) -> Join:
    return codes.FAILURES.outerjoin(_meetings, meetings_on).outerjoin(
        _invitations,
        and_(
            _invitations.c.meeting_id == _meetings.c.id,
            _invitations.c.member_id == bindparam("member_id"),
        ),
    )


# Binds: codes.failure_params, org_id, and the window's earliest and latest start.
_OPEN_FOR_CODE = (
    select(*_CHECKIN_COLUMNS)
    .select_from(
        _checkin_rows(
            and_(
                _meetings.c.organisation_id == bindparam("org_id"),
                _meetings.c.status == "scheduled",
                _meetings.c.starts_at > bindparam("earliest"),
                _meetings.c.starts_at <= bindparam("latest"),
            )
        )
    )
    .order_by(_meetings.c.starts_at, _meetings.c.id)
)
# Binds: codes.failure_params and meeting_id (None: the link named none).
_FOR_QR = select(*_CHECKIN_COLUMNS).select_from(
    _checkin_rows(_meetings.c.id == bindparam("meeting_id"))
)
_CHECK_IN = (
    update(_invitations)
    .where(_invitations.c.id == bindparam("invitation_id"), _invitations.c.checked_in_at.is_(None))
    .values(
        checked_in_at=bindparam("now"),
        checkin_method=bindparam("method"),
        checked_in_by_member_id=bindparam("by"),
    )
)
_CHECKED_IN_AT = select(_invitations.c.checked_in_at).where(
    _invitations.c.id == bindparam("invitation_id")
)


async def _check_in(
    session: AsyncSession, actor: Actor, meeting: Row[*tuple[Any, ...]], method: str, now: datetime
) -> CheckedIn:
    """Check the member in to a meeting read by _OPEN_FOR_CODE or _FOR_QR (open, and the code
    or link matched); commits a first check-in."""
    if meeting.invitation_id is None:
        raise Denied("checkin.not_invited", title=meeting.title)
    checked_in_at: datetime | None = meeting.checked_in_at
    if checked_in_at is None:
        done = await session.execute(
            _CHECK_IN,
            {
                "invitation_id": meeting.invitation_id,
                "now": now,
                "method": method,
                "by": actor.member_id,
            },
        )
        if getattr(done, "rowcount", 0) == 1:
            result = CheckedIn(meeting.id, meeting.title, now > meeting.starts_at, False)
            await _commit_checkin(session, actor, result, method)
            return result
        # Checked in meanwhile by another transaction: the time that was stored.
        checked_in_at = await session.scalar(
            _CHECKED_IN_AT, {"invitation_id": meeting.invitation_id}
        )
        assert checked_in_at is not None
    return CheckedIn(meeting.id, meeting.title, checked_in_at > meeting.starts_at, True)


async def match_code(
    session: AsyncSession, settings: MeetingSettings, actor: Actor, code: str, *, now: datetime
) -> CheckedIn | CodeMiss:
    """`/checkin 123456` for a meeting: the code names the meeting; the member must be invited.
    Refuses a member with too many wrong codes lately (read in the same statement) before
    anything else; the caller has checked the code's form."""
    before = timedelta(minutes=settings.cfg.checkin_before_minutes)
    after = timedelta(minutes=settings.cfg.checkin_after_minutes)
    rows = (
        await session.execute(
            _OPEN_FOR_CODE,
            {
                **codes.failure_params(actor, now),
                "org_id": settings.org_id,
                "earliest": now - after,
                "latest": now + before,
            },
        )
    ).all()
    codes.refuse_after_failures(rows[0].failures)
    open_now = [row for row in rows if row.id is not None]
    grace = settings.cfg.code_grace_seconds
    for meeting in open_now:
        if codes.code_matches(code, meeting.secret, "code", meeting.id, now, grace):
            return await _check_in(session, actor, meeting, "code", now)
    return CodeMiss(
        compared=bool(open_now), expected=any(m.invitation_id is not None for m in open_now)
    )


async def explain_closed(
    session: AsyncSession, settings: MeetingSettings, actor: Actor, *, now: datetime
) -> None:
    """No meeting is open for the member: say when their next one opens, if there is one."""
    upcoming = await session.scalar(
        select(Meeting)
        .join(Invitation, Invitation.meeting_id == Meeting.id)
        .where(
            Invitation.member_id == actor.member_id,
            Meeting.status == "scheduled",
            Meeting.starts_at > now,
        )
        .order_by(Meeting.starts_at)
        .limit(1)
    )
    if upcoming is not None:
        _check_open(settings, upcoming, now)


async def checkin_with_qr(
    session: AsyncSession, settings: MeetingSettings, actor: Actor, param: str, *, now: datetime
) -> CheckedIn:
    """The deep link from the organiser's QR code: /start ci_<meeting>_<token>."""
    match = _QR_PARAM.match(param)
    meeting = (
        await session.execute(
            _FOR_QR,
            {**codes.failure_params(actor, now), "meeting_id": int(match[1]) if match else None},
        )
    ).one()
    codes.refuse_after_failures(meeting.failures)
    # The token is checked before anything about the meeting is said: a made-up link must not
    # reveal another branch's meeting title or time.
    if (
        match is None
        or meeting.id is None
        or meeting.organisation_id != settings.org_id
        or not codes.token_matches(
            match[2], meeting.secret, "qr", meeting.id, now, settings.cfg.code_grace_seconds
        )
    ):
        await codes.record_failure(session, actor, now)
        raise Invalid("checkin.stale_qr")
    if meeting.invitation_id is None:
        raise Denied("checkin.not_invited", title=meeting.title)
    _check_open(settings, meeting, now)
    return await _check_in(session, actor, meeting, "qr", now)


def is_checkin_param(param: str) -> bool:
    return param.startswith(QR_PREFIX)


async def _commit_checkin(
    session: AsyncSession, actor: Actor, result: CheckedIn, method: str
) -> None:
    if not result.already:
        audit.record(
            session,
            action="meeting.checkin",
            entity="meeting",
            entity_id=result.meeting_id,
            actor_member_id=actor.member_id,
            method=method,
            late=result.late,
        )
        await session.commit()


@dataclass(frozen=True)
class Marked:
    title: str
    marked: list[str]
    already: list[str]
    unknown: list[str]


async def mark_present(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    meeting_id: int,
    names: list[str],
    *,
    now: datetime,
) -> Marked:
    """The organiser marks invitees present by name (a member without a phone, say)."""
    meeting = await _managed(session, actor, meeting_id)
    _check_open(settings, meeting, now)
    by_name = {m.name: i for i, m in await _invitees(session, meeting.id)}
    marked: list[str] = []
    already: list[str] = []
    unknown: list[str] = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        invitation = by_name.get(name)
        if invitation is None:
            unknown.append(name)
            continue
        result = _record_checkin(meeting, invitation, "manual", now, actor.member_id)
        (already if result.already else marked).append(name)
    if marked:
        audit.record(
            session,
            action="meeting.marked_present",
            entity="meeting",
            entity_id=meeting.id,
            actor_member_id=actor.member_id,
            names=marked,
        )
        await session.commit()
    return Marked(meeting.title, marked, already, unknown)


# ---------------------------------------------------------------- closing and make-up


def was_held() -> ColumnElement[bool]:
    """A closed meeting someone checked in to. One nobody attended did not take place: it does
    not count for compliance and sends no make-ups."""
    # An alias, so the test also works inside queries that select from invitations themselves.
    present = aliased(Invitation)
    return and_(
        Meeting.status == "closed",
        exists().where(present.meeting_id == Meeting.id, present.checked_in_at.is_not(None)),
    )


def outcome_of(invitation: Invitation, meeting: Meeting) -> str:
    if invitation.checked_in_at is not None:
        return "late" if invitation.checked_in_at > meeting.starts_at else "attended"
    return "leave" if invitation.answer == "leave" else "absent"


async def close_meeting(
    session: AsyncSession, settings: MeetingSettings, meeting_id: int, *, now: datetime
) -> bool:
    """Make attendance final and send make-ups to those on leave or absent. Runs once: a second
    call (a retried job) finds the meeting closed and changes nothing. The caller commits."""
    # populate_existing: a caller may have loaded the row already; the locked read must win.
    meeting = await session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if meeting is None or meeting.status != "scheduled":
        return False
    rows = await _invitees(session, meeting.id)
    counts = {"attended": 0, "late": 0, "leave": 0, "absent": 0}
    for invitation, _ in rows:
        invitation.outcome = outcome_of(invitation, meeting)
        counts[invitation.outcome] += 1
    meeting.status = "closed"
    meeting.closed_at = now
    await session.flush()
    await tallies.add_attendance(session, meeting.id, [invitation for invitation, _ in rows])
    held = counts["attended"] + counts["late"] > 0
    missed = counts["leave"] + counts["absent"] if held else 0
    if missed:
        local_end = (now + timedelta(days=MAKEUP_DAYS)).astimezone(settings.tz)
        deadline = local_end.replace(hour=23, minute=59, second=0, microsecond=0)
        item = await items.create_item(
            session,
            settings.push,
            meeting.created_by_member_id,
            items.Draft(
                kind=items.KIND_MAKEUP,
                title=meeting.title,
                body=meeting.minutes_text or "",
                audience=Audience("meeting", meeting.id, ""),
                deadline=deadline,
                document_file_id=meeting.minutes_file_id,
                document_name=meeting.minutes_file_name,
            ),
            now=now,
        )
        meeting.makeup_item_id = item.id
    audit.record(
        session, action="meeting.closed", entity="meeting", entity_id=meeting.id, counts=counts
    )
    organiser = (
        await session.get(Member, meeting.created_by_member_id)
        if meeting.created_by_member_id
        else None
    )
    if organiser is not None and organiser.chat_id is not None:
        lang = settings.push.language_of(organiser)
        text = t(
            lang,
            "meeting.closed_report" if held else "meeting.closed_empty",
            id=meeting.id,
            title=meeting.title,
            makeups=missed,
            **counts,
        )
        await enqueue(
            session,
            [Outgoing(organiser.chat_id, organiser.id, text, "notice")],
            now=now,
            quiet=settings.push.quiet,
        )
    return True


async def fire_close(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    meeting = await session.get(Meeting, int(firing.payload["meeting_id"]))
    # A moved meeting has a newer close job; this one is stale.
    if meeting is None or meeting.revision != firing.payload.get("revision"):
        return
    await close_meeting(session, settings, meeting.id, now=firing.now)


async def fire_reminder(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    """Remind those attending and those who have not answered; not those on leave."""
    meeting = await session.get(Meeting, int(firing.payload["meeting_id"]))
    if (
        meeting is None
        or meeting.status != "scheduled"
        or meeting.revision != firing.payload.get("revision")
        # Fired late (the bot was down): a reminder after the start only confuses.
        or firing.now >= meeting.starts_at
    ):
        return
    rows = [(i, m) for i, m in await _invitees(session, meeting.id) if i.answer != "leave"]
    answered = [m for i, m in rows if i.answer == "attend"]
    silent = [m for i, m in rows if i.answer is None]
    hours = int(firing.payload.get("hours", 1))
    await _notify(
        session, settings, meeting, answered, "meeting.reminder", now=firing.now, hours=hours
    )
    await _notify(
        session,
        settings,
        meeting,
        silent,
        "meeting.reminder_unanswered",
        now=firing.now,
        buttons=True,
        hours=hours,
    )


# ---------------------------------------------------------------- organisers' changes


async def _managed(session: AsyncSession, actor: Actor, meeting_id: int) -> Meeting:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("meeting.unknown", id=meeting_id)
    if not await may_manage(session, actor, meeting.audience_kind, meeting.audience_id):
        raise Denied("out_of_scope")
    return meeting


@dataclass(frozen=True)
class Changed:
    meeting_id: int
    title: str
    notified: int


async def edit(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    meeting_id: int,
    *,
    now: datetime,
    starts_at: datetime | None = None,
    title: str | None = None,
    place: str | None = None,
) -> Changed:
    """Move or rename a meeting before it starts; every invitee hears about it."""
    meeting = await _managed(session, actor, meeting_id)
    _may_still_answer(meeting, now)
    before = {
        "starts_at": meeting.starts_at.isoformat(),
        "title": meeting.title,
        "place": meeting.place,
    }
    draft = MeetingDraft(
        meeting.kind,
        title if title is not None else meeting.title,
        starts_at if starts_at is not None else meeting.starts_at,
        Audience(meeting.audience_kind, meeting.audience_id, ""),
        place if place is not None else meeting.place,
    )
    validate(draft, now)
    meeting.title = draft.title.strip()
    meeting.place = (draft.place or "").strip() or None
    moved = draft.starts_at != meeting.starts_at
    meeting.starts_at = draft.starts_at
    if moved:
        # The jobs planned for the old time now carry a stale revision and do nothing.
        meeting.revision += 1
        _plan_jobs(session, settings, meeting, now)
    rows = await _invitees(session, meeting.id)
    notified = await _notify(
        session,
        settings,
        meeting,
        [m for _, m in rows],
        "meeting.moved" if moved else "meeting.changed",
        now=now,
        buttons=True,
        answers={m.id: i.answer for i, m in rows},
    )
    audit.record(
        session,
        action="meeting.edited",
        entity="meeting",
        entity_id=meeting.id,
        actor_member_id=actor.member_id,
        before=before,
    )
    await session.commit()
    return Changed(meeting.id, meeting.title, notified)


async def cancel(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    meeting_id: int,
    reason: str,
    *,
    now: datetime,
) -> Changed:
    meeting = await _managed(session, actor, meeting_id)
    if meeting.status == "cancelled":
        raise Invalid("meeting.is_cancelled", title=meeting.title)
    # Until check-in closes: a meeting called off at the last minute must not count as held.
    if meeting.status == "closed" or now >= window(settings, meeting)[1]:
        raise Invalid("meeting.too_late_to_cancel", title=meeting.title)
    if len(reason) > MAX_REASON:
        raise Invalid("leave.too_long", limit=MAX_REASON, length=len(reason))
    meeting.status = "cancelled"
    meeting.cancelled_at = now
    rows = await _invitees(session, meeting.id)
    notified = await _notify(
        session,
        settings,
        meeting,
        [m for _, m in rows],
        "meeting.cancelled_notice" if not reason else "meeting.cancelled_reason",
        now=now,
        reason=reason,
    )
    audit.record(
        session,
        action="meeting.cancelled",
        entity="meeting",
        entity_id=meeting.id,
        actor_member_id=actor.member_id,
        reason=reason,
    )
    await session.commit()
    return Changed(meeting.id, meeting.title, notified)


@dataclass(frozen=True)
class MinutesSaved:
    meeting_id: int
    title: str
    sent_to: int


async def attach_minutes(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    meeting_id: int,
    *,
    now: datetime,
    text: str | None = None,
    file_id: str | None = None,
    file_name: str | None = None,
) -> MinutesSaved:
    """会议记录 as text or a document. Absentees still owing a make-up get them at once."""
    meeting = await _managed(session, actor, meeting_id)
    if meeting.status == "cancelled":
        raise Invalid("meeting.is_cancelled", title=meeting.title)
    if text is not None:
        text = text.strip()
        if not text:
            raise Invalid("minutes.empty")
        if len(text) > MAX_MINUTES:
            raise Invalid("minutes.too_long", limit=MAX_MINUTES, length=len(text))
        meeting.minutes_text = text
    if file_id is not None:
        meeting.minutes_file_id = file_id
        meeting.minutes_file_name = file_name or "minutes"
    sent = 0
    if meeting.makeup_item_id is not None:
        item = await session.get(Item, meeting.makeup_item_id)
        assert item is not None
        item.body = meeting.minutes_text or ""
        item.document_file_id = meeting.minutes_file_id
        item.document_name = meeting.minutes_file_name
        sent = await items.push_unconfirmed(session, settings.push, item, now=now)
    audit.record(
        session,
        action="meeting.minutes",
        entity="meeting",
        entity_id=meeting.id,
        actor_member_id=actor.member_id,
        text_length=len(text or ""),
        file=file_name or "",
    )
    await session.commit()
    return MinutesSaved(meeting.id, meeting.title, sent)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class MeetingSummary:
    id: int
    kind: str
    title: str
    starts_at: datetime
    status: str
    invited: int
    attending: int
    leave: int
    checked_in: int


RECENT_DAYS = 60


async def list_meetings(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    *,
    now: datetime,
    limit: int = 15,
) -> tuple[list[MeetingSummary], list[MeetingSummary]]:
    """Upcoming (soonest first) and recent (latest first) meetings the actor may manage."""
    counts = (
        select(
            Invitation.meeting_id,
            func.count(Invitation.id).label("invited"),
            func.count(Invitation.id).filter(Invitation.answer == "attend").label("attending"),
            func.count(Invitation.id).filter(Invitation.answer == "leave").label("leave"),
            func.count(Invitation.checked_in_at).label("checked_in"),
        )
        .group_by(Invitation.meeting_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(
                Meeting, counts.c.invited, counts.c.attending, counts.c.leave, counts.c.checked_in
            )
            .outerjoin(counts, counts.c.meeting_id == Meeting.id)
            .where(
                Meeting.organisation_id == settings.org_id,
                Meeting.starts_at >= now - timedelta(days=RECENT_DAYS),
            )
            .order_by(Meeting.starts_at)
        )
    ).all()
    upcoming: list[MeetingSummary] = []
    recent: list[MeetingSummary] = []
    for meeting, invited, attending, leave, checked_in in rows:
        if not await may_manage(session, actor, meeting.audience_kind, meeting.audience_id):
            continue
        summary = MeetingSummary(
            meeting.id,
            meeting.kind,
            meeting.title,
            meeting.starts_at,
            meeting.status,
            invited or 0,
            attending or 0,
            leave or 0,
            checked_in or 0,
        )
        (upcoming if meeting.status == "scheduled" else recent).append(summary)
    recent.reverse()
    return upcoming[:limit], recent[:limit]


@dataclass(frozen=True)
class AttendanceRow:
    name: str
    # answer_none | attend | leave (before the close); attended | late | leave | absent (after)
    status: str
    reason: str | None
    checked_in_at: datetime | None
    made_up_at: datetime | None


@dataclass(frozen=True)
class AttendanceView:
    meeting: Meeting
    rows: list[AttendanceRow]


async def attendance(session: AsyncSession, actor: Actor, meeting_id: int) -> AttendanceView:
    meeting = await _managed(session, actor, meeting_id)
    made_up: dict[int, datetime] = {}
    if meeting.makeup_item_id is not None:
        receipts = await session.execute(
            select(Receipt.member_id, Receipt.confirmed_at).where(
                Receipt.item_id == meeting.makeup_item_id, Receipt.confirmed_at.is_not(None)
            )
        )
        made_up = {member_id: at for member_id, at in receipts if at is not None}
    rows = []
    for invitation, member in await _invitees(session, meeting.id):
        if invitation.outcome is not None:
            status = invitation.outcome
        elif invitation.checked_in_at is not None:
            status = outcome_of(invitation, meeting)
        else:
            status = invitation.answer or "none"
        rows.append(
            AttendanceRow(
                member.name,
                status,
                invitation.leave_reason,
                invitation.checked_in_at,
                made_up.get(member.id),
            )
        )
    return AttendanceView(meeting, rows)


@dataclass(frozen=True)
class MyAttendance:
    invited: int
    attended: int
    late: int
    leave: int
    absent: int
    made_up: int


def _outcomes(outcome: str) -> Any:
    return func.count(case((_invitations.c.outcome == outcome, 1)))


_present = _invitations.alias("present")
_receipts = Receipt.__table__
# The member's held meetings (as was_held()) that started in [since, now], by outcome, and how
# many of those missed (leave, absent) have their make-up confirmed (binds: member_id, since,
# now). One row, for my_attendance and /me's single statement.
MY_ATTENDANCE = (
    select(
        func.count().label("invited"),
        _outcomes("attended").label("attended"),
        _outcomes("late").label("late"),
        _outcomes("leave").label("leave"),
        _outcomes("absent").label("absent"),
        func.count(
            case(
                (
                    and_(
                        # Not in_(): an expanding IN is rendered anew at every execution.
                        or_(_invitations.c.outcome == "leave", _invitations.c.outcome == "absent"),
                        exists().where(
                            _receipts.c.item_id == _meetings.c.makeup_item_id,
                            _receipts.c.member_id == bindparam("member_id"),
                            _receipts.c.confirmed_at.is_not(None),
                        ),
                    ),
                    1,
                )
            )
        ).label("made_up"),
    )
    .select_from(_invitations.join(_meetings, _meetings.c.id == _invitations.c.meeting_id))
    .where(
        _invitations.c.member_id == bindparam("member_id"),
        _meetings.c.status == "closed",
        exists().where(
            _present.c.meeting_id == _meetings.c.id, _present.c.checked_in_at.is_not(None)
        ),
        _meetings.c.starts_at >= bindparam("since"),
        _meetings.c.starts_at <= bindparam("now"),
    )
)


def attendance_of(row: Row[*tuple[Any, ...]]) -> MyAttendance:
    """MyAttendance from a row holding MY_ATTENDANCE's columns."""
    return MyAttendance(row.invited, row.attended, row.late, row.leave, row.absent, row.made_up)


async def my_attendance(
    session: AsyncSession, actor: Actor, since: datetime, now: datetime
) -> MyAttendance:
    """The member's closed meetings since `since` (the quarter's start, for /me)."""
    row = (
        await session.execute(
            MY_ATTENDANCE, {"member_id": actor.member_id, "since": since, "now": now}
        )
    ).one()
    return attendance_of(row)


async def meeting_detail(
    session: AsyncSession, actor: Actor, meeting_id: int
) -> tuple[Meeting, MeetingSummary]:
    meeting = await _managed(session, actor, meeting_id)
    rows = await _invitees(session, meeting.id)
    summary = MeetingSummary(
        meeting.id,
        meeting.kind,
        meeting.title,
        meeting.starts_at,
        meeting.status,
        len(rows),
        sum(1 for i, _ in rows if i.answer == "attend"),
        sum(1 for i, _ in rows if i.answer == "leave"),
        sum(1 for i, _ in rows if i.checked_in_at is not None),
    )
    return meeting, summary
