"""Check-in (签到) for meetings and volunteer activities: the member's /checkin code or QR deep
link, the organiser's rotating code screen, and marks by hand."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

import segno
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, filters

from bot.auth import Actor
from bot.errors import Denied, DomainError
from bot.services import checkin as checkin_service
from bot.services import meetings, volunteer_checkin, volunteers
from bot.services.checkin_codes import CheckinCode, qr_target
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
        result = await checkin_service.checkin_with_code(
            session, deps.meetings, deps.volunteers, call.actor, call.args[0], now=deps.now()
        )
    await call.reply(_checked_text(call, result))


def _checked_text(call: Call, result: meetings.CheckedIn | volunteer_checkin.VolunteerCheck) -> Raw:
    if isinstance(result, volunteer_checkin.VolunteerCheck) and result.direction == "out":
        key = "checkout.already" if result.already else "checkout.done"
        return call.t(key, title=result.title, hours=volunteers.hours_text(result.minutes))
    if result.already:
        return call.t("checkin.already", title=result.title)
    return call.t("checkin.late" if result.late else "checkin.done", title=result.title)


def is_checkin_param(param: str) -> bool:
    return meetings.is_checkin_param(param) or volunteer_checkin.is_checkin_param(param)


async def checkin_from_link(call: Call, param: str) -> None:
    """/start ci_… (a meeting) or vi_…/vo_… (an activity): the member scanned the QR code on the
    organiser's screen."""
    if call.actor is None:
        raise Denied("not_registered")
    deps = call.deps
    result: meetings.CheckedIn | volunteer_checkin.VolunteerCheck
    async with deps.db.write() as session:
        if volunteer_checkin.is_checkin_param(param):
            result = await volunteer_checkin.check_with_qr(
                session, deps.volunteers, call.actor, param, now=deps.now()
            )
        else:
            result = await meetings.checkin_with_qr(
                session, deps.meetings, call.actor, param, now=deps.now()
            )
    await call.reply(_checked_text(call, result))


async def checkincode(call: Call) -> None:
    meeting_id = id_arg(call)
    if meeting_id is None or len(call.args) != 1:
        await call.reply(call.t("checkincode.usage"))
        return
    await send_screen(call, Screen(MEETING, meeting_id))


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


MEETING = "meeting"
ACTIVITY_IN = "in"
ACTIVITY_OUT = "out"


@dataclass(frozen=True)
class Screen:
    """What an organiser's code screen is for: a meeting, or an activity's check-in or -out."""

    kind: str  # meeting | in | out
    id: int

    @property
    def refresh_data(self) -> str:
        if self.kind == MEETING:
            return f"mt:qr:{self.id}"
        return f"va:q{self.kind[0]}:{self.id}"

    @property
    def caption_key(self) -> str:
        return (
            "checkincode.caption" if self.kind == MEETING else f"activitycode.caption_{self.kind}"
        )

    @property
    def over_key(self) -> str:
        return "checkincode.over" if self.kind == MEETING else "activitycode.over"

    async def code(self, session: AsyncSession, deps: Deps, actor: Actor) -> CheckinCode:
        if self.kind == MEETING:
            return await meetings.current_code(
                session, deps.meetings, actor, self.id, now=deps.now()
            )
        return await volunteer_checkin.current_code(
            session, deps.volunteers, actor, self.id, self.kind, now=deps.now()
        )


async def _screen(
    bot: Bot, deps: Deps, actor: Actor, screen: Screen, lang: str
) -> tuple[bytes, str, InlineKeyboardMarkup]:
    """The QR picture, caption and refresh button for this minute."""
    async with deps.db.read() as session:
        code = await screen.code(session, deps, actor)
    tz = deps.config.organisation.tz
    caption = t(
        lang,
        screen.caption_key,
        title=code.title,
        code=code.code,
        until=code.valid_until.astimezone(tz).strftime("%H:%M"),
        closes=code.closes.astimezone(tz).strftime("%H:%M"),
    )
    refresh = buttons([[(t(lang, "checkincode.btn_refresh"), screen.refresh_data)]])
    target = qr_target(deps.config, bot.username, code.qr_param, code.code)
    return qr_png(target), caption, refresh


async def send_screen(call: Call, screen: Screen) -> None:
    """The organiser's screen; it redraws itself each minute until check-in closes."""
    assert call.actor is not None
    bot, deps = call.context.bot, call.deps
    picture, caption, refresh = await _screen(bot, deps, call.actor, screen, call.lang)
    chat = call.update.effective_chat
    assert chat is not None
    message = await bot.send_photo(chat.id, picture, caption=caption, reply_markup=refresh)
    deps.spawn(keep_fresh(bot, deps, call.actor, screen, call.lang, chat.id, message.message_id))


async def refresh_screen(call: Call, screen: Screen) -> None:
    """「刷新签到码」: a new picture replaces the pressed one, so only the current code shows."""
    await send_screen(call, screen)
    query = call.update.callback_query
    message = query.message if query is not None else None
    if message is not None and getattr(message, "photo", None):
        with suppress(BadRequest):
            await call.context.bot.delete_message(message.chat.id, message.message_id)


async def keep_fresh(
    bot: Bot,
    deps: Deps,
    actor: Actor,
    screen: Screen,
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
            picture, caption, refresh = await _screen(bot, deps, actor, screen, lang)
        except DomainError:
            # Check-in closed (or the event was cancelled): the screen says so and stops.
            with suppress(TelegramError):
                await bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=t(lang, screen.over_key, id=screen.id),
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
            lines.append(call.t(key, names=join_names(group, SHOW_NAMES, call.lang)))
    await call.reply("\n".join(lines))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (("checkin", checkin), ("checkincode", checkincode), ("present", present)):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
