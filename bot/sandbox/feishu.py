"""A local stand-in for Feishu's Open API (飞书开放平台), for tests and the demo.

`run_feishu_standin` serves it on loopback; the bot points its API base URL there. Simulated
users reach the bot as Feishu would: signed, encrypted event callbacks POSTed to
`callback_url` (`user_says`, `press`, ...). The event builders are plain functions so a
long-connection test can feed the same dicts to lark's dispatcher.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

from bot.channels.feishu import crypto
from bot.channels.feishu.cards import read_markdown
from bot.sandbox.waiting import Changes

__all__ = [
    "FeishuCall",
    "FeishuDelivery",
    "FeishuError",
    "FeishuMessage",
    "FeishuStandIn",
    "card_action_event",
    "chat_id_for",
    "file_message_event",
    "message_event",
    "run_feishu_standin",
    "url_verification",
    "validate_card",
]

JSONDict = dict[str, Any]

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES_PATH = "/open-apis/im/v1/messages"
FILES_PATH = "/open-apis/im/v1/files"
IMAGES_PATH = "/open-apis/im/v1/images"
USERS_PATH = "/open-apis/contact/v3/users"

KB = 1024
MB = 1024 * KB
MAX_TEXT_BYTES = 150 * KB
MAX_CARD_BYTES = 30 * KB
MAX_POST_BYTES = 30 * KB
MAX_BUTTON_VALUE_BYTES = 2 * KB
MAX_FILE_BYTES = 30 * MB
MAX_IMAGE_BYTES = 10 * MB
MAX_UUID_CHARS = 50
UUID_WINDOW_SECONDS = 3600.0
TENANT_KEY = "tenant"

MSG_TYPES = frozenset({"text", "interactive", "image", "file", "post"})
FILE_TYPES = frozenset({"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"})
BUTTON_TYPES = frozenset({"default", "primary", "danger"})
HEADER_TEMPLATES = frozenset(
    {
        "blue",
        "wathet",
        "turquoise",
        "green",
        "yellow",
        "orange",
        "red",
        "carmine",
        "violet",
        "purple",
        "indigo",
        "grey",
        "default",
    }
)
CARD_TAGS = frozenset({"div", "markdown", "hr", "action", "note", "img"})
CARD_KEYS = frozenset({"config", "header", "elements", "card_link"})
TEXT_TAGS = frozenset({"plain_text", "lark_md"})

_MISSING_TOKEN = (
    "Missing access token for authorization. Please make a request with token attached."
)
_INVALID_TOKEN = (
    "Invalid access token for authorization. Please make a request with token attached."
)
_NO_AVAILABILITY = "Bot has NO availability to this user."
# Feishu refuses uploads it cannot recognise as an image; these are the formats it takes.
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",
)


class FeishuError(Exception):
    """An error answer of the Open API: the business `code` and `msg`, and the HTTP status."""

    def __init__(
        self,
        code: int,
        msg: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
        field_name: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = dict(headers or {})
        self.field_name = field_name

    def body(self) -> JSONDict:
        body: JSONDict = {"code": self.code, "msg": self.msg}
        if self.field_name is not None:
            # Feishu names the offending field this way for 99992402.
            body["error"] = {
                "field_violations": [{"field": self.field_name, "description": self.msg}]
            }
        return body


def _field_error(field_name: str) -> FeishuError:
    return FeishuError(99992402, "field validation failed", field_name=field_name)


def _content_error(why: str) -> FeishuError:
    return FeishuError(230001, f"invalid message content: {why}")


def _card_error(why: str) -> FeishuError:
    return FeishuError(230099, f"card content invalid: {why}")


# ---------------------------------------------------------------------- records


@dataclass
class FeishuCall:
    """One Open API request as the stand-in saw it, with its answer."""

    method: str
    path: str
    query: dict[str, str]
    # The JSON body, or the multipart form fields (files shown as "<file NAME, N bytes>").
    body: JSONDict
    time: float
    status: int = 0
    response: JSONDict = field(default_factory=dict)

    @property
    def code(self) -> int | None:
        value = self.response.get("code")
        return value if isinstance(value, int) else None


@dataclass
class FeishuDelivery:
    """One callback POST to the bot: the event (None for `post_raw`) and how the bot answered."""

    event: JSONDict | None
    status: int
    body: str


@dataclass
class StoredUpload:
    key: str
    name: str
    data: bytes
    kind: str
    owner: str | None = None
    # For files a user sent: the message that carries it, which the resources GET must name.
    message_id: str | None = None


@dataclass
class FeishuMessage:
    """A message the bot sent. PATCHes update it in place, so it shows the current card."""

    message_id: str
    open_id: str
    msg_type: str
    content: JSONDict
    chat_id: str = ""
    create_time: str = ""
    uuid: str | None = None
    recalled: bool = False
    edits: int = 0
    # The uploaded file's name, for file messages (the content holds only its key).
    attachment_name: str | None = None
    history: list[JSONDict] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What the user reads: the text, a card's body text, a file's name, "[image]"."""
        if self.msg_type == "text":
            return str(self.content.get("text", ""))
        if self.msg_type == "interactive":
            return "\n".join(_card_texts(self.content))
        if self.msg_type == "file":
            return self.attachment_name or str(self.content.get("file_key", ""))
        if self.msg_type == "image":
            return "[image]"
        if self.msg_type == "post":
            return _post_text(self.content)
        return ""

    @property
    def plain(self) -> str:
        """The text as the user reads it: a card's markdown without its marks and escapes."""
        if self.msg_type == "interactive":
            return read_markdown(self.text)
        return self.text

    @property
    def title(self) -> str | None:
        """A card's header title, if it has one."""
        if self.msg_type != "interactive":
            return None
        header = self.content.get("header")
        if not isinstance(header, dict):
            return None
        title = header.get("title")
        return str(title.get("content")) if isinstance(title, dict) else None

    @property
    def buttons(self) -> list[tuple[str, JSONDict | str]]:
        """(label, value) of a card's buttons in order; the value is the URL for link buttons."""
        if self.msg_type != "interactive":
            return []
        found: list[tuple[str, JSONDict | str]] = []
        for element in _elements(self.content):
            if element.get("tag") != "action":
                continue
            for button in element.get("actions", []):
                label = str(button.get("text", {}).get("content", ""))
                if isinstance(button.get("value"), dict):
                    found.append((label, button["value"]))
                elif isinstance(button.get("url"), str):
                    found.append((label, button["url"]))
        return found

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]


