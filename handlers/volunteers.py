"""志愿服务 in chat: /activity (one line, guided, show, cancel) and members' sign-up buttons.

The records (/activities, /roster, /hours) and the organiser's check-in tools live in
handlers.volunteer_records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import authorize
from bot.errors import Denied, Invalid
from bot.services import volunteers
from bot.services.audience import Audience, resolve_audience
from bot.services.volunteers import ActivityDraft
from bot.texts import Raw
from handlers.checkin import ACTIVITY_IN, ACTIVITY_OUT, Screen, refresh_screen
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
from handlers.dialogs import close_dialog, dialog, dialog_buttons, ending, open_dialog
from handlers.meetings import parse_when
from handlers.volunteer_records import show_roster

_RANGE = re.compile(
    r"^(\d{4}[-/]\d{1,2}[-/]\d{1,2})\s+(\d{1,2}:\d{2})\s*[-–—~～至到]\s*(\d{1,2}:\d{2})$"
)
_DEADLINE = re.compile(r"^(?:截止|deadline)\s*[:：]?\s*(.+)$", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*[|｜]\s*")
_CANCEL_WORDS = frozenset({"cancel", "取消"})


def parse_range(text: str, call: Call) -> tuple[datetime, datetime]:
    """`YYYY-MM-DD HH:MM-HH:MM` in the organisation's zone; the end is on the same day."""
    match = _RANGE.match(" ".join(text.split()))
    if match is None:
        raise Invalid("activity.bad_time", value=text)
    try:
        starts_at = parse_when(f"{match[1]} {match[2]}", call)
        ends_at = parse_when(f"{match[1]} {match[3]}", call)
    except Invalid:
        raise Invalid("activity.bad_time", value=text) from None
    return starts_at, ends_at


def parse_capacity(text: str) -> int:
    cleaned = text.strip().removesuffix("人").strip()
    if not cleaned.isdecimal() or not cleaned.isascii():
        raise Invalid("activity.bad_capacity_text", value=text, limit=volunteers.MAX_CAPACITY)
    return int(cleaned)


def audience_text(call: Call, audience: Audience) -> Raw:
    return call.t(f"activity.audience_{audience.kind}", name=audience.label)


async def _create(call: Call, draft: ActivityDraft, *, in_dialog: bool = False) -> None:
    assert call.actor is not None
    deps = call.deps
    # The guided /activity ends in the transaction that creates the activity.
    async with ending(call) if in_dialog else deps.db.write() as session:
        done = await volunteers.create_activity(
            session, deps.volunteers, call.actor, draft, now=deps.now()
        )
    deps.outbox_ready.set()
    tz = deps.config.organisation.tz
    await call.reply(
        call.t(
            "activity.created",
            id=done.activity_id,
            title=done.title,
            when=volunteers.when_text(call.lang, done.starts_at, done.ends_at, tz),
            count=done.pushed,
        )
    )


# ---------------------------------------------------------------- /activity


async def activity_command(call: Call) -> None:
    assert call.actor is not None
    rest = call.rest
    if not rest:
        await open_dialog(call, ActivityDialog())
        await call.reply(call.t("activity.ask_title"))
        return
    first, tail = split_word(rest)
    activity_id = parse_id(first)
    if activity_id is not None and "|" not in rest and "｜" not in rest:
        await _manage(call, activity_id, tail)
        return
    parts = _SEPARATORS.split(rest)
    if len(parts) < 4:
        await call.reply(call.t("activity.usage"))
        return
    title, when, place, capacity, *options = parts
    starts_at, ends_at = parse_range(when, call)
    deadline: datetime | None = None
    ref: str | None = None
    for option in options:
        if match := _DEADLINE.match(option):
            deadline = parse_when(match[1], call)
        elif option.startswith("#"):
            ref = option
        elif option:
            await call.reply(call.t("activity.usage"))
            return
    async with call.deps.db.read() as session:
        audience = await resolve_audience(session, call.deps.org_id, call.actor, ref)
    draft = ActivityDraft(
        title, starts_at, ends_at, place, parse_capacity(capacity), audience, deadline
    )
    await _create(call, draft)


