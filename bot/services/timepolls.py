"""Finding a time (时间征集): members tick every slot that suits them, the organiser watches the
tally, and one press turns the chosen slot into a meeting with invitations.

A tick is a row; unticking deletes it. The unique (slot, member) pair keeps the tally exact when
many members press at once, and the poll row is locked while it is turned into a meeting so that
a vote never lands on a closed poll and a poll never makes two meetings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, items
from bot.services.audience import Audience, audience_members, chat_of, may_manage
from bot.services.meeting_kinds import GENERAL, GROUP
from bot.services.meetings import (
    MAX_TITLE,
    MeetingDraft,
    MeetingSettings,
    create_meeting,
    meeting_audience,
)
from bot.services.periods import MAX_YEAR, MIN_YEAR
from bot.texts import join_names, plain, t
from storage.models import AuditEntry, Member, PollSlot, PollVote, Role, TimePoll

JOB_REMINDER = "poll_reminder"
# The audit action of the organiser's 「提醒未投票」; the latest one starts the cooldown.
REMINDED = "timepoll.reminded"
MIN_SLOTS = 2
MAX_SLOTS = 8
# Names listed per slot in the organiser's tally; the rest are counted.
SHOW_NAMES = 30
# Names in the whole tally, in characters: with 8 slots and long names it must still fit one
# Telegram message (4,096), or the live edits would fail.
NAMES_BUDGET = 2400
# "2025-11-28 14:30", "11-28 14:30", with "/" for "-" and a full-width colon as typed on phones.
# ASCII digits only: int() also reads other scripts' digits ('༢000' is 2000).
_SLOT = re.compile(r"(?:(\d{4})[-/])?(\d{1,2})[-/](\d{1,2})\s+(\d{1,2})[:：](\d{2})", re.ASCII)


# ---------------------------------------------------------------- slots


def parse_slot(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """A slot as typed, in the organisation's zone, as UTC. Without a year: the next such date."""
    cleaned = text.strip()
    match = _SLOT.fullmatch(cleaned)
    if match is None:
        raise Invalid("poll.bad_slot", slot=cleaned)
    year, month, day, hour, minute = match.groups()
    # Year 1 or 9999 is a typo, and one the time-zone arithmetic cannot even represent.
    if year and not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise Invalid("poll.bad_slot", slot=cleaned)
    years = [int(year)] if year else [now.astimezone(tz).year + n for n in range(2)]
    for candidate in years:
        try:
            local = datetime(candidate, int(month), int(day), int(hour), int(minute), tzinfo=tz)
        except ValueError:
            continue
        moment = local.astimezone(UTC)
        if year or moment > now:
            return moment
    raise Invalid("poll.bad_slot", slot=cleaned)


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def slot_label(moment: datetime, lang: str, tz: ZoneInfo) -> str:
    """Short enough for a button: "11-28 周六 14:30"."""
    local = moment.astimezone(tz)
    weekday = plain(t(lang, f"wd.{local.weekday()}"))
    return f"{local:%m-%d} {weekday} {local:%H:%M}"


# ---------------------------------------------------------------- creating a poll


@dataclass(frozen=True)
class PollDraft:
    # None: the kind the organiser usually calls (a group leader's group meeting, else general).
    kind: str | None
    title: str
    ref: str | None
    slots: tuple[datetime, ...]


def default_kind(actor: Actor) -> str:
    # A group leader may only reach their own group; a general meeting would be out of scope.
    return GROUP if actor.role is Role.GROUP_LEADER else GENERAL


def validate(draft: PollDraft, title: str, tz: ZoneInfo, now: datetime) -> None:
    if len(title) > MAX_TITLE:
        raise Invalid("item.title_too_long", limit=MAX_TITLE)
    if not MIN_SLOTS <= len(draft.slots) <= MAX_SLOTS:
        raise Invalid("poll.slot_count", min=MIN_SLOTS, max=MAX_SLOTS, count=len(draft.slots))
    seen: set[datetime] = set()
    for moment in draft.slots:
        if moment <= now:
            raise Invalid("poll.slot_past", slot=_local(moment, tz))
        if moment in seen:
            raise Invalid("poll.slot_duplicate", slot=_local(moment, tz))
        seen.add(moment)


