"""Check-in (签到): the member's /checkin code or QR deep link, and the organiser's screen and
manual marks."""

from __future__ import annotations

import io
import re

import segno
from telegram.ext import CommandHandler, filters

from bot.errors import Denied
from bot.services import meetings
from bot.texts import Raw, join_names
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


async def send_code(call: Call, meeting_id: int) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        code = await meetings.current_code(
            session, deps.meetings, call.actor, meeting_id, now=deps.now()
        )
    username = call.context.bot.username
    link = f"https://t.me/{username}?start={code.qr_param}"
    chat = call.update.effective_chat
    assert chat is not None
    await call.context.bot.send_photo(
        chat.id,
        qr_png(link),
        caption=call.t(
            "checkincode.caption",
            title=code.title,
            code=code.code,
            until=call.local(code.valid_until, "%H:%M"),
            closes=call.local(code.closes, "%H:%M"),
        ),
        reply_markup=buttons([[(call.t("checkincode.btn_refresh"), f"mt:qr:{meeting_id}")]]),
    )


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
