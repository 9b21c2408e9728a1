"""Feishu's events in: checked, decrypted, and turned into the updates the core handles.

A member's private message (im.message.receive_v1) becomes a message update, a button press
(card.action.trigger) a callback query, both from the member's alias (bot.channels.address).
They then take the same inbound path as Telegram's updates: kept in the inbox first (the event
id is the key, so a redelivered event is dropped), handled in the member's lane, applied once.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bot.channels.address import FEISHU, event_update_id
from bot.channels.feishu import crypto
from bot.channels.feishu.bot_api import callback_id, feishu_file_id
from bot.channels.message import telegram_keyboard
from bot.channels.store import AliasCollision, ChannelStore, NameOf, message_number
from bot.config import FeishuConfig

log = logging.getLogger(__name__)

Receive = Callable[[Sequence[dict[str, Any]]], Awaitable[int]]

MESSAGE_EVENT = "im.message.receive_v1"
CARD_ACTION = "card.action.trigger"
# A command as typed on Feishu, where the client may put a space or a full-width slash first.
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}")
# Button data that types a command (a help card's buttons): "cmd:/todo".
COMMAND_PREFIX = "cmd:"
# Events older than this are refused: a replayed capture, not Feishu.
MAX_AGE_SECONDS = 3600


class Rejected(Exception):
    """The request is not from Feishu (bad signature, wrong token, unreadable)."""


def open_request(body: bytes, headers: Mapping[str, str], config: FeishuConfig) -> dict[str, Any]:
    """Check an HTTP callback's signature, decrypt it, check its token; the event as a dict."""
    try:
        outer = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Rejected("not JSON") from exc
    if not isinstance(outer, dict):
        raise Rejected("not a JSON object")
    if config.encrypt_key:
        if "encrypt" not in outer:
            raise Rejected("expected an encrypted body")
        given = headers.get("X-Lark-Signature", "")
        stamp = headers.get("X-Lark-Request-Timestamp", "")
        nonce = headers.get("X-Lark-Request-Nonce", "")
        # Feishu's URL check (type url_verification) comes unsigned; everything else is signed.
        signed = bool(given)
        if signed and not crypto.signature_ok(stamp, nonce, config.encrypt_key, body, given):
            raise Rejected("bad signature")
        if signed and stamp.isdigit() and abs(time.time() - int(stamp)) > MAX_AGE_SECONDS:
            raise Rejected("stale timestamp")
        try:
            event = json.loads(crypto.decrypt(config.encrypt_key, str(outer["encrypt"])))
        except (ValueError, json.JSONDecodeError) as exc:
            raise Rejected("cannot decrypt") from exc
        if not isinstance(event, dict):
            raise Rejected("not a JSON object")
        if not signed and event.get("type") != "url_verification":
            raise Rejected("unsigned event")
    else:
        event = outer
    token = event.get("token") if "challenge" in event else (event.get("header") or {}).get("token")
    if config.verification_token and not hmac.compare_digest(
        str(token or "").encode(), config.verification_token.encode()
    ):
        raise Rejected("wrong verification token")
    return event