@dataclass(frozen=True)
class SlotTally:
    slot_id: int
    starts_at: datetime
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Tally:
    """The organiser's view of a poll, rendered in the organiser's language."""

    poll_id: int
    kind: str
    title: str
    lang: str
    total: int
    voters: int
    slots: tuple[SlotTally, ...]
    meeting_id: int | None
    status_chat_id: int | None
    status_message_id: int | None

    @property
    def closed(self) -> bool:
        return self.meeting_id is not None

    @property
    def best(self) -> SlotTally | None:
        """The slot most can come to; the earliest of equals. None before anyone can come."""
        best: SlotTally | None = None
        for slot in self.slots:
            if slot.count and (best is None or slot.count > best.count):
                best = slot
        return best

    def majority(self, slot: SlotTally) -> bool:
        """More than half of the audience can come: what a general meeting needs."""
        return slot.count * 2 > self.total


@dataclass(frozen=True)
class Created:
    poll_id: int
    title: str
    sent: int
    tally: Tally


async def create_poll(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    draft: PollDraft,
    *,
    now: datetime,
) -> Created:
    """Store the poll, send it to the audience through the outbox and plan the reminder."""
    kind = draft.kind or default_kind(actor)
    title = draft.title.strip() or plain(t(actor.language, f"kind.{kind}"))
    validate(draft, title, settings.tz, now)
    audience = await meeting_audience(session, settings, actor, kind, draft.ref)
    if not await may_manage(session, actor, audience.kind, audience.id):
        raise Denied("out_of_scope")
    assert audience.id is not None
    poll = TimePoll(
        organisation_id=settings.org_id,
        kind=kind,
        title=title,
        audience_kind=audience.kind,
        audience_id=audience.id,
        created_by_member_id=actor.member_id,
        created_at=now,
    )
    session.add(poll)
    await session.flush()
    slots = [
        PollSlot(poll_id=poll.id, position=n, starts_at=moment)
        for n, moment in enumerate(sorted(draft.slots))
    ]
    session.add_all(slots)
    await session.flush()
    members = await audience_members(session, settings.org_id, audience.kind, audience.id)
    sent = await _send(session, settings, poll, slots, members, now=now)
    hours = settings.cfg.poll_remind_hours
    if hours > 0:
        add_job(
            session,
            organisation_id=settings.org_id,
            kind=JOB_REMINDER,
            payload={"poll_id": poll.id},
            first=now + timedelta(hours=hours),
            created_by=actor.member_id,
        )
    audit.record(
        session,
        action="timepoll.created",
        entity="time_poll",
        entity_id=poll.id,
        actor_member_id=actor.member_id,
        kind=kind,
        title=title,
        audience=f"{audience.kind}:{audience.id}",
        slots=[s.starts_at.isoformat() for s in slots],
    )
    tally = await _tally(session, settings, poll)
    await session.commit()
    return Created(poll.id, title, sent, tally)


async def set_status_message(
    session: AsyncSession, poll_id: int, chat_id: int, message_id: int
) -> None:
    """Remember the organiser's tally message, so that votes can update it."""
    poll = await session.get(TimePoll, poll_id)
    if poll is None:
        return
    poll.status_chat_id = chat_id
    poll.status_message_id = message_id
    await session.commit()


# ---------------------------------------------------------------- messages to members


def member_markup(
    slots: list[PollSlot], ticked: set[int], lang: str, tz: ZoneInfo
) -> dict[str, Any]:
    """One toggle per slot, ticked ones marked: the member sees their own choice."""
    return {
        "inline_keyboard": [
            [
                {
                    "text": ("✅ " if slot.id in ticked else "⬜ ")
                    + slot_label(slot.starts_at, lang, tz),
                    "callback_data": f"tp:v:{slot.id}",
                }
            ]
            for slot in slots
        ]
    }


async def _send(
    session: AsyncSession,
    settings: MeetingSettings,
    poll: TimePoll,
    slots: list[PollSlot],
    members: list[Member],
    *,
    now: datetime,
    reminder: bool = False,
) -> int:
    """The poll with empty toggles to each reachable member (a reminder goes to non-voters)."""
    outgoing: list[Outgoing] = []
    for member in members:
        chat = chat_of(member)
        if chat is None:
            continue
        lang = settings.push.language_of(member)
        text: str = t(lang, "poll.invitation", title=poll.title, kind=t(lang, f"kind.{poll.kind}"))
        if reminder:
            text = t(lang, "poll.reminder_head") + "\n" + text
        markup = member_markup(slots, set(), lang, settings.tz)
        # A reminder is a nudge: it counts against `followup.daily_cap` with the study items'.
        purpose = "nudge" if reminder else "notice"
        outgoing.append(Outgoing(chat, member.id, text, purpose, markup=markup))
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    return len(outgoing)


