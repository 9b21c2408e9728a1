"""Records the sandbox keeps so tests can assert on what the bot did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiCall",
    "ButtonNotFound",
    "SentMessage",
    "StoredFile",
    "button_data",
    "button_texts",
    "sent_message_json",
]


@dataclass
class ApiCall:
    """One Bot API request as the sandbox saw it (params after decoding)."""

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def description(self) -> str | None:
        value = self.response.get("description")
        return value if isinstance(value, str) else None


@dataclass
class SentMessage:
    """A message the bot sent. Edits update it in place, so it always shows the current state.

    `text` and `caption` are exactly what the bot sent (HTML included); `plain_text` and
    `plain_caption` are what the user would see.
    """

    chat_id: int
    message_id: int
    method: str
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    document_name: str | None = None
    document_bytes: bytes | None = None
    mime_type: str | None = None
    photo_bytes: bytes | None = None
    file_id: str | None = None
    plain_text: str | None = None
    plain_caption: str | None = None
    date: int = 0
    # When the sandbox received it (time.time()), finer than `date`, to measure send rates.
    received_at: float = 0.0
    edited: bool = False
    edit_count: int = 0
    deleted: bool = False
    history: list[str | None] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def buttons(self) -> list[str]:
        return button_texts(self)


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str | None
    mime_type: str | None
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


class ButtonNotFound(LookupError):
    """No button with that text (or it carries no callback_data)."""


def _markup_of(msg: SentMessage | Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(msg, SentMessage):
        return msg.reply_markup
    # Accept a Message JSON object as well as a bare reply_markup.
    markup = msg.get("reply_markup", msg)
    return markup if isinstance(markup, Mapping) else None


def _rows(msg: SentMessage | Mapping[str, Any]) -> list[list[Any]]:
    markup = _markup_of(msg)
    if markup is None:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [list(row) for row in rows if isinstance(row, list)]


def _label(button: Any) -> str:
    if isinstance(button, Mapping):
        return str(button.get("text", ""))
    return str(button)


def button_rows(msg: SentMessage | Mapping[str, Any]) -> list[list[str]]:
    return [[_label(b) for b in row] for row in _rows(msg)]


def button_texts(msg: SentMessage | Mapping[str, Any]) -> list[str]:
    """Visible texts of all keyboard buttons, row by row."""
    return [label for row in button_rows(msg) for label in row]


def button_data(msg: SentMessage | Mapping[str, Any], text: str) -> str:
    """callback_data of the inline button whose visible text is `text`."""
    buttons = [b for row in _rows(msg) for b in row if isinstance(b, Mapping)]
    # Exact text first, so "Yes" is not shadowed by " Yes " elsewhere on the keyboard.
    for exact in (True, False):
        for button in buttons:
            label = str(button.get("text", ""))
            if label == text if exact else label.strip() == text.strip():
                data = button.get("callback_data")
                if not isinstance(data, str):
                    raise ButtonNotFound(f"button {text!r} has no callback_data: {dict(button)}")
                return data
    raise ButtonNotFound(f"no button {text!r}; buttons are {[_label(b) for b in buttons]}")


def button_text_for_data(msg: Mapping[str, Any], data: str) -> str | None:
    for row in _rows(msg):
        for button in row:
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                return str(button.get("text", ""))
    return None


def sent_message_json(msg: SentMessage) -> dict[str, Any]:
    """JSON-safe view for the HTTP side door: bytes are left out, sizes kept."""
    return {
        "chat_id": msg.chat_id,
        "message_id": msg.message_id,
        "method": msg.method,
        "text": msg.text,
        "plain_text": msg.plain_text,
        "caption": msg.caption,
        "plain_caption": msg.plain_caption,
        "parse_mode": msg.parse_mode,
        "reply_markup": msg.reply_markup,
        "document_name": msg.document_name,
        "document_size": None if msg.document_bytes is None else len(msg.document_bytes),
        "mime_type": msg.mime_type,
        "has_photo": msg.photo_bytes is not None,
        "file_id": msg.file_id,
        "date": msg.date,
        "edited": msg.edited,
        "edit_count": msg.edit_count,
        "deleted": msg.deleted,
        "buttons": button_texts(msg),
    }
