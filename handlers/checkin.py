"""Check-in (签到): the member's /checkin code or QR deep link, and the organiser's screen and
manual marks."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress

import segno
from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import CommandHandler, filters

from bot.auth import Actor
from bot.errors import Denied, DomainError
from bot.services import meetings
from bot.texts import Raw, join_names, t
from handlers.common import App, Call, Deps, buttons, guarded, id_arg

_NAMES = re.compile(r"[\s,，、;；]+")
SHOW_NAMES = 60


async def checkin(call: Call) -> None:
    assert call.actor is not None
    if len(call.args) != 1:
        await call.reply(call.t("checkin.usage"))
        return
    deps = call.deps
    async with deps.db.write() as session:
        result = await meetings.checkin_with_code(
            session, deps.meetings, call.actor, call.args[0], now=deps.now()
        )
    await call.reply(_checked_in_text(call, result))


def _checked_in_text(call: Call, result: meetings.CheckedIn) -> Raw:
    if result.already:
        return call.t("checkin.already", title=result.title)
    return call.t("checkin.late" if result.late else "checkin.done", title=result.title)


async def checkin_from_link(call: Call, param: str) -> None:
    """/start ci_…: the member scanned the QR code on the organiser's screen."""
    if call.actor is None:
        raise Denied("not_registered")
    deps = call.deps
    async with deps.db.write() as session:
        result = await meetings.checkin_with_qr(
            session, deps.meetings, call.actor, param, now=deps.now()
        )
    await call.reply(_checked_in_text(call, result))


async def checkincode(call: Call) -> None:
    meeting_id = id_arg(call)
    if meeting_id is None or len(call.args) != 1:
        await call.reply(call.t("checkincode.usage"))
        return
    await send_code(call, meeting_id)


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


async def _screen(
    bot: Bot, deps: Deps, actor: Actor, meeting_id: int, lang: str
) -> tuple[bytes, str, InlineKeyboardMarkup]:
    """The QR picture, caption and refresh button for this minute."""
    async with deps.db.read() as session:
        code = await meetings.current_code(
            session, deps.meetings, actor, meeting_id, now=deps.now()
        )
    tz = deps.config.organisation.tz
    caption = t(
        lang,
        "checkincode.caption",
        title=code.title,
        code=code.code,
        until=code.valid_until.astimezone(tz).strftime("%H:%M"),
        closes=code.closes.astimezone(tz).strftime("%H:%M"),
    )
    refresh = buttons([[(t(lang, "checkincode.btn_refresh"), f"mt:qr:{meeting_id}")]])
    return qr_png(f"https://t.me/{bot.username}?start={code.qr_param}"), caption, refresh


async def send_code(call: Call, meeting_id: int) -> None:
    """The organiser's screen; it redraws itself each minute until check-in closes."""
    assert call.actor is not None
    bot, deps = call.context.bot, call.deps
    picture, caption, refresh = await _screen(bot, deps, call.actor, meeting_id, call.lang)
    chat = call.update.effective_chat
    assert chat is not None
    message = await bot.send_photo(chat.id, picture, caption=caption, reply_markup=refresh)
    deps.spawn(
        keep_fresh(bot, deps, call.actor, meeting_id, call.lang, chat.id, message.message_id)
    )


async def keep_fresh(
    bot: Bot,
    deps: Deps,
    actor: Actor,
    meeting_id: int,
    lang: str,
    chat_id: int,
    message_id: int,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Replace the picture just after each minute turns, so a screen left on a projector stays
    valid; at the close say so. Stops when the message is gone (refreshed by hand, deleted)."""
    while True:
        now = deps.now()
        await sleep(60 - now.second - now.microsecond / 1_000_000 + 0.5)
        try:
            picture, caption, refresh = await _screen(bot, deps, actor, meeting_id, lang)
        except DomainError:
            # Check-in closed (or the meeting was cancelled): the screen says so and stops.
            with suppress(TelegramError):
                await bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=t(lang, "checkincode.over", id=meeting_id),
                )
            return
        try:
            await bot.edit_message_media(
                InputMediaPhoto(picture, caption=caption, parse_mode=ParseMode.HTML),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=refresh,
            )
        except TelegramError:
            return


async def present(call: Call) -> None:
    assert call.actor is not None
    meeting_id = id_arg(call)
    names = [n for n in _NAMES.split(" ".join(call.args[1:])) if n]
    if meeting_id is None or not names:
        await call.reply(call.t("present.usage"))
        return
    deps = call.deps
    async with deps.db.write() as session:
        result = await meetings.mark_present(
            session, deps.meetings, call.actor, meeting_id, names, now=deps.now()
        )
    lines = [call.t("present.title", title=result.title)]
    for key, group in (
        ("present.marked", result.marked),
        ("present.already", result.already),
        ("present.unknown", result.unknown),
    ):
        if group:
            lines.append(call.t(key, names=join_names(group, SHOW_NAMES)))
    await call.reply("\n".join(lines))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (("checkin", checkin), ("checkincode", checkincode), ("present", present)):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