async def _manage(call: Call, activity_id: int, tail: str) -> None:
    """`/activity 3` shows it; `/activity 3 cancel [reason]` calls it off."""
    assert call.actor is not None
    deps = call.deps
    if not tail:
        await _show(call, activity_id)
        return
    word, reason = split_word(tail)
    if word.lower() not in _CANCEL_WORDS:
        await call.reply(call.t("activity.edit_usage", id=activity_id))
        return
    async with deps.db.write() as session:
        done = await volunteers.cancel_activity(
            session, deps.volunteers, call.actor, activity_id, reason, now=deps.now()
        )
    deps.outbox_ready.set()
    await call.reply(
        call.t(
            "activity.cancelled_done", id=done.activity_id, title=done.title, count=done.notified
        )
    )


async def _show(call: Call, activity_id: int) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        activity, taken, waiting = await volunteers.activity_detail(
            session, call.actor, activity_id
        )
    tz = call.deps.config.organisation.tz
    text = "\n".join(
        [
            f"#{activity.id} " + volunteers.describe(activity, call.lang, tz, taken),
            call.t(f"activity.status_{activity.status}"),
            call.t("activity.counts", taken=taken, capacity=activity.capacity, waiting=waiting),
        ]
    )
    rows = [
        [
            (call.t("activity.btn_code_in"), f"va:qi:{activity.id}"),
            (call.t("activity.btn_code_out"), f"va:qo:{activity.id}"),
            (call.t("activity.btn_roster"), f"va:ro:{activity.id}"),
        ]
    ]
    await call.reply(text, buttons(rows) if activity.status == "open" else None)


@dialog("activity")
@dataclass
class ActivityDialog:
    """The guided /activity: each answer typed, the deadline and the confirmation as buttons."""

    step: str = "title"
    title: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    place: str = ""
    capacity: int = 0
    deadline: datetime | None = None
    audience: Audience | None = None

    async def on_message(self, call: Call) -> bool:
        authorize(call.actor, "activity")
        message = call.update.effective_message
        text = (message.text or "").strip() if message is not None else ""
        now = call.deps.now()
        if not text or self.step == "confirm":
            # A file, a photo, or words where a button is wanted: say what this step needs.
            await call.reply(call.t(f"activity.ask_{self.step}"))
        elif self.step == "title":
            if len(text) > volunteers.MAX_TITLE:
                raise Invalid("item.title_too_long", limit=volunteers.MAX_TITLE)
            self.title = text
            self.step = "time"
            await call.reply(call.t("activity.ask_time"))
        elif self.step == "time":
            starts_at, ends_at = parse_range(text, call)
            if starts_at <= now:
                raise Invalid("activity.in_past")
            if ends_at <= starts_at:
                raise Invalid("activity.end_before_start")
            self.starts_at, self.ends_at = starts_at, ends_at
            self.step = "place"
            await call.reply(call.t("activity.ask_place"))
        elif self.step == "place":
            if len(text) > volunteers.MAX_PLACE:
                raise Invalid("meeting.place_too_long", limit=volunteers.MAX_PLACE)
            self.place = text
            self.step = "capacity"
            await call.reply(call.t("activity.ask_capacity"))
        elif self.step == "capacity":
            capacity = parse_capacity(text)
            if not 1 <= capacity <= volunteers.MAX_CAPACITY:
                raise Invalid("activity.bad_capacity", limit=volunteers.MAX_CAPACITY)
            self.capacity = capacity
            self.step = "deadline"
            await call.reply(
                call.t("activity.ask_deadline"),
                buttons([[(call.t("activity.btn_no_deadline"), "vg:d:0")]]),
            )
        elif self.step == "deadline":
            deadline = parse_when(text, call)
            assert self.starts_at is not None
            if not now < deadline <= self.starts_at:
                raise Invalid("activity.bad_deadline")
            self.deadline = deadline
            await self.show_preview(call)
        return False

    async def show_preview(self, call: Call) -> None:
        assert call.actor is not None and self.starts_at is not None and self.ends_at is not None
        deps = call.deps
        async with deps.db.read() as session:
            self.audience = await resolve_audience(session, deps.org_id, call.actor, None)
        self.step = "confirm"
        tz = deps.config.organisation.tz
        deadline = call.local(self.deadline) if self.deadline else call.t("activity.deadline_start")
        await call.reply(
            call.t(
                "activity.preview",
                title=self.title,
                when=volunteers.when_text(call.lang, self.starts_at, self.ends_at, tz),
                place=self.place,
                capacity=self.capacity,
                deadline=deadline,
                audience=audience_text(call, self.audience),
            ),
            buttons(
                [
                    [
                        (call.t("activity.btn_confirm"), "vg:c:1"),
                        (call.t("activity.btn_cancel_dialog"), "vg:c:0"),
                    ]
                ]
            ),
        )

    async def on_button(self, call: Call, verb: str, value: int) -> None:
        if verb == "d" and self.step == "deadline":
            self.deadline = None
            await self.show_preview(call)
        elif verb == "c" and self.step == "confirm":
            if value != 1:
                await close_dialog(call)
                await call.reply(call.t("activity.dialog_cancelled"))
                return
            assert self.audience is not None
            assert self.starts_at is not None and self.ends_at is not None
            await _create(
                call,
                ActivityDraft(
                    self.title,
                    self.starts_at,
                    self.ends_at,
                    self.place,
                    self.capacity,
                    self.audience,
                    self.deadline,
                ),
                in_dialog=True,
            )
        else:
            raise Denied("activity.expired")