def _elements(card: JSONDict) -> list[JSONDict]:
    elements = card.get("elements")
    return [e for e in elements if isinstance(e, dict)] if isinstance(elements, list) else []


def _card_texts(card: JSONDict) -> list[str]:
    texts: list[str] = []
    for element in _elements(card):
        tag = element.get("tag")
        if tag == "div" and isinstance(element.get("text"), dict):
            texts.append(str(element["text"].get("content", "")))
        elif tag == "markdown":
            texts.append(str(element.get("content", "")))
        elif tag == "note":
            texts.extend(
                str(e.get("content", ""))
                for e in element.get("elements", [])
                if isinstance(e, dict) and e.get("tag") in TEXT_TAGS
            )
    return texts


def _post_bodies(content: JSONDict) -> list[JSONDict]:
    # A post is sent as {"zh_cn": {...}} or wrapped once more as {"post": {"zh_cn": {...}}}.
    locales = content.get("post", content)
    if not isinstance(locales, dict):
        return []
    return [body for body in locales.values() if isinstance(body, dict)]


def _post_text(content: JSONDict) -> str:
    bodies = _post_bodies(content)
    if not bodies:
        return ""
    body = bodies[0]
    lines = [str(body["title"])] if body.get("title") else []
    for paragraph in body.get("content", []):
        if isinstance(paragraph, list):
            lines.append("".join(str(e.get("text", "")) for e in paragraph if isinstance(e, dict)))
    return "\n".join(lines)


# ---------------------------------------------------------------------- validation


def _text_object(value: Any, where: str, tags: frozenset[str] = TEXT_TAGS) -> str:
    if not isinstance(value, dict):
        raise _card_error(f"{where} must be a text object")
    if value.get("tag") not in tags:
        raise _card_error(f"{where}.tag must be one of {sorted(tags)}, not {value.get('tag')!r}")
    content = value.get("content")
    if not isinstance(content, str):
        raise _card_error(f"{where}.content must be a string")
    return content


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_button(button: Any, where: str) -> None:
    if not isinstance(button, dict) or button.get("tag") != "button":
        raise _card_error(f"{where} must be a button")
    label = _text_object(button.get("text"), f"{where}.text", frozenset({"plain_text"}))
    if not label.strip():
        raise _card_error(f"{where}.text.content is empty")
    kind = button.get("type", "default")
    if kind not in BUTTON_TYPES:
        raise _card_error(f"{where}.type must be one of {sorted(BUTTON_TYPES)}, not {kind!r}")
    has_value, has_url = "value" in button, "url" in button
    if has_value == has_url:
        raise _card_error(f"{where} needs exactly one of value and url")
    if has_url:
        if not _is_http_url(button["url"]):
            raise _card_error(f"{where}.url must be an http(s) URL")
        return
    value = button["value"]
    if not isinstance(value, dict):
        raise _card_error(f"{where}.value must be an object")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_BUTTON_VALUE_BYTES:
        raise _card_error(f"{where}.value is {size} bytes, over {MAX_BUTTON_VALUE_BYTES}")


def _check_element(element: Any, where: str, images: Mapping[str, StoredUpload]) -> None:
    if not isinstance(element, dict):
        raise _card_error(f"{where} must be an object")
    tag = element.get("tag")
    if tag not in CARD_TAGS:
        raise _card_error(f"{where}.tag {tag!r} is not one of {sorted(CARD_TAGS)}")
    if tag == "div":
        _text_object(element.get("text"), f"{where}.text")
    elif tag == "markdown":
        if not isinstance(element.get("content"), str):
            raise _card_error(f"{where}.content must be a string")
    elif tag == "action":
        actions = element.get("actions")
        if not isinstance(actions, list) or not actions:
            raise _card_error(f"{where}.actions must be a non-empty list")
        for i, button in enumerate(actions):
            _check_button(button, f"{where}.actions[{i}]")
    elif tag == "note":
        parts = element.get("elements")
        if not isinstance(parts, list) or not parts:
            raise _card_error(f"{where}.elements must be a non-empty list")
        for i, part in enumerate(parts):
            if isinstance(part, dict) and part.get("tag") == "img":
                _check_image(part, f"{where}.elements[{i}]", images)
            else:
                _text_object(part, f"{where}.elements[{i}]")
    elif tag == "img":
        _check_image(element, where, images)


