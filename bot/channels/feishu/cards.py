"""The core's messages as Feishu cards.

The core writes every message in one small, channel-neutral form: text in a subset of HTML
(<b>, <i>, <a href>, <code>, <pre>; lists are lines starting with "•" or "1.") and buttons as
rows of (label, action data) or (label, URL). Telegram takes that form as it is; here it becomes
a Feishu message card (JSON 1.0: a markdown element, an image, rows of buttons). Cards rather
than text messages because only cards carry buttons and can be changed after a press.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

from bot.channels.message import button_rows

# Feishu's markdown would otherwise read these in a member's text as formatting.
_SPECIAL = re.compile(r"([\\`*_\[\]~<$])")
_LINE_START = re.compile(r"^(\s*)([#+\->])", re.MULTILINE)
# Feishu shows up to five buttons side by side; more in one row are wrapped into rows of five.
ROW_WIDTH = 5


def escape(text: str) -> str:
    return _LINE_START.sub(r"\1\\\2", _SPECIAL.sub(r"\\\1", text))


# The marks an inline tag stands for, the same on both sides of its text.
_MARKS = {"b": "**", "strong": "**", "i": "*", "em": "*", "s": "~~", "del": "~~", "strike": "~~"}


class _Markdown(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._href: list[str | None] = []
        self._in_pre = False
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _MARKS:
            self.out.append(_MARKS[tag])
        elif tag == "code" and not self._in_pre:
            self._in_code = True
            self.out.append("`")
        elif tag == "pre":
            self._in_pre = True
            self.out.append("\n```\n")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
            self.out.append("[")
        elif tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _MARKS:
            self.out.append(_MARKS[tag])
        elif tag == "code" and not self._in_pre:
            self._in_code = False
            self.out.append("`")
        elif tag == "pre":
            self._in_pre = False
            self.out.append("\n```\n")
        elif tag == "a":
            href = self._href.pop() if self._href else None
            self.out.append(f"]({href})" if href else "]")

    def handle_data(self, data: str) -> None:
        # Inside code, markdown takes every character as it is.
        self.out.append(data if self._in_pre or self._in_code else escape(data))


def markdown(html_text: str) -> str:
    """The neutral HTML subset as Feishu card markdown; unknown tags keep only their text."""
    parser = _Markdown()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.out).strip()


def plain_text(html_text: str) -> str:
    """The text without markup (what a toast or a file caption can show)."""
    return unescape(re.sub(r"<[^>]+>", "", html_text)).strip()


def keyboard_rows(markup: Any) -> list[list[dict[str, str]]]:
    """The button rows of a message: the outbox's neutral form, or an inline keyboard (what
    handlers send), as rows of {"label", "action" | "url"}."""
    return button_rows(markup)


def _button(button: dict[str, str]) -> dict[str, Any]:
    text = str(button.get("label", ""))[:100]
    # Feishu refuses a whole card over one blank label.
    label = {"tag": "plain_text", "content": text if text.strip() else "…"}
    if button.get("url"):
        return {"tag": "button", "text": label, "type": "default", "url": button["url"]}
    return {
        "tag": "button",
        "text": label,
        "type": "default",
        # The action data goes back to the bot in card.action.trigger as it is.
        "value": {"d": str(button.get("action", ""))},
    }


def card(
    html_text: str,
    markup: Any = None,
    *,
    image_key: str | None = None,
    image_alt: str = "",
) -> dict[str, Any]:
    """A message card for the neutral message: its text, an optional image, its buttons."""
    elements: list[dict[str, Any]] = []
    if image_key:
        elements.append(
            {"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": image_alt}}
        )
    text = markdown(html_text)
    if text or not elements:
        elements.append({"tag": "markdown", "content": text or " "})
    for row in keyboard_rows(markup):
        for start in range(0, len(row), ROW_WIDTH):
            elements.append(
                {"tag": "action", "actions": [_button(b) for b in row[start : start + ROW_WIDTH]]}
            )
    # update_multi: the card is the same for everyone who sees it, so an update replaces it.
    return {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}


_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\([^)]*\)")


def read_markdown(text: str) -> str:
    """What a reader sees of card markdown: no emphasis marks or escapes, a link's text only
    (the stand-in's transcript and tests read cards this way)."""
    text = _LINK.sub(r"\1", text)
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i):
            i += 3
            continue
        if text.startswith("**", i) or text.startswith("~~", i):
            i += 2
            continue
        if char in "*`":
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)
