"""Multi-step conversations: the member's next plain message (or file) goes to their open dialog.

A dialog is a dataclass registered under a name (`@dialog("study")`). It is kept in the
database, one row per chat with an expiry (bot/services/dialogs.py), its fields as JSON: a
restart, or another instance on the same database, continues it. Each step loads the dialog,
runs, and writes it back in a transaction of its own; a last step with effects (publishing,
saving a leave reason) ends the dialog in the transaction of those effects (`ending`), so the
two are applied together or not at all. A step that is refused changes nothing: the dialog stays
where it was. An expired dialog counts as none, and is deleted when a dialog is next opened and
at start-up.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot.errors import Denied
from bot.services import dialogs as store
from handlers.common import (
    App,
    ButtonHandler,
    Call,
    Context,
    Deps,
    PTBCallback,
    callback_id,
    guarded,
)
from handlers.system import FIRST_GROUP

log = logging.getLogger(__name__)

# After repeats and edits are dropped, before any feature: a member in a dialog is answering it.
DIALOG_GROUP = FIRST_GROUP + 1
# A dialog nobody answers for this long is forgotten; every step starts the time again. Long
# enough for a leave reason asked for days before the meeting.
LIFETIME = timedelta(days=7)

T = TypeVar("T")
D = TypeVar("D")


class Dialog(Protocol):
    async def on_message(self, call: Call) -> bool:
        """Handle the member's message; True when the dialog is finished."""
        ...


class ButtonDialog(Dialog, Protocol):
    async def on_button(self, call: Call, verb: str, value: int) -> str | None:
        """Handle one of the dialog's own buttons ("prefix:verb:value")."""
        ...


# ---------------------------------------------------------------- kinds and their JSON

_KINDS: dict[str, type[Any]] = {}
_NAMES: dict[type[Any], str] = {}


