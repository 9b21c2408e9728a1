"""三会一课 in chat: /meeting (one line, guided, edit, cancel) and invitees' answers.

Check-in lives in handlers.checkin, minutes and the records in handlers.meeting_records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from telegram import InlineKeyboardMarkup
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import authorize
from bot.errors import Denied, Invalid
from bot.services import meetings
from bot.services.audience import Audience
from bot.services.meeting_kinds import KINDS, kind_rule, parse_kind
from bot.services.meetings import MeetingDraft
from bot.services.periods import MAX_YEAR, MIN_YEAR
from bot.texts import Raw
from handlers.checkin import MEETING, Screen, refresh_screen
from handlers.common import (
    App,
    Call,
    Deps,
    buttons,
    callback_id,
    guarded,
    guarded_button,
    mark_buttons,
    parse_id,
    split_word,
)
from handlers.dialogs import (
    close_dialog,
    dialog,
    dialog_buttons,
    ending,
    ending_if,
    open_dialog,
)
from handlers.meeting_records import show_attendance
from storage.models import Branch, Group, Role

_WHEN = re.compile(r"^(\d{4}[-/]\d{1,2}[-/]\d{1,2})\s+(\d{1,2}:\d{2})(?:\s+(.*))?$", re.DOTALL)
_REF = re.compile(r"(?:^|\s)(#\S+)\s*$")
MAX_GROUP_BUTTONS = 8
_EDIT_VERBS = {
    "time": "time",
    "时间": "time",
    "title": "title",
    "名称": "title",
    "标题": "title",
    "place": "place",
    "地点": "place",
    "cancel": "cancel",
    "取消": "cancel",
}


def parse_when(text: str, call: Call) -> datetime:
    """ "YYYY-MM-DD HH:MM" in the organisation's zone."""
    try:
        local = datetime.strptime(" ".join(text.split()).replace("/", "-"), "%Y-%m-%d %H:%M")
    except ValueError:
        raise Invalid("meeting.bad_time", value=text) from None
    # Year 1 or 9999 is a typo, and one the time-zone arithmetic cannot even represent.
    if not MIN_YEAR <= local.year <= MAX_YEAR:
        raise Invalid("meeting.bad_time", value=text)
    return local.replace(tzinfo=call.deps.config.organisation.tz)


def kind_name(call: Call, kind: str) -> Raw:
    return call.t(f"kind.{kind}")


def audience_text(call: Call, audience: Audience) -> Raw:
    return call.t(f"meeting.audience_{audience.kind}", name=audience.label)


async def _schedule(call: Call, draft: MeetingDraft, *, in_dialog: bool = False) -> None:
    assert call.actor is not None
    deps = call.deps
    # The guided /meeting ends in the transaction that schedules the meeting.
    async with ending(call) if in_dialog else deps.db.write() as session:
        done = await meetings.schedule(session, deps.meetings, call.actor, draft, now=deps.now())
    deps.outbox_ready.set()
    await call.reply(
        call.t(
            "meeting.scheduled",
            id=done.meeting_id,
            kind=kind_name(call, draft.kind),
            title=done.title,
            when=meetings.when_text(call.lang, done.starts_at, deps.config.organisation.tz),
            count=done.invited,
        )
    )


# ---------------------------------------------------------------- /meeting


async def meeting_command(call: Call) -> None:
    assert call.actor is not None
    rest = call.rest
    if not rest:
        guided = MeetingDialog()
        await open_dialog(call, guided)
        await guided.ask_kind(call)
        return
    first, tail = split_word(rest)
    meeting_id = parse_id(first)
    if meeting_id is not None:
        await _manage(call, meeting_id, tail.strip())
        return
    kind = parse_kind(first)
    if kind is None:
        await call.reply(call.t("meeting.usage"))
        return
    match = _WHEN.match(tail.strip())
    if match is None:
        await call.reply(call.t("meeting.usage"))
        return
    starts_at = parse_when(f"{match[1]} {match[2]}", call)
    remainder = (match[3] or "").strip()
    ref = None
    if ref_match := _REF.search(remainder):
        ref = ref_match[1]
        remainder = remainder[: ref_match.start()].strip()
    title, at, place = remainder.partition("@")
    if not title.strip():
        await call.reply(call.t("meeting.usage"))
        return
    async with call.deps.db.read() as session:
        audience = await meetings.meeting_audience(
            session, call.deps.meetings, call.actor, kind, ref
        )
    draft = MeetingDraft(kind, title.strip(), starts_at, audience, place.strip() if at else None)
    await _schedule(call, draft)