# ---------------------------------------------------------------- members' buttons


async def activity_button(call: Call) -> str | None:
    """Members: 「报名」「取消报名」「确认参加」「放弃」. Organisers: code screens and roster."""
    assert call.actor is not None
    verb, activity_id = callback_id(call, "va")
    deps = call.deps
    settings = deps.volunteers
    if verb == "su":
        async with deps.db.write() as session:
            signed = await volunteers.sign_up(
                session, settings, call.actor, activity_id, now=deps.now()
            )
        await mark_buttons(call, signed.markup, only_for=f":{activity_id}")
        if signed.already:
            if signed.status == "waiting":
                return call.t("signup.already_waiting", position=signed.position)
            if signed.status == "offered":
                return call.t("signup.already_offered")
            return call.t("signup.already_confirmed", title=signed.title)
        if signed.status == "waiting":
            await call.reply(call.t("signup.waiting", position=signed.position))
        else:
            await call.reply(call.t("signup.confirmed", title=signed.title))
        return None
    if verb == "cx":
        async with deps.db.write() as session:
            cancelled = await volunteers.cancel_signup(
                session, settings, call.actor, activity_id, now=deps.now()
            )
        deps.outbox_ready.set()
        await mark_buttons(call, cancelled.markup, only_for=f":{activity_id}")
        if cancelled.had is None:
            return call.t("signup.not_signed", title=cancelled.title)
        key = {"waiting": "signup.left_waitlist", "offered": "signup.declined_offer"}.get(
            cancelled.had, "signup.cancelled"
        )
        await call.reply(call.t(key, title=cancelled.title))
        return None
    if verb in ("ok", "no"):
        async with deps.db.write() as session:
            answered = await volunteers.answer_offer(
                session, settings, call.actor, activity_id, verb == "ok", now=deps.now()
            )
        deps.outbox_ready.set()
        await mark_buttons(call, answered.markup, only_for=f":{activity_id}")
        key = "offer.accepted" if answered.status == "confirmed" else "offer.declined"
        await call.reply(call.t(key, title=answered.title))
        return None
    if verb in ("qi", "qo"):
        authorize(call.actor, "activitycode")
        await refresh_screen(
            call, Screen(ACTIVITY_IN if verb == "qi" else ACTIVITY_OUT, activity_id)
        )
        return None
    if verb == "ro":
        authorize(call.actor, "roster")
        await show_roster(call, activity_id)
        return None
    raise Denied("not_your_button")


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("activity", guarded(deps, "activity", activity_command), filters=private)
    )
    # Members sign up with member rights; organiser buttons re-check inside.
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "activities", activity_button), pattern=r"^va:")
    )
    app.add_handler(
        CallbackQueryHandler(
            guarded_button(
                deps, "activity", dialog_buttons(ActivityDialog, "vg", "activity.expired")
            ),
            pattern=r"^vg:",
        )
    )
