"""Glue shared by the feature modules: dependencies, the per-update call, and the guard that
applies authorization to every command and button in one place."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes

from bot.auth import Actor, authorize
from bot.channels.address import FEISHU
from bot.channels.store import ChannelStore
from bot.config import Config
from bot.delivery import QuietHours
from bot.errors import DomainError
from bot.inbound import Fairness, FairnessSettings, Inbound, Inbox
from bot.metrics import Metrics
from bot.services.dues import DuesSettings
from bot.services.items import PushSettings
from bot.services.meetings import MeetingSettings
from bot.services.members import find_actor
from bot.services.tasks import TaskSettings
from bot.services.volunteers import VolunteerSettings
from bot.texts import Raw, plain, t
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

# Telegram's limit is 4,096 characters; leave room for the entities HTML expands into.
MESSAGE_LIMIT = 3800

Context = ContextTypes.DEFAULT_TYPE
App = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class Deps:
    """What handlers need, built once by the composition root."""

    config: Config
    db: Database
    org_id: int
    # Set after a use case queued pushes, so the sender looks at the outbox at once.
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # What "now" is for handlers, the scheduler and the sender; the demo runs a faster clock.
    clock: Callable[[], datetime] = utcnow
    # Work that outlives one update (a check-in screen kept fresh); cancelled at shutdown.
    background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def default_language(self) -> str:
        return self.config.organisation.language

    @cached_property
    def push(self) -> PushSettings:
        # Built once: every use case that queues a push needs it.
        tz = self.config.organisation.tz
        return PushSettings(
            org_id=self.org_id,
            default_language=self.default_language,
            tz=tz,
            quiet=QuietHours.from_config(self.config.delivery, tz),
            followup=self.config.followup,
        )

    @cached_property
    def inbox(self) -> Inbox:
        return Inbox(self.db, self.config.telegram.update_lease_seconds, clock=utcnow)

    @cached_property
    def fairness(self) -> Fairness:
        tg = self.config.telegram
        return Fairness(
            FairnessSettings(
                tg.member_burst, tg.member_per_minute, tg.stranger_burst, tg.stranger_per_minute
            )
        )

    @cached_property
    def inbound(self) -> Inbound:
        return Inbound(self.inbox, self.fairness)

    @cached_property
    def feishu_store(self) -> ChannelStore:
        # One per process: a card sent by the outbox is found in memory when it is pressed.
        return ChannelStore(self.db, FEISHU)

    @cached_property
    def metrics(self) -> Metrics:
        # One registry per application: /metrics counts this application's updates and sends.
        return Metrics()

    @cached_property
    def meetings(self) -> MeetingSettings:
        return MeetingSettings(self.push, self.config.meetings)

    @cached_property
    def volunteers(self) -> VolunteerSettings:
        return VolunteerSettings(
            self.push, self.config.volunteers, self.config.meetings.code_grace_seconds
        )

    @cached_property
    def dues(self) -> DuesSettings:
        return DuesSettings(self.push, self.config.dues)

    @cached_property
    def tasks(self) -> TaskSettings:
        return TaskSettings(self.push, self.config.tasks)

    def now(self) -> datetime:
        return self.clock()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # A fresh context: work that outlives the update must not commit as part of it.
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self.background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        # Nobody awaits these tasks: without this, a failure would vanish silently.
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task failed", exc_info=error)

    async def cancel_tasks(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)


@dataclass
class Call:
    """One update, the member behind it (None for a stranger) and their language."""

    update: Update
    context: Context
    deps: Deps
    actor: Actor | None
    lang: str
    # Work for after a pressed button is answered (redrawing its message): the member's spinner
    # stops first.
    after_answer: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def t(self, key: str, /, **params: Any) -> Raw:
        return t(self.lang, key, **params)

    @property
    def args(self) -> list[str]:
        return list(self.context.args or [])

    @property
    def rest(self) -> str:
        """The message text after the command word, as typed (separators like "|" intact)."""
        message = self.update.effective_message
        words = (message.text or "").split(maxsplit=1) if message else []
        return words[1].strip() if len(words) > 1 else ""

    def local(self, moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time as the organisation reads it."""
        return moment.astimezone(self.deps.config.organisation.tz).strftime(fmt)

    @property
    def user_id(self) -> int:
        user = self.update.effective_user
        assert user is not None  # guarded() refuses updates without a user
        return user.id

    async def reply(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
        chat = self.update.effective_chat
        assert chat is not None
        return await self.context.bot.send_message(chat.id, text, reply_markup=markup)

    async def reply_long(self, lines: Sequence[str], header: str = "") -> None:
        """Send lines as few messages as fit, never splitting a line."""
        chunk = header
        for line in lines:
            if chunk and len(chunk) + len(line) + 1 > MESSAGE_LIMIT:
                await self.reply(chunk)
                chunk = ""
            chunk = f"{chunk}\n{line}" if chunk else line
        if chunk:
            await self.reply(chunk)


Handler = Callable[[Call], Awaitable[None]]
# A button handler returns the short notice shown on the button, if any.
ButtonHandler = Callable[[Call], Awaitable[str | None]]
PTBCallback = Callable[[Update, Context], Coroutine[Any, Any, None]]


def buttons(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Buttons from (label, callback data) pairs; data carries ids only (64-byte limit)."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(plain(label), callback_data=data) for label, data in row]
            for row in rows
        ]
    )