async def _manage(call: Call, meeting_id: int, tail: str) -> None:
    """`/meeting 12` shows it; `/meeting 12 time|title|place|cancel ...` changes it."""
    assert call.actor is not None
    deps = call.deps
    if not tail:
        await _show(call, meeting_id)
        return
    word, value = split_word(tail)
    verb = _EDIT_VERBS.get(word.lower())
    value = value.strip()
    if verb is None or (verb != "cancel" and not value):
        await call.reply(call.t("meeting.edit_usage", id=meeting_id))
        return
    async with deps.db.write() as session:
        if verb == "cancel":
            changed = await meetings.cancel(
                session, deps.meetings, call.actor, meeting_id, value, now=deps.now()
            )
        else:
            changed = await meetings.edit(
                session,
                deps.meetings,
                call.actor,
                meeting_id,
                now=deps.now(),
                starts_at=parse_when(value, call) if verb == "time" else None,
                title=value if verb == "title" else None,
                place=value if verb == "place" else None,
            )
    deps.outbox_ready.set()
    key = "meeting.cancelled_done" if verb == "cancel" else "meeting.edited"
    await call.reply(
        call.t(key, id=changed.meeting_id, title=changed.title, count=changed.notified)
    )


async def _show(call: Call, meeting_id: int) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        meeting, s = await meetings.meeting_detail(session, call.actor, meeting_id)
    tz = call.deps.config.organisation.tz
    text = "\n".join(
        [
            f"#{meeting.id} " + meetings.describe(meeting, call.lang, tz),
            call.t(f"meeting.status_{meeting.status}"),
            call.t(
                "meeting.counts",
                invited=s.invited,
                attending=s.attending,
                leave=s.leave,
                checked_in=s.checked_in,
            ),
        ]
    )
    rows = [
        [
            (call.t("meeting.btn_code"), f"mt:qr:{meeting.id}"),
            (call.t("meeting.btn_attendance"), f"mt:at:{meeting.id}"),
        ]
    ]
    await call.reply(text, buttons(rows) if meeting.status == "scheduled" else None)


@dialog("meeting")
@dataclass
class MeetingDialog:
    """The guided /meeting: kind and (for a group meeting) group as buttons, the rest typed."""

    step: str = "kind"
    kind: str = ""
    starts_at: datetime | None = None
    title: str = ""
    place: str | None = None
    audience: Audience | None = None
    choices: list[Audience] = field(default_factory=list)

    async def ask_kind(self, call: Call) -> None:
        rows = [[(kind_name(call, k), f"mg:k:{i}")] for i, k in enumerate(KINDS)]
        await call.reply(call.t("meeting.ask_kind"), buttons(rows))

    async def on_message(self, call: Call) -> bool:
        authorize(call.actor, "meeting")
        message = call.update.effective_message
        text = (message.text or "").strip() if message is not None else ""
        now = call.deps.now()
        if self.step == "time" and text:
            self.starts_at = parse_when(text, call)
            if self.starts_at <= now:
                raise Invalid("meeting.in_past")
            self.step = "title"
            await call.reply(call.t("meeting.ask_title"))
        elif self.step == "title" and text:
            assert self.starts_at is not None
            meetings.validate(
                MeetingDraft(self.kind, text, self.starts_at, Audience("", 0, "")), now
            )
            self.title = text
            self.step = "place"
            await call.reply(
                call.t("meeting.ask_place"),
                buttons([[(call.t("meeting.btn_no_place"), "mg:p:0")]]),
            )
        elif self.step == "place" and text:
            if len(text) > meetings.MAX_PLACE:
                raise Invalid("meeting.place_too_long", limit=meetings.MAX_PLACE)
            self.place = text
            await self.ask_audience(call)
        else:
            await call.reply(call.t(f"meeting.ask_{self.step}"))
        return False

    async def ask_audience(self, call: Call) -> None:
        """Group meetings: which group (a secretary has several); other kinds: the default."""
        assert call.actor is not None
        deps = call.deps
        async with deps.db.read() as session:
            group_kind = kind_rule(deps.config.meetings, self.kind).audience == "group"
            if group_kind and call.actor.role in (Role.SECRETARY, Role.ADMIN):
                query = select(Group, Branch).join(Branch, Group.branch_id == Branch.id)
                query = query.where(Branch.organisation_id == deps.org_id)
                if call.actor.role is Role.SECRETARY:
                    query = query.where(Group.branch_id == call.actor.branch_id)
                rows = (
                    await session.execute(
                        query.order_by(Branch.name, Group.name).limit(MAX_GROUP_BUTTONS + 1)
                    )
                ).all()
                more = len(rows) > MAX_GROUP_BUTTONS
                rows = rows[:MAX_GROUP_BUTTONS]
                self.choices = [Audience("group", g.id, f"{b.name}/{g.name}") for g, b in rows]
                if not self.choices:
                    raise Invalid("meeting.need_group")
                self.step = "group"
                question = call.t("meeting.ask_group")
                if more:
                    question = Raw(question + "\n" + call.t("meeting.more_groups"))
                await call.reply(
                    question,
                    buttons(
                        [
                            [(audience_text(call, a), f"mg:g:{i}")]
                            for i, a in enumerate(self.choices)
                        ]
                    ),
                )
                return
            self.audience = await meetings.meeting_audience(
                session, deps.meetings, call.actor, self.kind, None
            )
        await self.show_preview(call)

    async def show_preview(self, call: Call) -> None:
        assert self.audience is not None and self.starts_at is not None
        self.step = "confirm"
        await call.reply(
            call.t(
                "meeting.preview",
                kind=kind_name(call, self.kind),
                title=self.title,
                when=meetings.when_text(
                    call.lang, self.starts_at, call.deps.config.organisation.tz
                ),
                place=self.place or call.t("none"),
                audience=audience_text(call, self.audience),
            ),
            buttons(
                [
                    [
                        (call.t("meeting.btn_confirm"), "mg:c:1"),
                        (call.t("meeting.btn_cancel"), "mg:c:0"),
                    ]
                ]
            ),
        )

    async def on_button(self, call: Call, verb: str, value: int) -> None:
        if verb == "k" and self.step == "kind" and 0 <= value < len(KINDS):
            assert call.actor is not None
            kind = KINDS[value]
            # Checked before any typing: a group leader schedules only their group's meetings.
            if call.actor.role is Role.GROUP_LEADER:
                if kind_rule(call.deps.config.meetings, kind).audience != "group":
                    raise Denied("out_of_scope")
                if call.actor.group_id is None:
                    raise Invalid("meeting.need_group")
            self.kind = kind
            self.step = "time"
            await call.reply(call.t("meeting.ask_time"))
        elif verb == "p" and self.step == "place":
            self.place = None
            await self.ask_audience(call)
        elif verb == "g" and self.step == "group" and 0 <= value < len(self.choices):
            self.audience = self.choices[value]
            await self.show_preview(call)
        elif verb == "c" and self.step == "confirm":
            if value != 1:
                await close_dialog(call)
                await call.reply(call.t("meeting.dialog_cancelled"))
                return
            assert self.audience is not None and self.starts_at is not None
            await _schedule(
                call,
                MeetingDraft(self.kind, self.title, self.starts_at, self.audience, self.place),
                in_dialog=True,
            )
        else:
            raise Denied("meeting.expired")


