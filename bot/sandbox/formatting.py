"""Telegram-style HTML parsing: the sandbox rejects what the real Bot API would reject.

Telegram refuses a message whose HTML it cannot parse ("can't parse entities"), which is a
common production failure (an unescaped `<` or `&` in user-supplied text). Parsing here lets
tests catch that, and yields the plain text plus entities a real server would return.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EntityParseError", "parse_html", "strip_html", "utf16_len"]

# Tag name -> entity type, per https://core.telegram.org/bots/api#html-style
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")
_ATTR_RE = re.compile(r"""([A-Za-z][A-Za-z0-9-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
# Telegram knows only these named references, plus every numeric one.
_CHAR_REF_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|lt|gt|amp|quot);")
_ANY_TAG_RE = re.compile(r"<[^<>]*>")


class EntityParseError(ValueError):
    """The text is not HTML that Telegram would accept."""


@dataclass
class _Open:
    name: str
    attrs: dict[str, str]
    start: int
    language: str | None = None


def utf16_len(text: str) -> int:
    """Telegram measures offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _attributes(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR_RE.finditer(raw):
        value = next((g for g in m.groups()[1:] if g is not None), "")
        attrs[m.group(1).lower()] = html.unescape(value)
    return attrs


def _entity(frame: _Open, length: int) -> dict[str, Any] | None:
    kind = _ENTITY_TYPES[frame.name]
    entity: dict[str, Any] = {"type": kind, "offset": frame.start, "length": length}
    if kind == "text_link":
        href = frame.attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href
    elif kind == "pre" and frame.language:
        entity["language"] = frame.language
    elif kind == "blockquote" and "expandable" in frame.attrs:
        entity["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = frame.attrs.get("emoji-id", "")
    return entity


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise EntityParseError like the Bot API would."""
    out: list[str] = []
    pos = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            offset = len(text[:i].encode())
            m = _TAG_RE.match(text, i)
            if m is None:
                raise EntityParseError(f'Unsupported start tag "" at byte offset {offset}')
            name = m.group(2).lower()
            if m.group(1):
                if not stack:
                    raise EntityParseError(f'Unexpected end tag "{name}" at byte offset {offset}')
                frame = stack.pop()
                if frame.name != name:
                    raise EntityParseError(
                        f'Can\'t find end tag corresponding to start tag "{frame.name}"'
                    )
                parent = stack[-1] if stack else None
                lang = frame.attrs.get("class", "")
                if (
                    name == "code"
                    and parent is not None
                    and parent.name == "pre"
                    and lang.startswith("language-")
                ):
                    # <pre><code class="language-x"> is one pre entity with a language.
                    parent.language = lang.removeprefix("language-")
                elif pos > frame.start:
                    entity = _entity(frame, pos - frame.start)
                    if entity is not None:
                        entities.append(entity)
            else:
                rest = m.group(3)
                if name not in _ENTITY_TYPES or rest.rstrip().endswith("/"):
                    raise EntityParseError(
                        f'Unsupported start tag "{name}" at byte offset {offset}'
                    )
                attrs = _attributes(rest)
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise EntityParseError(
                        f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                    )
                stack.append(_Open(name, attrs, pos))
            i = m.end()
            continue
        if ch == "&":
            ref = _CHAR_REF_RE.match(text, i)
            if ref is not None:
                decoded = html.unescape(ref.group(0))
                out.append(decoded)
                pos += utf16_len(decoded)
                i = ref.end()
                continue
        out.append(ch)
        pos += utf16_len(ch)
        i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def strip_html(text: str) -> str:
    """Readable text for transcripts, tolerant of HTML that would not parse."""
    try:
        return parse_html(text)[0]
    except EntityParseError:
        return html.unescape(_ANY_TAG_RE.sub("", text))