def _check_image(element: JSONDict, where: str, images: Mapping[str, StoredUpload]) -> None:
    key = element.get("img_key")
    if not isinstance(key, str) or key not in images:
        raise _card_error(f"{where}.img_key {key!r} was not uploaded")
    _text_object(element.get("alt"), f"{where}.alt", frozenset({"plain_text"}))


def validate_card(card: Any, images: Mapping[str, StoredUpload], size: int | None = None) -> None:
    """Raise FeishuError(230099, why) unless `card` is a JSON 1.0 card the stand-in accepts.

    `size` is the byte length of the JSON the bot sent, when known.
    """
    if not isinstance(card, dict):
        raise _card_error("a card must be a JSON object")
    if size is None:
        size = len(json.dumps(card, ensure_ascii=False).encode())
    if size > MAX_CARD_BYTES:
        raise _card_error(f"card is {size} bytes, over {MAX_CARD_BYTES}")
    unknown = sorted(set(card) - CARD_KEYS)
    if unknown:
        raise _card_error(f"unknown top-level keys {unknown}")
    if "config" in card and not isinstance(card["config"], dict):
        raise _card_error("config must be an object")
    if "header" in card:
        header = card["header"]
        if not isinstance(header, dict):
            raise _card_error("header must be an object")
        _text_object(header.get("title"), "header.title", frozenset({"plain_text"}))
        template = header.get("template", "default")
        if template not in HEADER_TEMPLATES:
            raise _card_error(f"header.template {template!r} is not a Feishu colour")
    elements = card.get("elements")
    if not isinstance(elements, list) or not elements:
        raise _card_error("elements must be a non-empty list")
    for i, element in enumerate(elements):
        _check_element(element, f"elements[{i}]", images)


def _check_post(content: JSONDict) -> None:
    bodies = _post_bodies(content)
    if not bodies:
        raise _content_error("a post needs a locale such as zh_cn")
    for body in bodies:
        paragraphs = body.get("content")
        if not isinstance(paragraphs, list) or not all(isinstance(p, list) for p in paragraphs):
            raise _content_error("post content must be a list of paragraphs (lists)")
        for paragraph in paragraphs:
            for element in paragraph:
                if not isinstance(element, dict) or not isinstance(element.get("tag"), str):
                    raise _content_error("every post element needs a tag")


def _looks_like_image(data: bytes) -> bool:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return any(data.startswith(magic) for magic in _IMAGE_MAGIC)


# ---------------------------------------------------------------------- events


def _digest_id(prefix: str, seed: str) -> str:
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:32]


def chat_id_for(open_id: str) -> str:
    """The p2p chat id between the bot and this user (stable, like Feishu's)."""
    return _digest_id("oc_", "chat:" + open_id)


def _union_id(open_id: str) -> str:
    return _digest_id("on_", "union:" + open_id)


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _header(event_type: str, *, app_id: str, token: str, event_id: str | None) -> JSONDict:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "token": token,
        "create_time": _now_ms(),
        "event_type": event_type,
        "tenant_key": TENANT_KEY,
        "app_id": app_id,
    }


def _receive_event(
    *,
    app_id: str,
    token: str,
    open_id: str,
    message_type: str,
    content: JSONDict,
    message_id: str | None,
    event_id: str | None,
    chat_id: str | None,
) -> JSONDict:
    return {
        "schema": "2.0",
        "header": _header("im.message.receive_v1", app_id=app_id, token=token, event_id=event_id),
        "event": {
            "sender": {
                "sender_id": {"open_id": open_id, "union_id": _union_id(open_id), "user_id": None},
                "sender_type": "user",
                "tenant_key": TENANT_KEY,
            },
            "message": {
                "message_id": message_id or "om_" + uuid.uuid4().hex,
                "create_time": _now_ms(),
                "chat_id": chat_id or chat_id_for(open_id),
                "chat_type": "p2p",
                "message_type": message_type,
                "content": json.dumps(content, ensure_ascii=False),
            },
        },
    }


def message_event(
    *,
    app_id: str,
    token: str,
    open_id: str,
    text: str,
    message_id: str | None = None,
    event_id: str | None = None,
    chat_id: str | None = None,
) -> JSONDict:
    """An im.message.receive_v1 event: the user wrote `text` to the bot in their p2p chat."""
    return _receive_event(
        app_id=app_id,
        token=token,
        open_id=open_id,
        message_type="text",
        content={"text": text},
        message_id=message_id,
        event_id=event_id,
        chat_id=chat_id,
    )


