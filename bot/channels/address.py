"""One integer space for every channel's chats.

The core (handlers, services, the outbox, the inbound lanes) addresses a person by one integer
chat id, as Telegram does. A Telegram chat keeps Telegram's own id; a person on another channel
gets an alias: −(2⁵³ + channel code · 2⁴⁸ + 48 bits of a hash of their id there). Telegram's
ids have at most 52 significant bits, so no alias is ever a Telegram chat, and the channel of an
address can be read off the number without a lookup. The `contacts` table keeps the way back
from an alias to the id the other messenger knows (a Feishu open_id).
"""

from __future__ import annotations

import hashlib

TELEGRAM = "telegram"
FEISHU = "feishu"
CHANNELS = (TELEGRAM, FEISHU)

_BASE = 2**53
_SPAN = 2**48
# Room for DingTalk and WeCom later: a code is never reused for another channel.
_CODES = {FEISHU: 1}
_NAMES = {code: name for name, code in _CODES.items()}


def _hash48(channel: str, external_id: str) -> int:
    digest = hashlib.sha256(f"{channel}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def alias(channel: str, external_id: str) -> int:
    """The chat id the core uses for `external_id` on `channel` (not Telegram)."""
    return -(_BASE + _CODES[channel] * _SPAN + _hash48(channel, external_id))


def channel_of(chat_id: int) -> str:
    """Which channel carries messages to this chat id."""
    if chat_id > -_BASE:
        return TELEGRAM
    return _NAMES.get((-chat_id - _BASE) // _SPAN, TELEGRAM)


def is_alias(chat_id: int | None) -> bool:
    return chat_id is not None and channel_of(chat_id) != TELEGRAM


def event_update_id(channel: str, event_id: str) -> int:
    """The inbox key of another channel's event: redelivered events (same event id) meet the
    same row and are dropped, as a repeated Telegram update is. Negative, so never a Telegram
    update id."""
    return alias(channel, f"event:{event_id}")