class FeishuEvents:
    """Feishu's events as updates on the inbound path."""

    def __init__(
        self,
        store: ChannelStore,
        receive: Receive,
        app_id: str = "",
        name_of: NameOf | None = None,
    ) -> None:
        self.store = store
        self.receive = receive
        self.app_id = app_id
        # Asked once per person: events carry no names.
        self.name_of = name_of

    async def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keep the event as an update; the answer Feishu expects (for a press: no toast, the
        card is updated when the press has been handled)."""
        if event.get("type") == "url_verification":
            return {"challenge": event.get("challenge", "")}
        header = event.get("header") or {}
        kind = header.get("event_type")
        event_id = str(header.get("event_id") or "")
        if self.app_id and header.get("app_id") not in (None, "", self.app_id):
            log.warning("a Feishu event for another app (%s) was ignored", header.get("app_id"))
            return {}
        body = event.get("event") or {}
        if not event_id or kind not in (MESSAGE_EVENT, CARD_ACTION):
            return {}
        try:
            if kind == MESSAGE_EVENT:
                update = await self._message(event_id, body)
            else:
                update = await self._press(event_id, body)
        except AliasCollision:
            # Answered, so Feishu stops delivering it: no retry can make it anyone's.
            log.exception("a Feishu event was dropped: its sender's alias is someone else's")
            return {}
        if update is not None:
            await self.receive([update])
        return {}

    async def _person(self, open_id: str) -> dict[str, Any]:
        chat_id = await self.store.remember(open_id, self.name_of)
        name = self.store.name(chat_id)
        return {"id": chat_id, "is_bot": False, "first_name": name, "language_code": "zh"}

    async def _message(self, event_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        sender = body.get("sender") or {}
        message = body.get("message") or {}
        open_id = (sender.get("sender_id") or {}).get("open_id")
        if sender.get("sender_type") != "user" or not open_id:
            return None
        if message.get("chat_type") != "p2p":
            # The bot serves people one to one; group chats are not its place.
            return None
        person = await self._person(str(open_id))
        chat = {"id": person["id"], "type": "private", "first_name": ""}
        base: dict[str, Any] = {
            "message_id": message_number(str(message.get("message_id", event_id))),
            "date": _seconds(message.get("create_time")),
            "chat": chat,
            "from": person,
        }
        try:
            content = json.loads(message.get("content") or "{}")
        except json.JSONDecodeError:
            content = {}
        kind = message.get("message_type")
        if kind == "text":
            base.update(_text_fields(_clean_text(str(content.get("text", "")))))
        elif kind == "post":
            # Formatted text (pasted, or written with the rich editor): its words, line by line.
            base.update(_text_fields(_clean_text(_post_text(content))))
        elif kind == "file":
            key = str(content.get("file_key", ""))
            name = str(content.get("file_name", "file"))
            base["document"] = {
                "file_id": feishu_file_id(str(message.get("message_id", "")), key, name),
                "file_unique_id": key,
                "file_name": name,
            }
        else:
            # Pictures, stickers, voice: the core reads none of them from Telegram either.
            base["text"] = ""
        return {"update_id": event_update_id(FEISHU, event_id), "message": base}

    async def _press(self, event_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        operator = body.get("operator") or {}
        open_id = operator.get("open_id")
        value = (body.get("action") or {}).get("value") or {}
        context = body.get("context") or {}
        if not open_id or not isinstance(value, dict):
            return None
        person = await self._person(str(open_id))
        chat = {"id": person["id"], "type": "private", "first_name": ""}
        data = value.get("d")
        if not isinstance(data, str):
            return None
        number = message_number(str(context.get("open_message_id", "")))
        command = data.removeprefix(COMMAND_PREFIX)
        if data.startswith(COMMAND_PREFIX) and _COMMAND.fullmatch(command):
            # A help-card button types its command for the member.
            message = {
                "message_id": number,
                "date": int(time.time()),
                "chat": chat,
                "from": person,
                **_text_fields(command),
            }
            return {"update_id": event_update_id(FEISHU, event_id), "message": message}
        shown: dict[str, Any] = {"message_id": number, "date": int(time.time()), "chat": chat}
        found = await self.store.message(number)
        keyboard = telegram_keyboard(found[2].get("markup")) if found is not None else None
        if found is not None and keyboard:
            # Handlers read the pressed message's buttons (which item a row is about).
            shown["reply_markup"] = json.loads(keyboard)
            shown["text"] = found[2].get("text", "")
        query = {
            "id": callback_id(person["id"], str(body.get("token") or event_id)),
            "from": person,
            "chat_instance": "feishu",
            "data": data,
            "message": shown,
        }
        return {"update_id": event_update_id(FEISHU, event_id), "callback_query": query}


def _post_text(content: dict[str, Any]) -> str:
    """A rich-text (post) message's text: each paragraph's words, a link as its text and
    address, and the title (last, so a command the member typed still starts the text)."""
    if "content" not in content:
        # Some clients wrap it in a language: {"zh_cn": {"title", "content"}}.
        content = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = []
    for paragraph in content.get("content") or []:
        if not isinstance(paragraph, list):
            continue
        words = []
        for node in paragraph:
            if not isinstance(node, dict) or node.get("tag") not in ("text", "a", "code_block"):
                continue
            text, href = str(node.get("text", "")), str(node.get("href") or "")
            words.append(f"{text} {href}" if href and href != text else text or href)
        lines.append("".join(words))
    title = str(content.get("title") or "")
    if title and not (lines and lines[0].startswith("/")):
        lines.insert(0, title)
    elif title:
        lines.append(title)
    return "\n".join(lines)


def _seconds(milliseconds: Any) -> int:
    text = str(milliseconds or "")
    return int(text) // 1000 if text.isdigit() else int(time.time())


def _clean_text(text: str) -> str:
    # Feishu writes an @mention of the bot as @_user_1; a private chat needs none of it.
    text = re.sub(r"@_user_\d+\s*", "", text).strip()
    if text.startswith("／"):
        text = "/" + text[1:]
    return text


def _text_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": text}
    match = _COMMAND.match(text)
    if match:
        # python-telegram-bot recognises a command by this entity, as Telegram sends it.
        fields["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
    return fields