def file_message_event(
    *,
    app_id: str,
    token: str,
    open_id: str,
    file_key: str,
    file_name: str,
    message_id: str | None = None,
    event_id: str | None = None,
    chat_id: str | None = None,
) -> JSONDict:
    """An im.message.receive_v1 event: the user sent the bot a file."""
    return _receive_event(
        app_id=app_id,
        token=token,
        open_id=open_id,
        message_type="file",
        content={"file_key": file_key, "file_name": file_name},
        message_id=message_id,
        event_id=event_id,
        chat_id=chat_id,
    )


def card_action_event(
    *,
    app_id: str,
    token: str,
    open_id: str,
    message_id: str,
    value: JSONDict,
    event_id: str | None = None,
) -> JSONDict:
    """A card.action.trigger callback: the user pressed a button whose value is `value`."""
    return {
        "schema": "2.0",
        "header": _header("card.action.trigger", app_id=app_id, token=token, event_id=event_id),
        "event": {
            "operator": {
                "tenant_key": TENANT_KEY,
                "open_id": open_id,
                "union_id": _union_id(open_id),
                "user_id": None,
            },
            "token": "c-" + secrets.token_hex(16),
            "action": {"value": value, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id_for(open_id)},
        },
    }


def url_verification(*, token: str, challenge: str) -> JSONDict:
    """The request Feishu sends when the callback URL is saved in the developer console."""
    return {"challenge": challenge, "token": token, "type": "url_verification"}


# ---------------------------------------------------------------------- the stand-in


@dataclass
class _Throttle:
    prefix: str
    remaining: int


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    json: Any
    form: dict[str, str]
    files: dict[str, tuple[str, bytes]]


@dataclass
class _Reply:
    body: JSONDict | bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


_Handler = Callable[[_Request, "re.Match[str]"], Awaitable[_Reply]]


def _ok(data: JSONDict) -> _Reply:
    return _Reply({"code": 0, "msg": "success", "data": data})