async def _slots(session: AsyncSession, poll_id: int) -> list[PollSlot]:
    return list(
        (
            await session.scalars(
                select(PollSlot).where(PollSlot.poll_id == poll_id).order_by(PollSlot.position)
            )
        ).all()
    )


# ---------------------------------------------------------------- the tally


async def _tally(session: AsyncSession, settings: MeetingSettings, poll: TimePoll) -> Tally:
    slots = await _slots(session, poll.id)
    members = await audience_members(session, settings.org_id, poll.audience_kind, poll.audience_id)
    # Only the audience as it stands counts: a member who has left no longer makes a majority.
    names = {m.id: m.name for m in members}
    votes = await session.execute(
        select(PollVote.slot_id, PollVote.member_id)
        .join(PollSlot, PollSlot.id == PollVote.slot_id)
        .where(PollSlot.poll_id == poll.id)
        .order_by(PollVote.voted_at, PollVote.id)
    )
    per_slot: dict[int, list[str]] = {slot.id: [] for slot in slots}
    voters: set[int] = set()
    for slot_id, member_id in votes:
        if member_id in names:
            per_slot[slot_id].append(names[member_id])
            voters.add(member_id)
    organiser = (
        await session.get(Member, poll.created_by_member_id) if poll.created_by_member_id else None
    )
    lang = settings.push.language_of(organiser) if organiser else settings.push.default_language
    return Tally(
        poll.id,
        poll.kind,
        poll.title,
        lang,
        len(members),
        len(voters),
        tuple(SlotTally(s.id, s.starts_at, tuple(per_slot[s.id])) for s in slots),
        poll.meeting_id,
        poll.status_chat_id,
        poll.status_message_id,
    )


def _names_within(names: list[str], budget: int, lang: str) -> str:
    """As many names as fit `budget` characters (at most SHOW_NAMES); the rest are counted."""
    shown, used = 0, 0
    for name in names[:SHOW_NAMES]:
        used += len(name) + 1
        if used > budget:
            break
        shown += 1
    return join_names(names, shown, lang)