def dialog(name: str) -> Callable[[type[D]], type[D]]:
    """Register a dialog dataclass under the name its rows carry. Its fields may be str, int,
    bool, datetime, lists, other dataclasses (an Audience) and None."""

    def register(cls: type[D]) -> type[D]:
        assert is_dataclass(cls) and name not in _KINDS, name
        _KINDS[name] = cls
        _NAMES[cls] = name
        return cls

    return register


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        return _decode(options[0], value)
    if origin is list:
        (item,) = get_args(hint)
        return [_decode(item, v) for v in value]
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and is_dataclass(hint):
        return _build(hint, value)
    return value


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    return cls(
        **{f.name: _decode(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data}
    )


def dump(value: Dialog) -> tuple[str, str]:
    """The dialog's kind and its fields as JSON."""
    return _NAMES[type(value)], json.dumps(_encode(value), ensure_ascii=False)


def load(kind: str, state: str) -> Dialog | None:
    cls = _KINDS.get(kind)
    if cls is None:
        # Stored by another version of the bot: treat it as no dialog; it expires.
        log.warning("ignoring a dialog of unknown kind %r", kind)
        return None
    try:
        built: Dialog = _build(cls, json.loads(state))
    except (ValueError, TypeError, KeyError):
        log.warning("ignoring a %s dialog that cannot be read", kind, exc_info=True)
        return None
    return built


# ---------------------------------------------------------------- one chat's dialog

# Set by a step that ended its dialog itself, so the step's runner does not write it back.
_ended: ContextVar[bool] = ContextVar("dialog_ended", default=False)


def _chat_id(call: Call) -> int:
    chat = call.update.effective_chat
    assert chat is not None  # guarded() refuses updates without a chat
    return chat.id


async def _find(deps: Deps, chat_id: int) -> Dialog | None:
    async with deps.db.lookup() as conn:
        stored = await store.find(conn, chat_id, now=deps.now())
    return None if stored is None else load(stored.kind, stored.state)


async def current_dialog(call: Call) -> Dialog | None:
    return await _find(call.deps, _chat_id(call))


async def open_dialog(call: Call, value: Dialog) -> None:
    """Start a dialog in the caller's chat (replacing any other), in its own transaction."""
    await _keep(call, value, opening=True)


async def _keep(call: Call, value: Dialog, *, opening: bool = False) -> None:
    kind, state = dump(value)
    async with call.deps.db.write() as session:
        await store.keep(
            session,
            _chat_id(call),
            kind,
            state,
            now=call.deps.now(),
            ttl=LIFETIME,
            opening=opening,
        )


async def close_dialog(call: Call) -> None:
    """End the caller's dialog in a transaction of its own (a step without effects)."""
    async with call.deps.db.write() as session:
        await store.end(session, _chat_id(call), now=call.deps.now())
    _ended.set(True)


@asynccontextmanager
async def ending(call: Call) -> AsyncIterator[AsyncSession]:
    """A write session for a dialog's last step: the dialog ends in the transaction of the
    step's effects (the use case run in the block commits). Refused, nothing changes. A dialog
    another update ended meanwhile (a second tap on 「确认」, taken by another instance) is
    refused here, so its effects are applied once."""
    async with call.deps.db.write() as session:
        if not await store.drop(session, _chat_id(call)):
            raise Denied("dialog.none")
        yield session
        if session.in_transaction():
            # The use case had nothing to write (an answer given twice): end the dialog alone.
            await session.commit()
    _ended.set(True)


@asynccontextmanager
async def ending_if(
    call: Call, kind: type[D], match: Callable[[D], bool]
) -> AsyncIterator[AsyncSession]:
    """A write session that also ends the chat's dialog if it is of `kind` and matches (a leave
    reason asked for, when the member then presses 「参加」 after all), in the same
    transaction as the use case run in the block."""
    chat_id = _chat_id(call)
    async with call.deps.db.write() as session:
        stored = await store.find(session, chat_id, now=call.deps.now())
        found = None if stored is None else load(stored.kind, stored.state)
        ends = isinstance(found, kind) and match(found)
        if ends:
            await store.drop(session, chat_id)
        yield session
        if ends and session.in_transaction():
            await session.commit()


async def _step(call: Call, value: Dialog, work: Awaitable[T]) -> T:
    """Run one step of the dialog and store what it became, unless the step ended it."""
    token = _ended.set(False)
    try:
        result = await work
        if not _ended.get():
            await _keep(call, value)
        return result
    finally:
        _ended.reset(token)


async def _answer(call: Call, value: Dialog) -> None:
    if await value.on_message(call) and not _ended.get():
        await close_dialog(call)


def dialog_buttons(kind: type[ButtonDialog], prefix: str, expired: str) -> ButtonHandler:
    """The buttons of a guided dialog act only on the presser's own open dialog of that kind: a
    button of a finished dialog, or of somebody else's, is refused with `expired`."""

    async def handler(call: Call) -> str | None:
        value = await current_dialog(call)
        if not isinstance(value, kind):
            raise Denied(expired)
        verb, number = callback_id(call, prefix)
        return await _step(call, value, value.on_button(call, verb, number))

    return handler


def on_dialog_message(deps: Deps) -> PTBCallback:
    """The member's message goes to their open dialog, and no feature sees it; without a
    dialog, nothing happens here and the features' handlers answer."""

    async def callback(update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None or update.effective_user is None:
            return
        value = await _find(deps, chat.id)
        if value is None:
            return

        async def answer(call: Call) -> None:
            await _step(call, value, _answer(call, value))

        try:
            await guarded(deps, "cancel", answer)(update, context)
        except Exception as exc:
            # Reported as any handler's error would be; the features must not answer it too.
            await context.application.process_error(update, exc)
        raise ApplicationHandlerStop

    return callback


async def cancel(call: Call) -> None:
    async with call.deps.db.write() as session:
        had = await store.end(session, _chat_id(call), now=call.deps.now())
    await call.reply(call.t("dialog.cancelled" if had else "dialog.none"))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("cancel", guarded(deps, "cancel", cancel), filters=private))
    app.add_handler(
        MessageHandler(
            private
            & ~filters.COMMAND
            # Photos too, so a dialog that cannot use one says so instead of staying silent.
            & (filters.TEXT | filters.Document.ALL | filters.PHOTO),
            on_dialog_message(deps),
        ),
        group=DIALOG_GROUP,
    )