class FeishuStandIn:
    """An in-memory Feishu Open API with simulated users, throttling and inspection."""

    def __init__(
        self,
        app_id: str = "cli_test",
        app_secret: str = "secret",
        *,
        verification_token: str = "vtoken",
        encrypt_key: str = "ekey",
        token_seconds: int = 7200,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.verification_token = verification_token
        self.encrypt_key = encrypt_key
        self.token_seconds = token_seconds
        self.callback_url: str | None = None
        self.base_url: str | None = None

        self.users: dict[str, str] = {}
        self.calls: list[FeishuCall] = []
        self.sent: list[FeishuMessage] = []
        self.deliveries: list[FeishuDelivery] = []
        self.last_event: JSONDict | None = None
        self.token_grants = 0
        # What happened, a line each (the demo prints them as they come).
        self.transcript: list[str] = []
        self.on_event: Callable[[str], None] | None = None

        # Added to the clock so tests can age tokens and uuids without sleeping.
        self._time_offset = 0.0
        self._tokens: dict[str, float] = {}
        self._blocked: set[str] = set()
        self._throttles: list[_Throttle] = []
        self._by_id: dict[str, FeishuMessage] = {}
        self._uuids: dict[str, tuple[float, str]] = {}
        self._files: dict[str, StoredUpload] = {}
        self._images: dict[str, StoredUpload] = {}
        self._user_files: dict[str, StoredUpload] = {}
        self._changes = Changes()
        self._session: aiohttp.ClientSession | None = None

        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("POST", re.compile(re.escape(MESSAGES_PATH)), self._send),
            ("PATCH", re.compile(re.escape(MESSAGES_PATH) + r"/(?P<id>[^/]+)"), self._patch),
            ("DELETE", re.compile(re.escape(MESSAGES_PATH) + r"/(?P<id>[^/]+)"), self._recall),
            (
                "GET",
                re.compile(re.escape(MESSAGES_PATH) + r"/(?P<id>[^/]+)/resources/(?P<key>[^/]+)"),
                self._resource,
            ),
            ("POST", re.compile(re.escape(FILES_PATH)), self._upload_file),
            ("GET", re.compile(re.escape(USERS_PATH) + r"/(?P<id>[^/]+)"), self._user),
            ("POST", re.compile(re.escape(IMAGES_PATH)), self._upload_image),
        ]

    # ------------------------------------------------------------------ test controls

    def add_user(self, open_id: str, name: str) -> None:
        """A user within the app's availability: the bot may message them."""
        self.users[open_id] = name

    def block(self, open_id: str) -> None:
        """Sending to this user fails with 230013 from now on (as if they left the app's range)."""
        self._blocked.add(open_id)

    def unblock(self, open_id: str) -> None:
        self._blocked.discard(open_id)

    def expire_tokens(self) -> None:
        """Every tenant_access_token issued so far stops working."""
        self._tokens.clear()

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock on (token lifetimes, the uuid window)."""
        self._time_offset += seconds

    def throttle(self, path_prefix: str, times: int) -> None:
        """The next `times` calls whose path starts with `path_prefix` get 429."""
        self._throttles.append(_Throttle(path_prefix, times))

    def _now(self) -> float:
        return time.monotonic() + self._time_offset

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str, path_prefix: str) -> list[FeishuCall]:
        return [
            c
            for c in self.calls
            if c.method.upper() == method.upper() and c.path.startswith(path_prefix)
        ]

    def messages_to(self, open_id: str) -> list[FeishuMessage]:
        """What the bot sent this user, in order (recalled ones included, and flagged)."""
        return [m for m in self.sent if m.open_id == open_id]

    def message(self, message_id: str) -> FeishuMessage | None:
        return self._by_id.get(message_id)

    def _upload(self, key: str) -> StoredUpload:
        for store in (self._files, self._images, self._user_files):
            if key in store:
                return store[key]
        raise KeyError(f"no file or image with key {key!r}")

    def file_bytes(self, key: str) -> bytes:
        """The bytes of an uploaded file or image, or of a file a user sent."""
        return self._upload(key).data

    def file_name(self, key: str) -> str:
        return self._upload(key).name

    async def wait_for_message(
        self,
        open_id: str,
        after: int = 0,
        # A plain number reads better in tests than wrapping each wait in asyncio.timeout.
        timeout: float = 10,  # noqa: ASYNC109
    ) -> FeishuMessage:
        """The message at index `after` among those to this user, waiting for it if needed."""

        def found() -> FeishuMessage | None:
            messages = self.messages_to(open_id)
            return messages[after] if len(messages) > after else None

        return await self._changes.until(
            found, timeout, lambda: AssertionError(self._explain_missing(open_id, after, timeout))
        )

    async def wait_for_edit(
        self,
        message_id: str,
        edits: int = 1,
        timeout: float = 10,  # noqa: ASYNC109
    ) -> FeishuMessage:
        """The message once it has been PATCHed at least `edits` times."""

        def found() -> FeishuMessage | None:
            message = self._by_id.get(message_id)
            return message if message is not None and message.edits >= edits else None

        def failure() -> Exception:
            message = self._by_id.get(message_id)
            count = 0 if message is None else message.edits
            return AssertionError(
                f"message {message_id} was edited {count} time(s) within {timeout}s, "
                f"expected {edits}{self._recent_errors()}"
            )

        return await self._changes.until(found, timeout, failure)

    def _recent_errors(self) -> str:
        failed = [c for c in self.calls if c.status != 200][-5:]
        if not failed:
            return ""
        lines = [
            f"  {c.method} {c.path} → {c.status} {c.code} {c.response.get('msg')}" for c in failed
        ]
        return "\nrecent failed API calls:\n" + "\n".join(lines)

    def _explain_missing(self, open_id: str, after: int, timeout: float) -> str:
        messages = self.messages_to(open_id)
        name = self.users.get(open_id, "unknown user")
        lines = [
            f"no message #{after} (0-based) to {open_id} ({name}) within {timeout}s; "
            f"the bot sent {len(messages)} message(s) there:"
        ]
        for i, m in enumerate(messages):
            flag = " (recalled)" if m.recalled else ""
            lines.append(f"  [{i}] {m.msg_type}{flag}: {m.text[:200]!r} buttons={m.labels}")
        others = sorted({m.open_id for m in self.sent} - {open_id})
        if others:
            lines.append(f"messages also went to {others}")
        return "\n".join(lines) + self._recent_errors()

    # ------------------------------------------------------------------ waiting machinery

    def _notify(self) -> None:
        self._changes.notify()

    async def aclose(self) -> None:
        self._notify()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ HTTP front end

    def make_app(self) -> web.Application:
        # Above the 30 MB file limit, so an oversized upload gets Feishu's answer, not aiohttp's.
        app = web.Application(client_max_size=MAX_FILE_BYTES + 4 * MB)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        call = FeishuCall(request.method, request.path, dict(request.query), {}, time.time())
        self.calls.append(call)
        try:
            parsed = await self._parse(request, call)
            reply = await self._dispatch(parsed)
        except FeishuError as exc:
            reply = _Reply(exc.body(), exc.status, exc.headers)
        call.status = reply.status
        if isinstance(reply.body, dict):
            call.response = copy.deepcopy(reply.body)
            response: web.StreamResponse = web.json_response(
                reply.body, status=reply.status, headers=reply.headers
            )
        else:
            call.response = {"bytes": len(reply.body)}
            response = web.Response(body=reply.body, status=reply.status, headers=reply.headers)
        self._notify()
        return response

    async def _parse(self, request: web.Request, call: FeishuCall) -> _Request:
        parsed = _Request(
            request.method, request.path, dict(request.query), request.headers, None, {}, {}
        )
        if not request.body_exists:
            return parsed
        if request.content_type == "multipart/form-data":
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    # aiohttp's own client percent-encodes non-ASCII file names.
                    filename = unquote(value.filename)
                    parsed.files[key] = (filename, data)
                    call.body[key] = f"<file {filename}, {len(data)} bytes>"
                elif isinstance(value, str):
                    parsed.form[key] = value
                    call.body[key] = value
                else:
                    parsed.files[key] = ("", bytes(value))
                    call.body[key] = f"<file, {len(value)} bytes>"
            return parsed
        raw = await request.read()
        try:
            parsed.json = json.loads(raw)
        except ValueError:
            call.body = {"raw": raw[:200].decode(errors="replace")}
            raise FeishuError(9499, "Bad Request: body is not valid JSON") from None
        if isinstance(parsed.json, dict):
            call.body = copy.deepcopy(parsed.json)
        return parsed

    async def _dispatch(self, req: _Request) -> _Reply:
        for throttle in self._throttles:
            if throttle.remaining > 0 and req.path.startswith(throttle.prefix):
                throttle.remaining -= 1
                self._throttles = [t for t in self._throttles if t.remaining > 0]
                raise FeishuError(
                    99991400,
                    "request trigger frequency limit",
                    status=429,
                    headers={"x-ogw-ratelimit-reset": "1"},
                )
        if req.path == TOKEN_PATH:
            if req.method != "POST":
                raise FeishuError(404, "404 page not found", status=404)
            return self._grant_token(req)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match is not None and method == req.method:
                self._check_token(req)
                return await handler(req, match)
        raise FeishuError(404, "404 page not found", status=404)

    # ------------------------------------------------------------------ auth

    def _grant_token(self, req: _Request) -> _Reply:
        body = req.json if isinstance(req.json, dict) else {}
        app_id, app_secret = body.get("app_id"), body.get("app_secret")
        if not isinstance(app_id, str) or not isinstance(app_secret, str):
            raise FeishuError(10003, "invalid param")
        if app_id != self.app_id or app_secret != self.app_secret:
            raise FeishuError(10014, "app secret invalid")
        token = "t-" + secrets.token_hex(20)
        self._tokens[token] = self._now() + self.token_seconds
        self.token_grants += 1
        return _Reply(
            {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_seconds}
        )

    def _check_token(self, req: _Request) -> None:
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise FeishuError(99991661, _MISSING_TOKEN)
        expires = self._tokens.get(token)
        if expires is None or expires <= self._now():
            raise FeishuError(99991663, _INVALID_TOKEN)

    # ------------------------------------------------------------------ messages

    def _body(self, req: _Request) -> JSONDict:
        if not isinstance(req.json, dict):
            raise FeishuError(9499, "Bad Request: body must be a JSON object")
        return req.json

    def _content(self, body: JSONDict) -> tuple[str, JSONDict]:
        raw = body.get("content")
        if not isinstance(raw, str):
            raise FeishuError(230001, "invalid message content")
        try:
            content = json.loads(raw)
        except ValueError:
            raise _content_error("content is not valid JSON") from None
        if not isinstance(content, dict):
            raise _content_error("content must be a JSON object")
        return raw, content

    def _check_content(self, msg_type: str, raw: str, content: JSONDict) -> str | None:
        """Validate by type; the attachment name for file messages."""
        size = len(raw.encode())
        if msg_type == "text":
            text = content.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _content_error("text must be a non-empty string")
            if size > MAX_TEXT_BYTES:
                raise FeishuError(230025, "The length of the message content reaches its limit.")
        elif msg_type == "interactive":
            validate_card(content, self._images, size)
        elif msg_type == "image":
            key = content.get("image_key")
            if not isinstance(key, str) or key not in self._images:
                raise _content_error(f"image_key {key!r} was not uploaded")
        elif msg_type == "file":
            key = content.get("file_key")
            if not isinstance(key, str) or key not in self._files:
                raise _content_error(f"file_key {key!r} was not uploaded")
            return self._files[key].name
        elif msg_type == "post":
            if size > MAX_POST_BYTES:
                raise FeishuError(230025, "The length of the message content reaches its limit.")
            _check_post(content)
        return None

    def _message_data(self, message: FeishuMessage) -> JSONDict:
        return {
            "message_id": message.message_id,
            "msg_type": message.msg_type,
            "create_time": message.create_time,
            "update_time": message.create_time,
            "chat_id": message.chat_id,
            "deleted": message.recalled,
            "updated": message.edits > 0,
            "sender": {
                "id": self.app_id,
                "id_type": "app_id",
                "sender_type": "app",
                "tenant_key": TENANT_KEY,
            },
            "body": {"content": json.dumps(message.content, ensure_ascii=False)},
        }

    async def _send(self, req: _Request, match: re.Match[str]) -> _Reply:
        if req.query.get("receive_id_type") != "open_id":
            raise _field_error("receive_id_type")
        body = self._body(req)
        open_id = body.get("receive_id")
        if not isinstance(open_id, str) or not open_id:
            raise _field_error("receive_id")
        msg_type = body.get("msg_type")
        if msg_type not in MSG_TYPES:
            raise _field_error("msg_type")
        request_uuid = body.get("uuid")
        if request_uuid is not None and (
            not isinstance(request_uuid, str) or not 0 < len(request_uuid) <= MAX_UUID_CHARS
        ):
            raise _field_error("uuid")
        if request_uuid is not None:
            seen = self._uuids.get(request_uuid)
            if seen is not None and self._now() - seen[0] < UUID_WINDOW_SECONDS:
                # Feishu's idempotency: the first message again, nothing sent twice.
                return _ok(self._message_data(self._by_id[seen[1]]))
        if open_id not in self.users or open_id in self._blocked:
            raise FeishuError(230013, _NO_AVAILABILITY)
        raw, content = self._content(body)
        attachment = self._check_content(msg_type, raw, content)
        message = FeishuMessage(
            message_id="om_" + uuid.uuid4().hex,
            open_id=open_id,
            msg_type=msg_type,
            content=content,
            chat_id=chat_id_for(open_id),
            create_time=_now_ms(),
            uuid=request_uuid,
            attachment_name=attachment,
        )
        self.sent.append(message)
        self._by_id[message.message_id] = message
        self._emit_bot(message)
        if request_uuid is not None:
            self._uuids[request_uuid] = (self._now(), message.message_id)
        return _ok(self._message_data(message))

    def _existing(self, message_id: str) -> FeishuMessage:
        message = self._by_id.get(message_id)
        if message is None:
            raise FeishuError(230011, "message not found")
        if message.recalled:
            raise FeishuError(230011, "The message was withdrawn.")
        return message

    async def _patch(self, req: _Request, match: re.Match[str]) -> _Reply:
        message = self._existing(match["id"])
        if message.msg_type != "interactive":
            raise FeishuError(230001, "invalid message content: the message is not a card")
        raw, content = self._content(self._body(req))
        validate_card(content, self._images, len(raw.encode()))
        message.history.append(message.content)
        message.content = content
        message.edits += 1
        self._emit_bot(message, edit=True)
        return _ok({})

    async def _user(self, req: _Request, match: re.Match[str]) -> _Reply:
        """A person in the directory (the app has contact:user.base:readonly here)."""
        if req.query.get("user_id_type", "open_id") != "open_id":
            raise _field_error("user_id_type")
        name = self.users.get(match["id"])
        if name is None:
            raise FeishuError(41050, "no user authority error")
        return _ok({"user": {"open_id": match["id"], "name": name}})

    async def _recall(self, req: _Request, match: re.Match[str]) -> _Reply:
        message = self._existing(match["id"])
        message.recalled = True
        self.emit(f"🤖 recalls a message to {self.users.get(message.open_id, message.open_id)}")
        return _ok({})

    def emit(self, line: str) -> None:
        self.transcript.append(line)
        if self.on_event is not None:
            self.on_event(line)

    def _emit_bot(self, message: FeishuMessage, *, edit: bool = False) -> None:
        name = self.users.get(message.open_id, message.open_id)
        tag = " (edit)" if edit else ""
        body = message.plain
        if message.msg_type == "file":
            body = f"📎 {body}"
        elif any(e.get("tag") == "img" for e in _elements(message.content)):
            body = f"🖼 {body}"
        line = f"🤖 → {name}{tag}: {body}"
        rows = [
            [str(b.get("text", {}).get("content", "")) for b in e.get("actions", [])]
            for e in _elements(message.content)
            if e.get("tag") == "action"
        ]
        for row in rows:
            line += "\n" + " ".join(f"[{label}]" for label in row)
        self.emit(line)

    # ------------------------------------------------------------------ files

    def _upload_bytes(self, req: _Request, name: str, limit: int) -> bytes:
        if name not in req.files:
            raise FeishuError(234001, f"Invalid request param: {name} is required.")
        data = req.files[name][1]
        if not data:
            raise FeishuError(234010, "File's size can't be 0.")
        if len(data) > limit:
            raise FeishuError(234006, "The file size exceed the max value.")
        return data

    async def _upload_file(self, req: _Request, match: re.Match[str]) -> _Reply:
        file_type = req.form.get("file_type")
        if file_type not in FILE_TYPES:
            raise FeishuError(234001, "Invalid request param: file_type.")
        name = req.form.get("file_name", "")
        if not name:
            raise FeishuError(234001, "Invalid request param: file_name.")
        data = self._upload_bytes(req, "file", MAX_FILE_BYTES)
        key = "file_v3_" + uuid.uuid4().hex
        self._files[key] = StoredUpload(key, name, data, file_type)
        return _ok({"file_key": key})

    async def _upload_image(self, req: _Request, match: re.Match[str]) -> _Reply:
        if req.form.get("image_type") != "message":
            raise FeishuError(234001, "Invalid request param: image_type.")
        data = self._upload_bytes(req, "image", MAX_IMAGE_BYTES)
        if not _looks_like_image(data):
            raise FeishuError(234011, "Can't recognise image format.")
        key = "img_v3_" + uuid.uuid4().hex
        self._images[key] = StoredUpload(key, req.files["image"][0] or key, data, "image")
        return _ok({"image_key": key})

    async def _resource(self, req: _Request, match: re.Match[str]) -> _Reply:
        if req.query.get("type") not in ("file", "image"):
            raise _field_error("type")
        stored = self._user_files.get(match["key"])
        if stored is None or stored.message_id not in (None, match["id"]):
            raise FeishuError(234003, "File not in msg.")
        return _Reply(
            stored.data,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{stored.name}"',
            },
        )

    # ------------------------------------------------------------------ simulated users

    def user_file(self, open_id: str, name: str, data: bytes) -> str:
        """Store a file as one this user sent; its key is served by the resources GET."""
        key = "file_v3_" + uuid.uuid4().hex
        self._user_files[key] = StoredUpload(key, name, data, "user", owner=open_id)
        return key

    def _meet(self, open_id: str) -> None:
        # Someone who writes to the bot is within its availability.
        self.users.setdefault(open_id, "User")

    async def user_says(self, open_id: str, text: str) -> JSONDict:
        """The user writes `text` to the bot; returns the event (the bot must answer 200)."""
        self._meet(open_id)
        self.emit(f"👤 {self.users[open_id]}: {text}")
        event = message_event(
            app_id=self.app_id, token=self.verification_token, open_id=open_id, text=text
        )
        await self._deliver_ok(event)
        return event

    async def user_sends_file(self, open_id: str, name: str, data: bytes) -> JSONDict:
        """The user sends the bot a file; returns the event (the bot must answer 200)."""
        self._meet(open_id)
        self.emit(f"👤 {self.users[open_id]} sends 📎 {name} ({len(data)} bytes)")
        key = self.user_file(open_id, name, data)
        message_id = "om_" + uuid.uuid4().hex
        self._user_files[key].message_id = message_id
        event = file_message_event(
            app_id=self.app_id,
            token=self.verification_token,
            open_id=open_id,
            file_key=key,
            file_name=name,
            message_id=message_id,
        )
        await self._deliver_ok(event)
        return event

    async def press(self, open_id: str, message_id: str, label: str) -> JSONDict:
        """The user presses the button labelled `label`; returns the bot's JSON answer."""
        message = self._by_id.get(message_id)
        if message is None:
            raise AssertionError(f"the bot sent no message {message_id}")
        if message.recalled:
            raise AssertionError(f"message {message_id} was recalled; nothing to press")
        values = [value for text, value in message.buttons if text == label]
        if not values:
            raise AssertionError(
                f"no button {label!r} on message {message_id}; it has {message.labels}"
            )
        value = values[0]
        if not isinstance(value, dict):
            raise AssertionError(f"button {label!r} opens {value}; it sends no callback")
        self.emit(f"👤 {self.users.get(open_id, open_id)} taps [{label}]")
        event = card_action_event(
            app_id=self.app_id,
            token=self.verification_token,
            open_id=open_id,
            message_id=message_id,
            value=value,
        )
        body = await self._deliver_ok(event)
        if not body.strip():
            return {}
        try:
            answer = json.loads(body)
        except ValueError:
            raise AssertionError(
                f"the bot answered the card action with non-JSON {body!r}"
            ) from None
        if not isinstance(answer, dict):
            raise AssertionError(f"the bot answered the card action with {answer!r}")
        return answer

    async def verify_url(self, challenge: str) -> JSONDict:
        """Feishu's URL check; returns the bot's JSON answer (should echo the challenge)."""
        event = url_verification(token=self.verification_token, challenge=challenge)
        status, body = await self._post_event(event)
        if status != 200:
            raise AssertionError(f"the bot answered url_verification with {status}: {body[:500]}")
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise AssertionError(f"the bot answered url_verification with {answer!r}")
        return answer

    async def redeliver(self, event: JSONDict) -> int:
        """POST the same event again (Feishu retries when it saw no 200); the HTTP status."""
        status, _ = await self._post_event(event)
        return status

    async def post_raw(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        """POST exactly these bytes and headers to the callback URL, for negative tests."""
        return await self._post(None, body, dict(headers))

    async def _deliver_ok(self, event: JSONDict) -> str:
        self.last_event = event
        status, body = await self._post_event(event)
        if status != 200:
            event_type = event.get("header", {}).get("event_type")
            raise AssertionError(f"the bot answered {event_type} with {status}: {body[:500]}")
        return body

    def signed_request(self, event: JSONDict) -> tuple[bytes, dict[str, str]]:
        """The body and headers Feishu would send for `event`."""
        plain = json.dumps(event, ensure_ascii=False)
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(8)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
        }
        if not self.encrypt_key:
            return plain.encode(), headers
        body = json.dumps({"encrypt": crypto.encrypt(self.encrypt_key, plain)}).encode()
        headers["X-Lark-Signature"] = crypto.signature(timestamp, nonce, self.encrypt_key, body)
        return body, headers

    async def _post_event(self, event: JSONDict) -> tuple[int, str]:
        body, headers = self.signed_request(event)
        return await self._post(event, body, headers)

    async def _post(
        self, event: JSONDict | None, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str]:
        if self.callback_url is None:
            raise AssertionError("set standin.callback_url before users act")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._session.post(self.callback_url, data=body, headers=headers) as response:
            status, text = response.status, await response.text()
        self.deliveries.append(FeishuDelivery(copy.deepcopy(event), status, text))
        self._notify()
        return status, text


@asynccontextmanager
async def run_feishu_standin(
    standin: FeishuStandIn, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve the stand-in over HTTP; yields its base URL, e.g. "http://127.0.0.1:54321"."""
    runner = web.AppRunner(standin.make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        standin.base_url = f"http://{host}:{bound_port}"
        yield standin.base_url
    finally:
        await runner.cleanup()
        await standin.aclose()
