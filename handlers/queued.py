"""Heavy work handed to the background runner (bot/background.py): the handler checks the
request, queues it in one transaction and answers at once; the result follows when ready."""

from __future__ import annotations

from typing import Any

from telegram.constants import ChatAction

from bot import background
from handlers.common import Call


async def queue(call: Call, kind: str, params: dict[str, Any], *same: object) -> bool:
    """Queue `kind` for the caller, answered in their chat; False when the same request (the
    kind, the caller and `same`) is already on its way, and nothing new was queued."""
    assert call.actor is not None
    chat = call.update.effective_chat
    assert chat is not None
    request = background.Request(
        kind,
        params,
        call.actor.member_id,
        chat.id,
        call.lang,
        background.same_request(kind, call.actor.member_id, *same),
    )
    async with call.deps.db.write() as session:
        return await background.submit(session, request, now=call.deps.now())


async def acknowledge(call: Call, queued: bool, kind: str, text: str, action: str) -> None:
    """Answer "preparing…" (or "still preparing" to a repeat) and show "sending a file"."""
    if not queued:
        text = call.t("background.already", what=call.t(f"background.kind.{kind}"))
    await call.reply(text)
    chat = call.update.effective_chat
    assert chat is not None
    await call.context.bot.send_chat_action(chat.id, action)


UPLOAD_DOCUMENT = ChatAction.UPLOAD_DOCUMENT
UPLOAD_PHOTO = ChatAction.UPLOAD_PHOTO