# ---------------------------------------------------------------- invitees' answers


async def meeting_button(call: Call) -> str | None:
    """「参加」/「请假」 for invitees; 「签到码」/「出席情况」 for the organiser."""
    assert call.actor is not None
    verb, meeting_id = callback_id(call, "mt")
    deps = call.deps
    if verb == "go":
        # Changed their mind while asked for a reason: the next message is not a reason.
        async with ending_if(call, LeaveDialog, lambda d: d.meeting_id == meeting_id) as session:
            result = await meetings.answer(
                session, call.actor, meeting_id, "attend", now=deps.now()
            )
        await mark_buttons(call, result.markup)
        return call.t("meeting.answered_attend" if result.changed else "meeting.answer_same")
    if verb == "lv":
        async with deps.db.read() as session:
            title = await meetings.check_may_answer(session, call.actor, meeting_id, now=deps.now())
        await open_dialog(call, LeaveDialog(meeting_id))
        await call.reply(call.t("leave.prompt", title=title))
        return None
    authorize(call.actor, "checkincode")
    if verb == "qr":
        await refresh_screen(call, Screen(MEETING, meeting_id))
        return None
    if verb == "at":
        await show_attendance(call, meeting_id)
        return None
    raise Denied("not_your_button")


@dialog("leave")
@dataclass
class LeaveDialog:
    meeting_id: int

    async def on_message(self, call: Call) -> bool:
        assert call.actor is not None
        message = call.update.effective_message
        text = message.text if message is not None else None
        if not text:
            await call.reply(call.t("leave.empty"))
            return False
        deps = call.deps
        try:
            async with ending(call) as session:
                result = await meetings.answer(
                    session, call.actor, self.meeting_id, "leave", now=deps.now(), reason=text
                )
        except Invalid as exc:
            if exc.key not in ("meeting.started", "meeting.is_cancelled"):
                raise
            # Too late to ask for leave: say so once and let the member talk to the bot again.
            await call.reply(call.t(exc.key, **exc.params))
            return True
        await call.reply(
            call.t("leave.saved", title=result.title),
            InlineKeyboardMarkup.de_json(result.markup, call.context.bot),
        )
        return True


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("meeting", guarded(deps, "meeting", meeting_command), filters=private)
    )
    # Invitees answer with member rights; organiser buttons re-check inside.
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "checkin", meeting_button), pattern=r"^mt:")
    )
    app.add_handler(
        CallbackQueryHandler(
            guarded_button(deps, "meeting", dialog_buttons(MeetingDialog, "mg", "meeting.expired")),
            pattern=r"^mg:",
        )
    )
