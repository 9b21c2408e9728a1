"""A local fake of the Telegram Bot API, faithful enough for python-telegram-bot to use.

`BotApiSandbox.call` is the transport-independent core; `make_app`/`run_sandbox` serve it over
HTTP and `inprocess.SandboxRequest` plugs it straight into PTB. Simulated users reach the bot
through the "side door" methods (`user_message`, `press_button`, ...).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.sandbox.formatting import EntityParseError, parse_html, strip_html, utf16_len
from bot.sandbox.httpapp import build_app
from bot.sandbox.models import (
    ApiCall,
    SentMessage,
    StoredFile,
    button_data,
    button_rows,
    button_text_for_data,
    button_texts,
)
from bot.sandbox.waiting import Changes

__all__ = ["ApiError", "BotApiSandbox", "run_sandbox"]

JSONDict = dict[str, Any]
Files = dict[str, tuple[str, bytes, str]]
_Handler = Callable[[JSONDict, Files], Awaitable[Any]]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CAPTION = 1024
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# PTB (and form posts) send nested objects as JSON strings; these keys hold such objects.
_JSON_KEYS = frozenset(
    {
        "reply_markup",
        "media",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "menu_button",
    }
)
_INT_KEYS = frozenset(
    {"chat_id", "message_id", "offset", "limit", "user_id", "cache_time", "max_connections"}
)
_FLOAT_KEYS = frozenset({"timeout"})
_BOOL_KEYS = frozenset(
    {
        "show_alert",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
    }
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_DEFAULT_FIRST_NAME = "User"


class ApiError(Exception):
    """An error answer of the Bot API; raised inside handlers, turned into JSON by `call`."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None


@dataclass
class TransportFault:
    """What the HTTP front end does to a call instead of answering it at once: "drop" closes
    the connection before the call is made; "hang" makes the call (the message is delivered)
    and answers only after `seconds`, later than a client waits."""

    kind: str
    method: str
    remaining: int
    seconds: float = 0.0


@dataclass
class _Pending:
    update: JSONDict
    # A redelivered update must reach a poller even though its id is below the offset.
    sticky: bool = False
    returned: bool = False


def _to_int(key: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | float):
        return value
    try:
        return int(value)
    except ValueError:
        if key == "chat_id":
            # "@channelname" is a valid chat_id form; the handler decides it is unknown.
            return value
        raise _bad(f"invalid {key} specified") from None


def _normalize(params: dict[str, Any]) -> JSONDict:
    clean: JSONDict = {}
    for key, value in params.items():
        if key in _JSON_KEYS and isinstance(value, str):
            stripped = value.strip()
            if stripped[:1] in ("{", "["):
                try:
                    value = json.loads(stripped)
                except ValueError:
                    raise _bad(f"can't parse {key} JSON object") from None
        elif key in _INT_KEYS:
            value = _to_int(key, value)
        elif key in _FLOAT_KEYS and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _bad(f"invalid {key} specified") from None
        elif key in _BOOL_KEYS and isinstance(value, str):
            value = value.strip().lower() in ("true", "1", "yes")
        clean[key] = value
    return clean


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _update_type(update: JSONDict) -> str:
    return next((k for k in update if k != "update_id"), "")


