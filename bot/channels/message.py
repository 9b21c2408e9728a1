"""The channel-neutral message the outbox keeps, and its Telegram rendering.

A message is text in a small markup subset (<b>, <i>, <a href>, <code>, <pre>; lists are lines
starting with "•" or "1.") and rows of buttons, each a label with either action data (what a
press sends back) or a URL. The outbox stores the buttons as
`{"buttons": [[{"label": …, "action": …} | {"label": …, "url": …}, …], …]}`; each channel's
sender renders them: Telegram as an inline keyboard (below), Feishu as a card
(bot.channels.feishu.cards). Handlers build buttons with python-telegram-bot's keyboard type,
which `neutral_buttons` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

Rows = list[list[dict[str, str]]]


def neutral_buttons(markup: Any) -> dict[str, Rows] | None:
    """Buttons as the outbox keeps them, from an inline keyboard (a dict or its JSON), or
    from buttons already in this form."""
    rows = _rows(markup)
    return {"buttons": rows} if rows else None


def _rows(markup: Any) -> Rows:
    if not markup:
        return []
    data = json.loads(markup) if isinstance(markup, str) else markup
    if not isinstance(data, dict):
        return []
    if "buttons" in data:
        return [list(row) for row in data["buttons"] if row]
    # An inline keyboard (what handlers build, and what older outbox rows hold).
    rows: Rows = []
    for row in data.get("inline_keyboard") or []:
        out = []
        for button in row:
            label = str(button.get("text", ""))
            if button.get("url"):
                out.append({"label": label, "url": str(button["url"])})
            else:
                out.append({"label": label, "action": str(button.get("callback_data", ""))})
        if out:
            rows.append(out)
    return rows


def button_rows(stored: Any) -> Rows:
    """The rows of buttons of a stored message (neutral, or an older row's inline keyboard)."""
    return _rows(stored)


def telegram_keyboard(stored: Any) -> str | None:
    """Stored buttons as Telegram's inline keyboard (JSON), or None without buttons."""
    rows = _rows(stored)
    if not rows:
        return None
    keyboard = [
        [
            {"text": b["label"], "url": b["url"]}
            if "url" in b
            else {"text": b["label"], "callback_data": b.get("action", "")}
            for b in row
        ]
        for row in rows
    ]
    return json.dumps({"inline_keyboard": keyboard}, ensure_ascii=False)


@contextmanager
def from_another_channel() -> Iterator[None]:
    """Errors of fetching a file from another channel, as the sending channel must read them:
    that channel's rate limit is no reason to pause this one's sends (a retry later), and a
    file out of reach there says nothing of the person here (the message cannot be sent)."""
    try:
        yield
    except RetryAfter as exc:
        raise NetworkError(f"the file's channel asks to wait: {exc}") from exc
    except Forbidden as exc:
        raise BadRequest(f"Bad Request: the file cannot be fetched: {exc}") from exc