async def drop_buttons(call: Call) -> None:
    """Take the buttons off the pressed message, so the same choice cannot be made twice."""
    query = call.update.callback_query
    if query is not None and query.message is not None:
        await query.edit_message_reply_markup(reply_markup=None)


async def mark_buttons(call: Call, markup: dict[str, Any], *, only_for: str = "") -> None:
    """Show the pressed message's buttons for the member's new state (✔ on their answer).

    With `only_for` (a callback-data suffix such as ":12"), a message whose buttons are also about
    other things (a list of activities) is left as it is. The change itself is already stored:
    Telegram refusing the edit (flood control, a timeout) must not turn it into an error."""
    query = call.update.callback_query
    if query is None or query.message is None:
        return
    if only_for:
        current = getattr(query.message, "reply_markup", None)
        datas = [
            button.callback_data
            for row in (current.inline_keyboard if current else ())
            for button in row
        ]
        if any(not str(data).endswith(only_for) for data in datas):
            return

    async def redraw() -> None:
        with suppress(TelegramError):
            await query.edit_message_reply_markup(
                InlineKeyboardMarkup.de_json(markup, call.context.bot)
            )

    call.after_answer.append(redraw)


def keyboard(lang: str, rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Buttons from (text-catalog key, callback data) pairs."""
    return buttons([[(t(lang, key), data) for key, data in row] for row in rows])


async def _load_call(update: Update, context: Context, deps: Deps) -> Call | None:
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return None
    actor = await find_actor(deps.db, user.id, deps.default_language)
    if actor is None:
        # Someone who has not joined gets a smaller allowance than members.
        allowed, tell = await deps.fairness.take(user.id, stranger=True)
        if not allowed:
            await deps.inbound.tell_to_wait(update, tell=tell)
            return None
    lang = actor.language if actor else deps.default_language
    return Call(update, context, deps, actor, lang)


def guarded(deps: Deps, command: str, handler: Handler) -> PTBCallback:
    """Wrap a command handler: load the caller, check their role, map domain errors to replies."""

    async def callback(update: Update, context: Context) -> None:
        call = await _load_call(update, context, deps)
        if call is None:
            return
        try:
            authorize(call.actor, command)
            await handler(call)
        except DomainError as exc:
            await call.reply(call.t(exc.key, **exc.params))

    return callback


def guarded_button(deps: Deps, command: str, handler: ButtonHandler) -> PTBCallback:
    """The same guard for inline buttons: refusals come back as a short alert on the button."""

    async def callback(update: Update, context: Context) -> None:
        query = update.callback_query
        call = await _load_call(update, context, deps)
        if call is None or query is None:
            return
        try:
            authorize(call.actor, command)
            notice = await handler(call)
        except DomainError as exc:
            await query.answer(plain(call.t(exc.key, **exc.params))[:200], show_alert=True)
            return
        except Exception:
            # Stop the spinner; the error handler logs and tells the user with a reference.
            with suppress(Exception):
                await query.answer()
            raise
        # Always answer, or the client keeps showing a spinner on the button. A query too old
        # to answer (handled again after a restart) changes nothing: the result is stored.
        with suppress(BadRequest):
            await query.answer(plain(notice)[:200] if notice else None)
        for work in call.after_answer:
            await work()

    return callback


_ID = re.compile(r"#?([0-9]{1,9})")


def parse_id(text: str) -> int | None:
    """A record number as users type it ("12" or "#12"); None for anything else."""
    match = _ID.fullmatch(text.strip())
    return int(match[1]) if match else None


def split_word(text: str) -> tuple[str, str]:
    """The first word and the rest, split at any whitespace (a newline counts)."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def id_arg(call: Call) -> int | None:
    """The record number a command starts with (`/attendance 12`), if it does."""
    return parse_id(call.args[0]) if call.args else None


def callback_id(call: Call, prefix: str) -> tuple[str, int]:
    """Parse "prefix:verb:id" button data; anything else is a forged or stale button."""
    query = call.update.callback_query
    parts = (query.data or "" if query else "").split(":")
    number = parse_id(parts[2]) if len(parts) == 3 else None
    if parts[0] != prefix or number is None:
        raise DomainError("not_your_button")
    return parts[1], number