def status_text(tally: Tally, tz: ZoneInfo) -> str:
    lang = tally.lang
    lines: list[str] = [
        t(
            lang,
            "poll.status_head",
            id=tally.poll_id,
            title=tally.title,
            kind=t(lang, f"kind.{tally.kind}"),
        ),
        t(lang, "poll.status_voted", voters=tally.voters, total=tally.total),
    ]
    for slot in tally.slots:
        label = slot_label(slot.starts_at, lang, tz)
        if slot.names:
            names = _names_within(list(slot.names), NAMES_BUDGET // len(tally.slots), lang)
            lines.append(
                t(lang, "poll.status_slot_names", label=label, count=slot.count, names=names)
            )
        else:
            lines.append(t(lang, "poll.status_slot", label=label, count=0))
    best = tally.best
    lines.append("")
    if best is None:
        lines.append(t(lang, "poll.status_none"))
    else:
        label = slot_label(best.starts_at, lang, tz)
        lines.append(t(lang, "poll.status_best", label=label, count=best.count, total=tally.total))
        if tally.majority(best):
            lines.append(t(lang, "poll.status_majority", count=best.count, total=tally.total))
        else:
            lines.append(t(lang, "poll.status_no_majority", need=tally.total // 2 + 1))
            if tally.kind == GENERAL:
                lines.append(t(lang, "poll.general_rule"))
    if tally.meeting_id is not None:
        lines.append(t(lang, "poll.status_closed", meeting_id=tally.meeting_id))
    return "\n".join(lines)


def status_markup(tally: Tally, tz: ZoneInfo) -> dict[str, Any] | None:
    """Per slot 「定为会议」, and 「提醒未投票」; none once the poll has made its meeting."""
    if tally.closed:
        return None
    rows: list[list[dict[str, str]]] = [
        [
            {
                "text": plain(
                    t(tally.lang, "poll.btn_make", label=slot_label(s.starts_at, tally.lang, tz))
                ),
                "callback_data": f"tp:mk:{s.slot_id}",
            }
        ]
        for s in tally.slots
    ]
    rows.append(
        [
            {
                "text": plain(t(tally.lang, "poll.btn_remind")),
                "callback_data": f"tp:rm:{tally.poll_id}",
            }
        ]
    )
    return {"inline_keyboard": rows}


async def _poll_of_slot(
    session: AsyncSession, settings: MeetingSettings, slot_id: int, *, lock: str
) -> tuple[TimePoll, PollSlot]:
    """The slot and its poll, the poll row locked (shared for a vote, exclusive to close it)."""
    slot = await session.get(PollSlot, slot_id)
    if slot is None:
        raise NotFound("poll.unknown_slot")
    poll = await session.scalar(
        select(TimePoll)
        .where(TimePoll.id == slot.poll_id)
        .with_for_update(read=lock == "share")
        .execution_options(populate_existing=True)
    )
    if poll is None or poll.organisation_id != settings.org_id:
        raise NotFound("poll.unknown_slot")
    return poll, slot


# ---------------------------------------------------------------- members' ticks


@dataclass(frozen=True)
class Toggled:
    ticked: bool
    label: str
    markup: dict[str, Any]
    tally: Tally


async def toggle(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    slot_id: int,
    *,
    now: datetime,
) -> Toggled:
    """Tick the slot, or untick it if the member had ticked it."""
    poll, slot = await _poll_of_slot(session, settings, slot_id, lock="share")
    members = await audience_members(session, settings.org_id, poll.audience_kind, poll.audience_id)
    if actor.member_id not in {m.id for m in members}:
        raise Denied("not_your_button")
    if poll.meeting_id is not None:
        raise Invalid("poll.closed", title=poll.title, meeting_id=poll.meeting_id)
    removed = (
        await session.scalars(
            delete(PollVote)
            .where(PollVote.slot_id == slot.id, PollVote.member_id == actor.member_id)
            .returning(PollVote.id)
        )
    ).all()
    ticked = not removed
    if ticked:
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(PollVote).values(
                        slot_id=slot.id, member_id=actor.member_id, voted_at=now
                    )
                )
        except IntegrityError:
            # The same member's other press ticked it a moment ago: the tick stands.
            pass
    slots = await _slots(session, poll.id)
    mine = set(
        (
            await session.scalars(
                select(PollVote.slot_id).where(
                    PollVote.member_id == actor.member_id,
                    PollVote.slot_id.in_([s.id for s in slots]),
                )
            )
        ).all()
    )
    await session.commit()
    # Read after the commit, so the organiser's view includes every vote committed before ours.
    tally = await _tally(session, settings, poll)
    return Toggled(
        ticked,
        slot_label(slot.starts_at, actor.language, settings.tz),
        member_markup(slots, mine, actor.language, settings.tz),
        tally,
    )


# ---------------------------------------------------------------- organisers


async def _managed(session: AsyncSession, actor: Actor, poll: TimePoll) -> None:
    if not await may_manage(session, actor, poll.audience_kind, poll.audience_id):
        raise Denied("out_of_scope")


async def poll_tally(
    session: AsyncSession, settings: MeetingSettings, actor: Actor, poll_id: int
) -> Tally:
    """The organiser's tally afresh (/timepoll <id>), for a status message that was lost."""
    poll = await session.get(TimePoll, poll_id)
    if poll is None or poll.organisation_id != settings.org_id:
        raise NotFound("poll.unknown", id=poll_id)
    await _managed(session, actor, poll)
    return await _tally(session, settings, poll)


async def _silent(
    session: AsyncSession, settings: MeetingSettings, poll: TimePoll, slots: list[PollSlot]
) -> list[Member]:
    """The audience's reachable members who have ticked nothing."""
    voted = set(
        (
            await session.scalars(
                select(PollVote.member_id).where(PollVote.slot_id.in_([s.id for s in slots]))
            )
        ).all()
    )
    members = await audience_members(session, settings.org_id, poll.audience_kind, poll.audience_id)
    return [m for m in members if m.id not in voted and chat_of(m) is not None]


async def _within_cap(
    session: AsyncSession, settings: MeetingSettings, members: list[Member], now: datetime
) -> list[Member]:
    """Those who have not had `followup.daily_cap` nudges and escalations today: counted as the
    study items' nudges are, so a poll's reminders and an item's nudges share one cap."""
    cap = settings.push.followup.daily_cap
    today = await items._pushes_today(session, [m.id for m in members], settings.tz, now)
    return [m for m in members if today.get(m.id, 0) < cap]


async def _last_manual_reminder(session: AsyncSession, poll_id: int) -> datetime | None:
    """When the organiser last pressed 「提醒未投票」 with effect: the audit log keeps it."""
    return await session.scalar(
        select(AuditEntry.at)
        .where(
            AuditEntry.entity == "time_poll",
            AuditEntry.entity_id == poll_id,
            AuditEntry.action == REMINDED,
        )
        .order_by(AuditEntry.at.desc())
        .limit(1)
    )


async def remind(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    poll_id: int,
    *,
    now: datetime,
) -> int:
    """「提醒未投票」: the poll again to those who have ticked nothing, at most once per poll in
    `meetings.poll_remind_cooldown_hours` and never past a member's daily cap. Returns how many;
    0 when everyone reachable has voted."""
    # Locked, so that presses at once see each other's reminder and only one goes out.
    poll = await session.scalar(
        select(TimePoll)
        .where(TimePoll.id == poll_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if poll is None or poll.organisation_id != settings.org_id:
        raise NotFound("poll.unknown", id=poll_id)
    await _managed(session, actor, poll)
    if poll.meeting_id is not None:
        raise Invalid("poll.closed", title=poll.title, meeting_id=poll.meeting_id)
    slots = await _slots(session, poll.id)
    silent = await _silent(session, settings, poll, slots)
    if not silent:
        return 0
    hours = settings.cfg.poll_remind_cooldown_hours
    last = await _last_manual_reminder(session, poll.id)
    if hours > 0 and last is not None and now < last + timedelta(hours=hours):
        raise Invalid(
            "poll.remind_cooldown",
            hours=hours,
            last=last.astimezone(settings.tz).strftime("%m-%d %H:%M"),
            next=(last + timedelta(hours=hours)).astimezone(settings.tz).strftime("%m-%d %H:%M"),
        )
    within = await _within_cap(session, settings, silent, now)
    if not within:
        raise Invalid("poll.remind_capped", count=len(silent), cap=settings.push.followup.daily_cap)
    count = await _send(session, settings, poll, slots, within, now=now, reminder=True)
    # Written at the service's clock: the cooldown is measured from this row.
    session.add(
        AuditEntry(
            at=now,
            **audit.entry(
                action=REMINDED,
                entity="time_poll",
                entity_id=poll.id,
                actor_member_id=actor.member_id,
                recipients=count,
            ),
        )
    )
    await session.commit()
    return count


async def fire_reminder(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    """The planned reminder to non-voters, unless the poll has already made its meeting."""
    poll = await session.get(TimePoll, int(firing.payload["poll_id"]))
    if poll is None or poll.meeting_id is not None:
        return
    slots = await _slots(session, poll.id)
    if all(s.starts_at <= firing.now for s in slots):
        return
    silent = await _silent(session, settings, poll, slots)
    within = await _within_cap(session, settings, silent, firing.now)
    await _send(session, settings, poll, slots, within, now=firing.now, reminder=True)


@dataclass(frozen=True)
class Made:
    meeting_id: int
    title: str
    starts_at: datetime
    invited: int
    count: int
    total: int
    # A general meeting at a slot fewer than half can come to: allowed, but the organiser is told.
    short_of_majority: bool
    tally: Tally


async def make_meeting(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    slot_id: int,
    *,
    now: datetime,
) -> Made:
    """「定为会议」: the slot becomes a meeting with invitations and the poll closes, at once."""
    poll, slot = await _poll_of_slot(session, settings, slot_id, lock="update")
    await _managed(session, actor, poll)
    if poll.meeting_id is not None:
        raise Invalid("poll.already_made", title=poll.title, meeting_id=poll.meeting_id)
    before = await _tally(session, settings, poll)
    chosen = next(s for s in before.slots if s.slot_id == slot.id)
    scheduled = await create_meeting(
        session,
        settings,
        actor,
        MeetingDraft(
            poll.kind,
            poll.title,
            slot.starts_at,
            Audience(poll.audience_kind, poll.audience_id, ""),
        ),
        now=now,
    )
    poll.closed_at = now
    poll.meeting_id = scheduled.meeting_id
    audit.record(
        session,
        action="timepoll.closed",
        entity="time_poll",
        entity_id=poll.id,
        actor_member_id=actor.member_id,
        meeting_id=scheduled.meeting_id,
        slot=slot.starts_at.isoformat(),
        count=chosen.count,
        total=before.total,
    )
    await session.commit()
    return Made(
        scheduled.meeting_id,
        scheduled.title,
        scheduled.starts_at,
        scheduled.invited,
        chosen.count,
        before.total,
        poll.kind == GENERAL and not before.majority(chosen),
        replace(before, meeting_id=scheduled.meeting_id),
    )