class BotApiSandbox:
    """An in-memory Telegram Bot API with simulated users, fault injection and inspection."""

    def __init__(
        self,
        token: str = "123456:SANDBOX",
        bot_username: str = "branchbot_sandbox_bot",
        bot_id: int = 123456,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = "Branchbot Sandbox"
        # Reject HTML that Telegram would reject; switch off to test deliberately odd output.
        self.strict_html = True
        self.on_event: Callable[[str], None] | None = None

        self.calls: list[ApiCall] = []
        self.sent: list[SentMessage] = []
        self.answers: dict[str, JSONDict] = {}
        self.webhook_statuses: list[int] = []
        self.transcript: list[str] = []

        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.allowed_updates: list[str] | None = None
        self._webhook_error: tuple[int, str] | None = None

        self._pending: list[_Pending] = []
        self._poll_generation = 0
        self._closing = False
        self._changes = Changes()
        self._session: aiohttp.ClientSession | None = None

        self._users: dict[int, JSONDict] = {}
        self._blocked: set[int] = set()
        self._faults: list[_Fault] = []
        self._transport_faults: list[TransportFault] = []
        # The kinds of transport faults already applied, in order.
        self.transport_faults_used: list[str] = []
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._sent_index: dict[tuple[int, int], SentMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._next_update_id = 1
        self._next_file = 1
        self._next_query = 1
        self._queries: dict[str, JSONDict] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.menu_buttons: dict[int | None, JSONDict] = {}
        # The bot's description and short description by language code ("" for the default).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.chat_actions: list[tuple[int, str]] = []

        self._handlers: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler)
            for name, handler in (
                ("getMe", self._get_me),
                ("logOut", self._true),
                ("close", self._true),
                ("getUpdates", self._get_updates),
                ("setWebhook", self._set_webhook),
                ("deleteWebhook", self._delete_webhook),
                ("getWebhookInfo", self._get_webhook_info),
                ("sendMessage", self._send_message),
                ("editMessageText", self._edit_message_text),
                ("editMessageCaption", self._edit_message_caption),
                ("editMessageReplyMarkup", self._edit_message_reply_markup),
                ("editMessageMedia", self._edit_message_media),
                ("deleteMessage", self._delete_message),
                ("answerCallbackQuery", self._answer_callback_query),
                ("sendDocument", self._send_document),
                ("sendPhoto", self._send_photo),
                ("getFile", self._get_file),
                ("setMyCommands", self._set_my_commands),
                ("deleteMyCommands", self._delete_my_commands),
                ("getMyCommands", self._get_my_commands),
                ("setChatMenuButton", self._set_chat_menu_button),
                ("sendChatAction", self._send_chat_action),
                ("setMyDescription", self._set_my_description),
                ("getMyDescription", self._get_my_description),
                ("setMyShortDescription", self._set_my_short_description),
                ("getMyShortDescription", self._get_my_short_description),
                ("setMyName", self._true),
            )
        }

    # ------------------------------------------------------------------ core entry point

    async def call(
        self,
        token: str,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API request: (HTTP status, JSON body)."""
        files = files or {}
        entry = self._handlers.get(method.lower())
        name = entry[0] if entry is not None else method
        clean: JSONDict = dict(params)
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            clean = _normalize(params)
            self._check_faults(name, clean)
            result = await entry[1](clean, files)
            status, body = 200, {"ok": True, "result": copy.deepcopy(result)}
        except ApiError as exc:
            status, body = exc.status, exc.body()
        self.calls.append(ApiCall(name, clean, status, body, sorted(files)))
        self._notify()
        return status, body

    # ------------------------------------------------------------------ fault injection

    def inject_fault(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (optionally only to `chat_id`) fail."""
        self._faults.append(
            _Fault(method.lower(), status, description, retry_after, times, chat_id)
        )

    def inject_transport_fault(
        self, kind: str, method: str, *, times: int = 1, seconds: float = 0.0
    ) -> None:
        """Drop (`kind="drop"`) or answer late (`kind="hang"`) the next `times` HTTP calls."""
        assert kind in ("drop", "hang")
        self._transport_faults.append(TransportFault(kind, method.lower(), times, seconds))

    def take_transport_fault(self, method: str) -> TransportFault | None:
        """Used by the HTTP front end: the fault for this call, if any (counted down)."""
        for fault in self._transport_faults:
            if fault.method == method.lower() and fault.remaining > 0:
                fault.remaining -= 1
                self.transport_faults_used.append(fault.kind)
                return fault
        return None

    def block_user(self, user_id: int) -> None:
        """The user blocks the bot: sending to them fails with 403 from now on."""
        self._blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def _check_faults(self, name: str, params: JSONDict) -> None:
        for fault in self._faults:
            if fault.method != name.lower() or fault.remaining <= 0:
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining > 0]
            raise ApiError(fault.status, fault.description, retry_after=fault.retry_after)

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    # ------------------------------------------------------------------ waiting machinery

    def _notify(self) -> None:
        self._changes.notify()

    async def _wait_change(self, seconds: float) -> None:
        await self._changes.wait(seconds)

    def release_waiters(self) -> None:
        """End long polls now (used on shutdown so servers need not wait for them)."""
        self._closing = True
        self._notify()

    def reopen(self) -> None:
        self._closing = False

    async def aclose(self) -> None:
        """Wake long polls and close the webhook HTTP client."""
        self.release_waiters()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> BotApiSandbox:
        self.reopen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ helpers

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _remember_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None,
        language_code: str | None,
    ) -> JSONDict:
        # Later actions usually omit the profile; they must not rename a user met before.
        known = self._users.get(user_id, {})
        if first_name == _DEFAULT_FIRST_NAME:
            first_name = known.get("first_name", first_name)
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        username = username if username is not None else known.get("username")
        language_code = language_code if language_code is not None else known.get("language_code")
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def _chat(self, chat_id: int) -> JSONDict:
        user = self._users.get(chat_id, {})
        chat: JSONDict = {
            "id": chat_id,
            "type": "private",
            "first_name": user.get("first_name", "User"),
        }
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def _name(self, chat_id: int) -> str:
        return str(self._users.get(chat_id, {}).get("first_name") or f"chat {chat_id}")

    def _chat_id(self, params: JSONDict) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool) or chat_id <= 0:
            # Only private chats exist in the sandbox.
            raise _bad("chat not found")
        return chat_id

    def _new_message(self, chat_id: int, sender: JSONDict) -> JSONDict:
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": sender,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        self._messages[(chat_id, message_id)] = message
        return message

    def _stored(self, params: JSONDict, missing: str) -> tuple[int, int, JSONDict]:
        if "inline_message_id" in params and "chat_id" not in params:
            raise _bad("inline messages are not supported by the sandbox")
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad(missing)
        return chat_id, message_id, message

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        if isinstance(parse_mode, str) and parse_mode.lower() == "html" and self.strict_html:
            try:
                return parse_html(text)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            return strip_html(text), []
        return text, list(entities) if isinstance(entities, list) else []

    def _text(self, params: JSONDict) -> tuple[str, str, list[JSONDict]]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        plain, entities = self._render(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise _bad("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise _bad("message is too long")
        return text, plain, entities

    def _caption(self, params: JSONDict) -> tuple[str | None, str | None, list[JSONDict]]:
        caption = params.get("caption")
        if not isinstance(caption, str) or caption == "":
            return None, None, []
        plain, entities = self._render(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if utf16_len(plain) > MAX_CAPTION:
            raise _bad("message caption is too long")
        return caption, plain, entities

    @staticmethod
    def _markup(params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is not None:
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad(
                    'can\'t parse inline keyboard button: field "inline_keyboard" must '
                    "be an Array of Arrays"
                )
            for button in (b for row in rows for b in row):
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")
                if len(button) == 1:
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed "
                        "in the inline keyboard"
                    )
        return markup

    @staticmethod
    def _attach_markup(message: JSONDict, markup: JSONDict | None) -> None:
        # Real messages carry only inline keyboards; reply keyboards are not echoed back.
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _record_sent(self, sent: SentMessage) -> None:
        self.sent.append(sent)
        self._sent_index[(sent.chat_id, sent.message_id)] = sent

    def _store_file(
        self, content: bytes, file_name: str | None, mime_type: str | None, folder: str
    ) -> StoredFile:
        n = self._next_file
        self._next_file += 1
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        elif folder == "photos":
            suffix = ".jpg"
        stored = StoredFile(
            file_id=f"SANDBOX{folder[:3].upper()}{n:06d}",
            file_unique_id=f"U{n:06d}",
            file_path=f"{folder}/file_{n}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
            content=content,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def file_bytes(self, file_path: str) -> bytes | None:
        """Content served at /file/bot<token>/<file_path>."""
        stored = self._files_by_path.get(file_path)
        return None if stored is None else stored.content

    def file_mime_type(self, file_path: str) -> str:
        stored = self._files_by_path.get(file_path)
        return (stored.mime_type if stored else None) or "application/octet-stream"

    def _input_file(
        self, params: JSONDict, files: Files, field_name: str, folder: str
    ) -> StoredFile:
        value = params.get(field_name)
        upload: tuple[str, bytes, str] | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        elif value is None or value == "":
            upload = files.get(field_name)
        elif isinstance(value, str):
            existing = self._files.get(value)
            if existing is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            return existing
        if upload is None:
            raise _bad(f"there is no {field_name} in the request")
        file_name, content, mime_type = upload
        if not content:
            raise _bad("file must be non-empty")
        return self._store_file(content, file_name or None, mime_type or None, folder)

    # ------------------------------------------------------------------ transcript

    def _emit(self, line: str) -> None:
        self.transcript.append(line)
        if self.on_event is not None:
            self.on_event(line)

    def _emit_bot(
        self, chat_id: int, body: str, markup: JSONDict | None, *, edit: bool = False
    ) -> None:
        tag = " (edit)" if edit else ""
        line = f"🤖 → {self._name(chat_id)}{tag}: {body}"
        rows = button_rows(markup) if markup is not None else []
        for row in rows:
            line += "\n" + " ".join(f"[{label}]" for label in row)
        self._emit(line)

    # ------------------------------------------------------------------ simulated users

    async def user_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A user writes `text` to the bot in a private chat; returns the delivered update."""
        user = self._remember_user(user_id, first_name, username, language_code)
        message = self._new_message(user_id, user)
        message["text"] = text
        command = _LEADING_COMMAND_RE.match(text)
        if command is not None:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        self._emit(f"👤 {first_name}: {text}")
        return await self._new_update("message", message)

    async def user_document(
        self,
        user_id: int,
        file_name: str,
        content: bytes,
        *,
        mime_type: str = "text/csv",
        caption: str | None = None,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A user uploads a file; getFile and the file URL will serve `content`."""
        user = self._remember_user(user_id, first_name, username, language_code)
        stored = self._store_file(content, file_name, mime_type, "documents")
        message = self._new_message(user_id, user)
        message["document"] = self._document_json(stored)
        if caption is not None:
            message["caption"] = caption
        extra = f" — {caption}" if caption else ""
        self._emit(f"👤 {first_name} sends 📎 {file_name} ({len(content)} bytes){extra}")
        return await self._new_update("message", message)

    async def user_photo(
        self,
        user_id: int,
        content: bytes,
        *,
        caption: str | None = None,
        first_name: str = "User",
    ) -> dict[str, Any]:
        """A user sends a photo (one size, as Telegram would list the largest last)."""
        user = self._remember_user(user_id, first_name, None, None)
        stored = self._store_file(content, None, "image/jpeg", "photos")
        message = self._new_message(user_id, user)
        message["photo"] = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": stored.size,
                "width": 640,
                "height": 480,
            }
        ]
        if caption is not None:
            message["caption"] = caption
        self._emit(f"👤 {first_name} sends 🖼 photo ({len(content)} bytes)")
        return await self._new_update("message", message)

    async def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        first_name: str = "User",
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """A user taps an inline button; the update's callback_query.id is what to answer."""
        user = self._remember_user(user_id, first_name, username, language_code)
        stored = self._messages.get((user_id, message_id))
        # date 0 is how the Bot API marks a message the bot can no longer access.
        message = (
            copy.deepcopy(stored)
            if stored is not None
            else {"message_id": message_id, "date": 0, "chat": self._chat(user_id)}
        )
        query_id = f"{user_id}{self._next_query:08d}"
        self._next_query += 1
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(-7_000_000_000 - user_id),
            "data": callback_data,
        }
        self._queries[query_id] = query
        label = button_text_for_data(stored, callback_data) if stored is not None else None
        shown = f"[{label}]" if label is not None else f"a button with data {callback_data!r}"
        self._emit(f"👤 {first_name} taps {shown}")
        return await self._new_update("callback_query", query)

    async def redeliver(self, update: dict[str, Any]) -> None:
        """Deliver the same update (same update_id) again, as Telegram does after a failure."""
        self._emit(f"↻ update {update.get('update_id')} delivered again")
        await self._deliver(copy.deepcopy(update), sticky=True)

    async def _new_update(self, kind: str, payload: JSONDict) -> JSONDict:
        update: JSONDict = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        snapshot = copy.deepcopy(update)
        await self._deliver(copy.deepcopy(update))
        return snapshot

    async def _deliver(self, update: JSONDict, *, sticky: bool = False) -> None:
        if self.allowed_updates and _update_type(update) not in self.allowed_updates:
            return
        if self.webhook_url is not None and await self._post_webhook(self.webhook_url, update):
            return
        self._pending.append(_Pending(update, sticky=sticky))
        self._notify()

    async def _post_webhook(self, url: str, update: JSONDict) -> bool:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {SECRET_HEADER: self.webhook_secret} if self.webhook_secret else {}
        try:
            async with self._session.post(url, json=update, headers=headers) as response:
                await response.read()
                status = response.status
                reason = response.reason or ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, reason = 0, f"Connection failed: {exc or type(exc).__name__}"
        self.webhook_statuses.append(status)
        if 200 <= status < 300:
            return True
        message = f"Wrong response from the webhook: {status} {reason}" if status else reason
        self._webhook_error = (int(time.time()), message)
        return False

    # ------------------------------------------------------------------ inspection

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to the chat, in order (edited ones show their latest state)."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        return self._sent_index.get((chat_id, message_id))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> list[JSONDict]:
        return [copy.deepcopy(p.update) for p in self._pending]

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    button_texts = staticmethod(button_texts)
    button_data = staticmethod(button_data)

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        after: int = 0,
        # A plain number reads better in tests than wrapping each wait in asyncio.timeout.
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The (after+1)-th message the bot sent to the chat, waiting for it if needed."""

        def found() -> SentMessage | None:
            messages = self.messages_to(chat_id)
            return messages[after] if len(messages) > after else None

        return await self._changes.until(
            found, timeout, lambda: TimeoutError(self._explain_missing(chat_id, after, timeout))
        )

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        *,
        edits: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The message once it has been edited at least `edits` times."""

        def found() -> SentMessage | None:
            sent = self._sent_index.get((chat_id, message_id))
            return sent if sent is not None and sent.edit_count >= edits else None

        def failure() -> Exception:
            sent = self._sent_index.get((chat_id, message_id))
            count = 0 if sent is None else sent.edit_count
            return TimeoutError(
                f"message {message_id} in chat {chat_id} was edited {count} time(s) within "
                f"{timeout}s, expected {edits}{self._recent_errors()}"
            )

        return await self._changes.until(found, timeout, failure)

    async def wait_for_answer(
        self,
        callback_query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The answerCallbackQuery parameters the bot used for this query."""
        return await self._changes.until(
            lambda: self.answers.get(callback_query_id),
            timeout,
            lambda: TimeoutError(
                f"callback query {callback_query_id!r} was not answered within {timeout}s"
                f"{self._recent_errors()}"
            ),
        )

    def _recent_errors(self) -> str:
        failed = [c for c in self.calls if not c.ok][-5:]
        if not failed:
            return ""
        lines = [f"  {c.method} → {c.status} {c.description}" for c in failed]
        return "\nrecent failed API calls:\n" + "\n".join(lines)

    def _explain_missing(self, chat_id: int, after: int, timeout: float) -> str:
        messages = self.messages_to(chat_id)
        lines = [
            f"no message #{after + 1} to chat {chat_id} within {timeout}s; "
            f"the bot sent {len(messages)} message(s) there:"
        ]
        for m in messages:
            body = m.plain_text or m.text or m.plain_caption or m.document_name or "(no text)"
            lines.append(f"  #{m.message_id}: {body[:200]!r} buttons={button_texts(m)}")
        others = sorted({m.chat_id for m in self.sent} - {chat_id})
        if others:
            lines.append(f"messages also went to chats {others}")
        return "\n".join(lines) + self._recent_errors()

    # ------------------------------------------------------------------ API methods

    async def _true(self, params: JSONDict, files: Files) -> bool:
        return True

    async def _get_me(self, params: JSONDict, files: Files) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: Any) -> None:
        if not isinstance(offset, int) or offset == 0:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
            return
        self._pending = [
            p
            for p in self._pending
            if not (p.sticky and p.returned) and (p.sticky or p.update["update_id"] >= offset)
        ]

    def _refuse_polling(self, description: str) -> None:
        if self.webhook_url is not None:
            raise ApiError(409, description)

    async def _get_updates(self, params: JSONDict, files: Files) -> list[JSONDict]:
        self._refuse_polling(
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed] or None
        limit = params.get("limit", 100)
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        timeout = params.get("timeout", 0)
        timeout = float(timeout) if isinstance(timeout, int | float) else 0.0
        self._confirm(params.get("offset"))

        self._poll_generation += 1
        generation = self._poll_generation
        # A poll already waiting must notice it has been superseded.
        self._notify()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            ready = self._pending[:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if ready or self._closing or remaining <= 0:
                break
            await self._wait_change(remaining)
            self._refuse_polling("Conflict: terminated by setWebhook request")
            if self._poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
        for pending in ready:
            pending.returned = True
        return [p.update for p in ready]

    async def _set_webhook(self, params: JSONDict, files: Files) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise _bad('parameter "url" is required')
        if url and not _is_loopback_url(url):
            # The sandbox is for this machine only: it never posts updates anywhere else.
            raise _bad("bad webhook: the sandbox delivers only to loopback addresses")
        secret = params.get("secret_token")
        if secret is not None and secret != "" and not _SECRET_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed] or None
        # An empty url is how the real API removes a webhook through setWebhook.
        self.webhook_url = url or None
        self.webhook_secret = str(secret) if secret and url else None
        self._webhook_error = None
        return True

    async def _delete_webhook(self, params: JSONDict, files: Files) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = None
        self.webhook_secret = None
        return True

    async def _get_webhook_info(self, params: JSONDict, files: Files) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url is not None:
            info["max_connections"] = 40
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _send_message(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        text, plain, entities = self._text(params)
        markup = self._markup(params)
        message = self._new_message(chat_id, self.bot_user)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        self._attach_markup(message, markup)
        self._record_sent(
            SentMessage(
                chat_id=chat_id,
                message_id=message["message_id"],
                method="sendMessage",
                text=text,
                plain_text=plain,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                date=message["date"],
                received_at=time.time(),
                params=dict(params),
            )
        )
        self._emit_bot(chat_id, plain, markup)
        return message

    def _bot_message(self, params: JSONDict, missing: str) -> tuple[int, int, JSONDict]:
        chat_id, message_id, message = self._stored(params, missing)
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return chat_id, message_id, message

    def _mark_edited(
        self,
        chat_id: int,
        message_id: int,
        message: JSONDict,
        update: Callable[[SentMessage], None],
    ) -> None:
        message["edit_date"] = int(time.time())
        sent = self._sent_index.get((chat_id, message_id))
        if sent is not None:
            update(sent)
            sent.edited = True
            sent.edit_count += 1

    async def _edit_message_text(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id, message_id, message = self._bot_message(params, "message to edit not found")
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text, plain, entities = self._text(params)
        markup = self._markup(params)
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if (
            plain == message["text"]
            and entities == message.get("entities", [])
            and new_markup == message.get("reply_markup")
        ):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = plain
        if entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        self._attach_markup(message, markup)

        def apply(sent: SentMessage) -> None:
            sent.history.append(sent.text)
            sent.text, sent.plain_text = text, plain
            sent.parse_mode = params.get("parse_mode")
            sent.reply_markup = markup

        self._mark_edited(chat_id, message_id, message, apply)
        self._emit_bot(chat_id, plain, markup, edit=True)
        return message

    async def _edit_message_caption(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id, message_id, message = self._bot_message(params, "message to edit not found")
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        caption, plain, entities = self._caption(params)
        markup = self._markup(params)
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if (
            plain == message.get("caption")
            and entities == message.get("caption_entities", [])
            and new_markup == message.get("reply_markup")
        ):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        for key, value in (("caption", plain), ("caption_entities", entities)):
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        self._attach_markup(message, markup)

        def apply(sent: SentMessage) -> None:
            sent.history.append(sent.caption)
            sent.caption, sent.plain_caption = caption, plain
            sent.reply_markup = markup

        self._mark_edited(chat_id, message_id, message, apply)
        self._emit_bot(chat_id, plain or "(caption removed)", markup, edit=True)
        return message

    async def _edit_message_media(self, params: JSONDict, files: Files) -> JSONDict:
        """Replace a photo (the only media the bot edits) and its caption."""
        chat_id, message_id, message = self._bot_message(params, "message to edit not found")
        media = params.get("media")
        if not isinstance(media, dict) or media.get("type") != "photo":
            raise _bad("can't parse InputMedia: only photo is supported by the sandbox")
        if "photo" not in message:
            raise _bad("there is no media in the message to edit")
        stored = self._input_file(media, files, "media", "photos")
        caption, plain, entities = self._caption(media)
        markup = self._markup(params)
        message["photo"] = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 100,
                "height": 100,
                "file_size": stored.size,
            }
        ]
        for key, value in (("caption", plain), ("caption_entities", entities)):
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        self._attach_markup(message, markup)

        def apply(sent: SentMessage) -> None:
            sent.history.append(sent.caption)
            sent.caption, sent.plain_caption = caption, plain
            sent.photo_bytes, sent.file_id = stored.content, stored.file_id
            sent.reply_markup = markup

        self._mark_edited(chat_id, message_id, message, apply)
        self._emit_bot(chat_id, f"🖼 photo ({stored.size} bytes)\n{plain or ''}", markup, edit=True)
        return message

    async def _edit_message_reply_markup(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id, message_id, message = self._bot_message(params, "message to edit not found")
        markup = self._markup(params)
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if new_markup == message.get("reply_markup"):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._attach_markup(message, markup)

        def apply(sent: SentMessage) -> None:
            sent.reply_markup = markup

        self._mark_edited(chat_id, message_id, message, apply)
        body = "buttons changed" if new_markup is not None else "buttons removed"
        self._emit_bot(chat_id, body, markup, edit=True)
        return message

    async def _delete_message(self, params: JSONDict, files: Files) -> bool:
        chat_id, message_id, _ = self._stored(params, "message to delete not found")
        del self._messages[(chat_id, message_id)]
        sent = self._sent_index.get((chat_id, message_id))
        if sent is not None:
            sent.deleted = True
        self._emit(f"🤖 deletes message #{message_id} in the chat with {self._name(chat_id)}")
        return True

    async def _answer_callback_query(self, params: JSONDict, files: Files) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        query = self._queries.get(query_id)
        if query is None or query_id in self.answers:
            raise _bad(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        self.answers[query_id] = dict(params)
        text = params.get("text")
        if isinstance(text, str) and text:
            kind = "alert" if params.get("show_alert") else "toast"
            self._emit(f"🤖 → {query['from']['first_name']}: ({kind}) {text}")
        return True

    @staticmethod
    def _document_json(stored: StoredFile) -> JSONDict:
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if stored.file_name is not None:
            document["file_name"] = stored.file_name
        if stored.mime_type is not None:
            document["mime_type"] = stored.mime_type
        return document

    def _send_media(
        self, params: JSONDict, files: Files, kind: str
    ) -> tuple[int, JSONDict, StoredFile, SentMessage]:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        folder = "documents" if kind == "document" else "photos"
        stored = self._input_file(params, files, kind, folder)
        caption, plain, entities = self._caption(params)
        markup = self._markup(params)
        message = self._new_message(chat_id, self.bot_user)
        if kind == "document":
            message["document"] = self._document_json(stored)
        else:
            message["photo"] = [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": 100,
                    "height": 100,
                    "file_size": stored.size,
                }
            ]
        if plain:
            message["caption"] = plain
        if entities:
            message["caption_entities"] = entities
        self._attach_markup(message, markup)
        sent = SentMessage(
            chat_id=chat_id,
            message_id=message["message_id"],
            method="sendDocument" if kind == "document" else "sendPhoto",
            caption=caption,
            plain_caption=plain,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            file_id=stored.file_id,
            mime_type=stored.mime_type,
            date=message["date"],
            params=dict(params),
        )
        self._record_sent(sent)
        return chat_id, message, stored, sent

    async def _send_document(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id, message, stored, sent = self._send_media(params, files, "document")
        sent.document_name = stored.file_name
        sent.document_bytes = stored.content
        caption = f"\n{sent.plain_caption}" if sent.plain_caption else ""
        self._emit_bot(
            chat_id, f"📎 {stored.file_name or stored.file_path}{caption}", sent.reply_markup
        )
        return message

    async def _send_photo(self, params: JSONDict, files: Files) -> JSONDict:
        chat_id, message, stored, sent = self._send_media(params, files, "photo")
        sent.photo_bytes = stored.content
        caption = f"\n{sent.plain_caption}" if sent.plain_caption else ""
        self._emit_bot(chat_id, f"🖼 photo ({stored.size} bytes){caption}", sent.reply_markup)
        return message

    async def _get_file(self, params: JSONDict, files: Files) -> JSONDict:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, params: JSONDict, files: Files) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad("too many commands")
        clean: list[JSONDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad("can't parse BotCommand")
            command = str(item.get("command", "")).removeprefix("/")
            description = str(item.get("description", ""))
            if not _COMMAND_RE.fullmatch(command):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad(
                    "command description is empty"
                    if not description
                    else "BOT_COMMAND_DESCRIPTION_INVALID"
                )
            clean.append({"command": command, "description": description})
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = clean
        return True

    async def _delete_my_commands(self, params: JSONDict, files: Files) -> bool:
        self._commands.pop(
            self._commands_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    async def _get_my_commands(self, params: JSONDict, files: Files) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return self._commands.get(key, [])

    @staticmethod
    def _profile_text(params: JSONDict, key: str, limit: int) -> str:
        text = params.get(key)
        text = "" if text is None else str(text)
        if len(text) > limit:
            raise _bad(f"{key} is too long")
        return text

    def _set_profile_text(self, store: dict[str, str], text: str, params: JSONDict) -> bool:
        # An empty text removes the one for that language, as Telegram does.
        code = str(params.get("language_code") or "")
        if text:
            store[code] = text
        else:
            store.pop(code, None)
        return True

    async def _set_my_description(self, params: JSONDict, files: Files) -> bool:
        text = self._profile_text(params, "description", 512)
        return self._set_profile_text(self.descriptions, text, params)

    async def _get_my_description(self, params: JSONDict, files: Files) -> JSONDict:
        code = str(params.get("language_code") or "")
        return {"description": self.descriptions.get(code, "")}

    async def _set_my_short_description(self, params: JSONDict, files: Files) -> bool:
        text = self._profile_text(params, "short_description", 120)
        return self._set_profile_text(self.short_descriptions, text, params)

    async def _get_my_short_description(self, params: JSONDict, files: Files) -> JSONDict:
        code = str(params.get("language_code") or "")
        return {"short_description": self.short_descriptions.get(code, "")}

    async def _set_chat_menu_button(self, params: JSONDict, files: Files) -> bool:
        chat_id = params.get("chat_id")
        menu = params.get("menu_button")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = (
            menu if isinstance(menu, dict) else {"type": "default"}
        )
        return True

    async def _send_chat_action(self, params: JSONDict, files: Files) -> bool:
        chat_id = self._chat_id(params)
        self._check_blocked(chat_id)
        self.chat_actions.append((chat_id, str(params.get("action", ""))))
        return True

    # ------------------------------------------------------------------ HTTP

    def make_app(self) -> web.Application:
        """An aiohttp application serving the Bot API, file downloads and the side door."""
        return build_app(self)

    @staticmethod
    def api_base_url(base: str) -> str:
        """PTB's `base_url` for a sandbox served at `base`."""
        return f"{base.rstrip('/')}/bot"

    @staticmethod
    def file_base_url(base: str) -> str:
        """PTB's `base_file_url` for a sandbox served at `base`."""
        return f"{base.rstrip('/')}/file/bot"


@asynccontextmanager
async def run_sandbox(
    sandbox: BotApiSandbox, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve the sandbox over HTTP; yields the root URL, e.g. "http://127.0.0.1:54321"."""
    sandbox.reopen()
    # Long polls are released before cleanup, so a short shutdown timeout loses nothing.
    runner = web.AppRunner(sandbox.make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        yield f"http://{shown_host}:{bound_port}"
    finally:
        sandbox.release_waiters()
        await runner.cleanup()
        await sandbox.aclose()
