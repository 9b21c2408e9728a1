"""The pictures in docs/: chats and workbench pages made from the demo, so they never go stale.

`python docs/make_screenshots.py` (or `python -m bot.screenshots`) plays `branchbot demo
--serve` with a sandbox that keeps every chat, adds a few steps the demo leaves out (reminders,
reports, a meeting still open for check-in, the workbench link), draws chosen conversations as
a Telegram-like page, and screenshots those pages and the workbench's pages in headless Chromium
(Debian's, through Playwright). The PNGs go to docs/images/, at 1x scale and cropped.

`render_chat` is the whole chat renderer: a small page of bubbles, buttons and notices, every
text escaped; the bot's Telegram HTML keeps only the tags Telegram itself renders.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import io
import re
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
from unittest import mock

from bot import demo
from bot.sandbox import BotApiSandbox, SentMessage
from bot.sandbox.models import button_rows, button_text_for_data
from bot.texts import plain, t

Who = tuple[int, str]
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each picture is kept under this size; a larger one is stored with a 256-colour palette.
MAX_BYTES = 200_000
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
SHUTDOWN_SECONDS = 60

# What the renderer writes around the conversation, in the page's language.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "viewer": "{name}（{role}）的手机",
        "bot": "机器人",
        "tap": "点按「{label}」",
        "toast": "提示：{text}",
        "more": "⋯（共 {count} 行，此处从略）",
    },
    "en": {
        "viewer": "{name}'s phone ({role})",
        "bot": "bot",
        "tap": "Tapped “{label}”",
        "toast": "shown: {text}",
        "more": "⋯ ({count} lines in all, cut here)",
    },
}


# ---------------------------------------------------------------- the chat renderer


@dataclass(frozen=True)
class ChatEntry:
    """One thing in a conversation.

    - `bot`: a message from the bot; `text` is the Telegram HTML it was sent with.
    - `member`: what the member sent, plain text.
    - `notice`: a centred note (a date, a button the member tapped), plain text.
    """

    kind: Literal["bot", "member", "notice"]
    text: str = ""
    time: str = ""
    buttons: tuple[tuple[str, ...], ...] = ()
    photo: bytes | None = None
    document: str | None = None


# Telegram's HTML: these tags are drawn (with their own tag here); <a> becomes a coloured span.
_KEPT_TAGS = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}


class _TelegramHtml(HTMLParser):
    """Telegram HTML to safe HTML: text escaped, only _KEPT_TAGS kept and without attributes,
    every opened tag closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _KEPT_TAGS:
            self.out.append(f"<{_KEPT_TAGS[tag]}>")
            self.open.append(_KEPT_TAGS[tag])
        elif tag == "a":
            self.out.append('<span class="link">')
            self.open.append("span")

    def handle_endtag(self, tag: str) -> None:
        wanted = "span" if tag == "a" else _KEPT_TAGS.get(tag)
        if wanted is not None and wanted in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == wanted:
                    break

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def telegram_html(text: str) -> str:
    """The bot's Telegram HTML as safe HTML for the page."""
    parser = _TelegramHtml()
    parser.feed(text)
    return parser.result()


def _cut(text: str, max_lines: int, lang: str) -> str:
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text
    return "\n".join([*lines[:max_lines], LABELS[lang]["more"].format(count=len(lines))])


def _png_width(data: bytes) -> int:
    """A PNG's width from its header (0 when it is not a PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return 0
    return int.from_bytes(data[16:20], "big")


def _photo(data: bytes) -> str:
    width = _png_width(data)
    # A QR code is drawn a few pixels a module: scale it up without blurring.
    small = 0 < width < 200
    style = ' class="qr"' if small else ""
    kind = "png" if width else "jpeg"
    encoded = base64.b64encode(data).decode("ascii")
    return f'<div class="photo"><img{style} alt="" src="data:image/{kind};base64,{encoded}"></div>'


def _bubble(entry: ChatEntry, lang: str, max_lines: int) -> str:
    body: list[str] = []
    if entry.photo is not None:
        body.append(_photo(entry.photo))
    if entry.document is not None:
        body.append(
            '<div class="doc"><span class="icon">⤓</span>'
            f'<span class="name">{html.escape(entry.document)}</span></div>'
        )
    if entry.text:
        text = _cut(entry.text, max_lines, lang)
        shown = telegram_html(text) if entry.kind == "bot" else html.escape(text, quote=False)
        body.append(f'<div class="text">{shown}</div>')
    time = f'<span class="time">{html.escape(entry.time)}</span>' if entry.time else ""
    keys = ""
    if entry.buttons:
        rows = "".join(
            '<div class="r">'
            + "".join(f'<span class="key">{html.escape(label)}</span>' for label in row)
            + "</div>"
            for row in entry.buttons
        )
        keys = f'<div class="keys">{rows}</div>'
    return (
        f'<div class="row {entry.kind}"><div class="msg">'
        f'<div class="bubble">{"".join(body)}{time}</div>{keys}</div></div>'
    )


_STYLE = """
* { box-sizing: border-box; }
body { margin: 0; background: #fff;
  font: 15px/1.4 "WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", sans-serif,
    "Noto Color Emoji"; }
.phone { width: 420px; background: #d3dfc4; }
.viewer { background: #3f6e94; color: #fff; font-size: 12px; padding: 4px 12px; }
.head { background: #fff; display: flex; align-items: center; gap: 10px; padding: 7px 12px;
  border-bottom: 1px solid #dfe3e8; }
.avatar { width: 38px; height: 38px; border-radius: 50%; background: #5b9bd5; color: #fff;
  display: flex; align-items: center; justify-content: center; font-weight: bold; }
.title { font-weight: bold; color: #222; }
.sub { color: #8a96a3; font-size: 13px; }
.log { padding: 8px 10px 12px; display: flex; flex-direction: column; gap: 6px; }
.row { display: flex; }
.row.member { justify-content: flex-end; }
.row.notice { justify-content: center; }
.msg { max-width: 84%; min-width: 0; }
.bubble { background: #fff; border-radius: 12px 12px 12px 4px; padding: 6px 9px 5px;
  box-shadow: 0 1px 1px rgba(0, 0, 0, .13); color: #111; overflow: hidden; }
.member .bubble { background: #e7fcd5; border-radius: 12px 12px 4px 12px; }
.notice .bubble { background: rgba(56, 78, 48, .45); color: #fff; box-shadow: none;
  border-radius: 12px; padding: 2px 10px; font-size: 12.5px; text-align: center; }
.text { white-space: pre-wrap; word-break: break-word; overflow-wrap: anywhere; }
.time { float: right; color: #8d9ba8; font-size: 11px; margin: 5px 0 -3px 10px; }
.member .time { color: #5fa65a; }
.keys { display: flex; flex-direction: column; gap: 3px; margin-top: 3px; }
.keys .r { display: flex; gap: 3px; }
.key { flex: 1; background: rgba(56, 78, 48, .42); color: #fff; text-align: center;
  padding: 6px 6px; border-radius: 8px; font-size: 14px; overflow-wrap: anywhere; }
.photo img { display: block; max-width: 100%; border-radius: 6px; margin-bottom: 4px; }
.photo img.qr { width: 180px; image-rendering: pixelated; }
.doc { display: flex; align-items: center; gap: 8px; margin: 2px 0 4px; }
.doc .icon { width: 36px; height: 36px; border-radius: 50%; background: #4fa94d; color: #fff;
  display: flex; align-items: center; justify-content: center; font-size: 18px; }
.doc .name { color: #2a6db0; font-weight: bold; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 13.5px; }
code { background: rgba(0, 0, 0, .06); border-radius: 3px; padding: 0 2px; }
pre { margin: 0; white-space: pre-wrap; }
blockquote { margin: 2px 0; padding-left: 8px; border-left: 3px solid #5b9bd5; }
.link { color: #2a7bd1; }
"""


def render_chat(
    entries: Sequence[ChatEntry],
    *,
    viewer: str,
    bot_name: str,
    lang: str = "zh",
    max_lines: int = 16,
) -> str:
    """A Telegram-like page of one private chat, as `viewer` sees it on their phone."""
    labels = LABELS[lang]
    log = "\n".join(_bubble(entry, lang, max_lines) for entry in entries)
    initial = html.escape(bot_name[:1].upper() or "B")
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><style>{_STYLE}</style></head><body>'
        f'<div class="phone" id="phone"><div class="viewer">{html.escape(viewer)}</div>'
        f'<div class="head"><div class="avatar">{initial}</div><div>'
        f'<div class="title">{html.escape(bot_name)}</div>'
        f'<div class="sub">{html.escape(labels["bot"])}</div></div></div>'
        f'<div class="log">\n{log}\n</div></div></body></html>'
    )


# ---------------------------------------------------------------- recording the demo

_HEADING = re.compile(r"^\s*—— (\d+)\. ")
_MARKER = re.compile(r"⏱ (\d{4}-\d{2}-\d{2}) (\S+) (\d{2}:\d{2})")
_LINK = re.compile(r"^(.+?) \(.*\): (https?://\S+/dashboard/login\?t=\S+)$")


@dataclass(frozen=True)
class Moment:
    """When something happened on the demo's clock, as its time markers print it."""

    day: str = ""
    weekday: str = ""
    time: str = ""

    def day_label(self, lang: str) -> str:
        if not self.day:
            return ""
        when = date.fromisoformat(self.day)
        if lang == "zh":
            return f"{when.month}月{when.day}日 {self.weekday}"
        return f"{self.weekday}, {when.day} {when:%B}"


@dataclass(frozen=True)
class _Said:
    """Something the member did: a message (with its message id) or a tap (after the chat's
    last message id then)."""

    chat_id: int
    message_id: int
    tap: bool
    text: str
    scene: str
    moment: Moment
    order: int
    query_id: str = ""


class RecordingSandbox(BotApiSandbox):
    """The demo's sandbox, keeping what each member sent and tapped and, for every message,
    the demo scene and the demo clock's time when it happened. `out` is the demo's printer."""

    def __init__(self, *, echo: bool = False) -> None:
        super().__init__()
        self.echo = echo
        self.scene = ""
        self.moment = Moment()
        self.said: list[_Said] = []
        self.stamps: dict[tuple[int, int], tuple[str, Moment]] = {}
        self.links: dict[str, str] = {}
        self.lines: list[str] = []
        self._stamped = 0

    def out(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)
        if heading := _HEADING.match(line):
            self.scene = heading[1]
        elif marker := _MARKER.search(line):
            self.moment = Moment(marker[1], marker[2], marker[3])
        elif link := _LINK.match(line.strip()):
            self.links[link[1]] = link[2]

    def _last_id(self, chat_id: int) -> int:
        ids = [m.message_id for m in self.messages_to(chat_id)]
        ids += [s.message_id for s in self.said if s.chat_id == chat_id and not s.tap]
        return max(ids, default=0)

    def _keep(self, chat_id: int, message_id: int, tap: bool, text: str, query: str = "") -> None:
        self.said.append(
            _Said(chat_id, message_id, tap, text, self.scene, self.moment, len(self.said), query)
        )

    def _emit(self, line: str) -> None:
        # Every message sent makes an event; the demo prints it (after the time marker it
        # belongs to, which `out` reads), and then the message takes the scene and the time.
        super()._emit(line)
        self._stamp_new()

    def _stamp_new(self) -> None:
        for sent in self.sent[self._stamped :]:
            self.stamps[(sent.chat_id, sent.message_id)] = (self.scene, self.moment)
        self._stamped = len(self.sent)

    async def user_message(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        update = await super().user_message(user_id, text, **kwargs)
        self._keep(user_id, int(update["message"]["message_id"]), False, text)
        return update

    async def user_document(
        self, user_id: int, file_name: str, content: bytes, **kwargs: Any
    ) -> dict[str, Any]:
        update = await super().user_document(user_id, file_name, content, **kwargs)
        self._keep(user_id, int(update["message"]["message_id"]), False, f"📎 {file_name}")
        return update

    async def press_button(
        self, user_id: int, message_id: int, callback_data: str, **kwargs: Any
    ) -> dict[str, Any]:
        pressed = self.message(user_id, message_id)
        label = None
        if pressed is not None and pressed.reply_markup is not None:
            label = button_text_for_data(pressed.reply_markup, callback_data)
        after = self._last_id(user_id)
        update = await super().press_button(user_id, message_id, callback_data, **kwargs)
        query = str(update["callback_query"]["id"])
        self._keep(user_id, after, True, label or callback_data, query)
        return update

    def conversation(
        self,
        chat_id: int,
        scenes: Iterable[str],
        *,
        lang: str = "zh",
        skip: Sequence[str] = (),
    ) -> list[ChatEntry]:
        """The chat with `chat_id` during `scenes`, as its member saw it at the end: messages
        in their final state (edits applied, deleted ones gone), a date wherever the day
        changes, a note for each button tapped. A message starting with one of `skip` is left
        out with the bot's answers to it."""
        self._stamp_new()
        wanted = set(scenes)
        keyed: list[tuple[tuple[int, int, int], _Said | SentMessage]] = []
        for said in self.said:
            if said.chat_id == chat_id and said.scene in wanted:
                keyed.append(((said.message_id, int(said.tap), said.order), said))
        for sent in self.messages_to(chat_id):
            scene, _ = self.stamps.get((chat_id, sent.message_id), ("", Moment()))
            if not sent.deleted and scene in wanted:
                keyed.append(((sent.message_id, 0, 0), sent))
        keyed.sort(key=lambda pair: pair[0])
        entries: list[ChatEntry] = []
        labels = LABELS[lang]
        day, skipping = "", False
        for _, item in keyed:
            if isinstance(item, _Said):
                moment = item.moment
                skipping = not item.tap and item.text.startswith(tuple(skip)) if skip else False
            else:
                moment = self.stamps.get((chat_id, item.message_id), ("", Moment()))[1]
            if skipping:
                continue
            if moment.day and moment.day != day:
                day = moment.day
                entries.append(ChatEntry("notice", moment.day_label(lang)))
            if isinstance(item, _Said) and item.tap:
                note = labels["tap"].format(label=item.text)
                toast = self.answers.get(item.query_id, {}).get("text")
                if isinstance(toast, str) and toast:
                    note += " · " + labels["toast"].format(text=plain(toast))
                entries.append(ChatEntry("notice", note))
            elif isinstance(item, _Said):
                entries.append(ChatEntry("member", item.text, moment.time))
            else:
                entries.append(_bot_entry(item, moment.time))
        return entries


def _bot_entry(sent: SentMessage, time: str) -> ChatEntry:
    raw = sent.text if sent.text is not None else sent.caption
    if raw is None:
        body = ""
    elif (sent.parse_mode or "").lower() == "html":
        body = raw
    else:
        body = html.escape(raw, quote=False)
    rows = tuple(tuple(row) for row in button_rows(sent)) if sent.reply_markup else ()
    return ChatEntry(
        "bot",
        body,
        time,
        rows,
        photo=sent.photo_bytes,
        document=sent.document_name,
    )


# ---------------------------------------------------------------- what to picture


@dataclass(frozen=True)
class ChatShot:
    """A picture of one member's chat during some of the demo's scenes (numbers as the demo
    prints them, or the names of the extra steps below)."""

    name: str
    who: Callable[[demo.Cast], Who]
    role: str
    scenes: tuple[str, ...]
    skip: tuple[str, ...] = ("/start",)
    max_lines: int = 16


@dataclass(frozen=True)
class WebShot:
    """A picture of one workbench page, as the secretary (or the admin) sees it."""

    name: str
    path: str
    admin: bool = False
    width: int = 1200
    max_height: int = 1100
    # Pages that do not exist (yet) are skipped with a note, not an error.
    optional: bool = False


def _qian(c: demo.Cast) -> Who:
    return c.qian


def _zhang(c: demo.Cast) -> Who:
    return c.zhang


def _li(c: demo.Cast) -> Who:
    return c.li


def _zhao(c: demo.Cast) -> Who:
    return c.zhao


def _admin(c: demo.Cast) -> Who:
    return c.admin


CHAT_SHOTS: tuple[ChatShot, ...] = (
    ChatShot("chat-roster-import", _admin, "admin", ("1",)),
    ChatShot("chat-join", _zhang, "member", ("2",), skip=(), max_lines=8),
    ChatShot("chat-study-secretary", _qian, "secretary", ("4", "5", "6")),
    ChatShot("chat-study-member", _li, "member", ("4", "5")),
    ChatShot("chat-study-nudged", _zhao, "group_leader", ("4", "6")),
    ChatShot("chat-remind", _qian, "secretary", ("remind",)),
    ChatShot("chat-timepoll", _qian, "secretary", ("7", "8")),
    ChatShot("chat-meeting-member", _li, "member", ("8", "10")),
    ChatShot("chat-checkin", _qian, "secretary", ("9",)),
    ChatShot("chat-meeting-close", _qian, "secretary", ("10", "11")),
    ChatShot("chat-volunteer-member", _zhao, "group_leader", ("12", "13", "14")),
    ChatShot("chat-volunteer-secretary", _qian, "secretary", ("14", "15", "16")),
    ChatShot("chat-dues-member", _zhang, "member", ("17",)),
    ChatShot("chat-dues-secretary", _qian, "secretary", ("17",)),
    ChatShot("chat-task-member", _zhang, "member", ("18",)),
    ChatShot("chat-task-secretary", _qian, "secretary", ("18",)),
    ChatShot("chat-reports", _qian, "secretary", ("reports",)),
    ChatShot("chat-dashboard-link", _qian, "secretary", ("dashboard",)),
)

WEB_SHOTS: tuple[WebShot, ...] = (
    WebShot("web-overview", "/dashboard"),
    WebShot("web-overview-admin", "/dashboard", admin=True),
    WebShot("web-items", "/dashboard/items"),
    WebShot("web-item", "/dashboard/items/1"),
    WebShot("web-meetings", "/dashboard/meetings"),
    WebShot("web-meeting", "/dashboard/meetings/1"),
    WebShot("web-activity", "/dashboard/activities/1"),
    WebShot("web-dues", "/dashboard/dues", optional=True),
    WebShot("web-tasks", "/dashboard/tasks", optional=True),
    WebShot("web-members", "/dashboard/members"),
    WebShot("web-checkin", "/dashboard/checkin/meeting/2", width=1000, max_height=760),
    WebShot("web-overview-phone", "/dashboard", width=390, max_height=1400),
)


# ---------------------------------------------------------------- the extra steps


# What the demo does not play, said in each language: (scene, who, what they send).
_EXTRA: dict[str, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("remind", "/remind 每周五 17:00 | 廉政提醒：节假日期间严守纪律，不收送礼品礼金。"),
        ("remind", "/remind 节前3天 09:00"),
        ("remind", "/reminders"),
        ("reports", "/stats"),
        ("reports", "/export"),
        ("reports", "/summary {half}"),
        ("lecture", "/meeting 党课 {start} 党课：学习党章 @ 三楼会议室"),
        ("lecture", "/checkincode {meeting}"),
        ("dashboard", "/dashboard"),
    ),
    "en": (
        ("remind", "/remind every friday 17:00 | Integrity: no gifts or cash over the holidays."),
        ("remind", "/remind before holidays 3 09:00"),
        ("remind", "/reminders"),
        ("reports", "/stats"),
        ("reports", "/export"),
        ("reports", "/summary {half}"),
        ("lecture", "/meeting lecture {start} Party lecture: the Constitution @ Room 301"),
        ("lecture", "/checkincode {meeting}"),
        ("dashboard", "/dashboard"),
    ),
}
# What each command's answer is complete with (background work answers twice, or more).
_DONE: dict[str, Callable[[list[SentMessage]], bool]] = {
    "/stats": lambda new: any(m.photo_bytes for m in new),
    "/export": lambda new: any(m.document_name for m in new),
    "/summary": lambda new: sum(1 for m in new if m.document_name) >= 2,
    "/checkincode": lambda new: any(m.photo_bytes for m in new),
}
_MEETING_NUMBER = re.compile(r"#(\d+)")


def _answered(new: list[SentMessage]) -> bool:
    return bool(new)


async def _quiet(sandbox: BotApiSandbox, seconds: float = 0.4, limit: float = 30.0) -> None:
    """Wait until nothing new has reached the sandbox for `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    seen, since = -1, loop.time()
    while loop.time() < deadline:
        if len(sandbox.transcript) != seen:
            seen, since = len(sandbox.transcript), loop.time()
        elif loop.time() - since >= seconds:
            return
        await asyncio.sleep(0.05)


async def play_extras(sandbox: RecordingSandbox, cast: demo.Cast) -> None:
    """The secretary's steps the demo leaves out, on the same bot once the demo has played."""
    user_id, name = cast.qian
    day = date.fromisoformat(sandbox.moment.day) if sandbox.moment.day else date.today()
    hour, minute = (int(x) for x in (sandbox.moment.time or "09:00").split(":"))
    # Twenty minutes on: check-in (open from half an hour before) is already open.
    total = hour * 60 + minute + 20
    start = f"{day} {min(total // 60, 23):02d}:{total % 60:02d}"
    values = {"half": f"{day.year}-H{1 if day.month <= 6 else 2}", "start": start, "meeting": ""}
    for scene, template in _EXTRA[cast.lang]:
        sandbox.scene = scene
        text = template.format(**values)
        before = len(sandbox.messages_to(user_id))
        await sandbox.user_message(user_id, text, first_name=name)
        done = _DONE.get(text.split()[0], _answered)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while not done(sandbox.messages_to(user_id)[before:]):
            if loop.time() > deadline:
                raise TimeoutError(f"no complete answer to {text!r}")
            await asyncio.sleep(0.1)
        await _quiet(sandbox)
        if text.startswith("/meeting"):
            answer = sandbox.messages_to(user_id)[before]
            found = _MEETING_NUMBER.search(answer.plain_text or "")
            values["meeting"] = found[1] if found else "2"


# ---------------------------------------------------------------- taking the pictures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(png: bytes, path: Path) -> int:
    """Write the picture, with a 256-colour palette when it would be over MAX_BYTES."""
    if len(png) > MAX_BYTES:
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB")
        buffer = io.BytesIO()
        image.quantize(colors=256).save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return len(png)


@dataclass
class Made:
    """The pictures written (path, bytes), each told to `tell` as it is written, and the ones
    skipped with why."""

    tell: Callable[[str], None] | None = None
    written: list[tuple[Path, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def wrote(self, path: Path, size: int) -> None:
        self.written.append((path, size))
        if self.tell is not None:
            flag = "  (over the limit!)" if size > MAX_BYTES else ""
            self.tell(f"{path}  {size // 1024} KB{flag}")

    def skip(self, note: str) -> None:
        self.skipped.append(note)
        if self.tell is not None:
            self.tell(f"skipped: {note}")


async def take(
    sandbox: RecordingSandbox,
    cast: demo.Cast,
    base: str,
    out: Path,
    *,
    only: set[str] | None = None,
    tell: Callable[[str], None] | None = None,
) -> Made:
    from playwright.async_api import FloatRect, async_playwright

    lang = cast.lang
    made = Made(tell)
    suffix = "" if lang == "zh" else f"-{lang}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            chat = await browser.new_page(viewport={"width": 420, "height": 800})
            for shot in CHAT_SHOTS:
                if only is not None and shot.name not in only:
                    continue
                who = shot.who(cast)
                entries = sandbox.conversation(who[0], shot.scenes, lang=lang, skip=shot.skip)
                if not entries:
                    made.skip(f"{shot.name}: nothing said in scenes {shot.scenes}")
                    continue
                role = plain(t(lang, f"role.{shot.role}"))
                viewer = LABELS[lang]["viewer"].format(name=who[1], role=role)
                page = render_chat(
                    entries,
                    viewer=viewer,
                    bot_name=cast.organisation,
                    lang=lang,
                    max_lines=shot.max_lines,
                )
                await chat.set_content(page)
                png = await chat.locator("#phone").screenshot()
                path = out / f"{shot.name}{suffix}.png"
                made.wrote(path, _store(png, path))
            for admin in (False, True):
                web = [s for s in WEB_SHOTS if s.admin is admin]
                if only is not None:
                    web = [s for s in web if s.name in only]
                if not web:
                    continue
                who = cast.admin if admin else cast.qian
                link = sandbox.links.get(who[1])
                if link is None:
                    made.skip(f"no workbench login link for {who[1]}")
                    continue
                context = await browser.new_context(
                    viewport={"width": 1200, "height": 900},
                    device_scale_factor=1,
                    locale="zh-CN" if lang == "zh" else "en-GB",
                )
                page_ = await context.new_page()
                await page_.goto(link)
                await page_.locator("form[action='/dashboard/login'] [type=submit]").click()
                await page_.wait_for_url(f"{base}/dashboard*")
                for shot_ in web:
                    await page_.set_viewport_size({"width": shot_.width, "height": 900})
                    response = await page_.goto(base + shot_.path)
                    status = response.status if response is not None else 0
                    if status != 200:
                        made.skip(f"{shot_.name}: {shot_.path} answered {status}")
                        continue
                    with suppress(Exception):
                        await page_.wait_for_load_state("networkidle", timeout=5000)
                    # Charts draw themselves in; let them finish.
                    await page_.wait_for_timeout(800)
                    height = await page_.evaluate("document.documentElement.scrollHeight")
                    clip = FloatRect(
                        x=0, y=0, width=shot_.width, height=min(int(height), shot_.max_height)
                    )
                    png = await page_.screenshot(full_page=True, clip=clip)
                    path = out / f"{shot_.name}{suffix}.png"
                    made.wrote(path, _store(png, path))
                await context.close()
        finally:
            await browser.close()
    return made


async def make_screenshots(
    out: Path = IMAGES,
    *,
    lang: str = "zh",
    echo: bool = False,
    only: set[str] | None = None,
    tell: Callable[[str], None] | None = None,
) -> Made:
    """Play the demo (serving the workbench), the extra steps, then take every picture; `tell`
    hears how far it has got."""
    say = tell or (lambda line: None)
    cast = demo.CASTS[lang]
    sandbox = RecordingSandbox(echo=echo)
    port = _free_port()
    with mock.patch.object(demo, "BotApiSandbox", lambda: sandbox):
        task = asyncio.create_task(demo.run_demo(sandbox.out, serve_port=port, lang=lang))
        say(f"playing the demo ({lang})…")
        try:
            while len(sandbox.links) < 2:
                if task.done():
                    tail = "\n".join(sandbox.lines[-15:])
                    raise RuntimeError(f"the demo ended before it served the workbench:\n{tail}")
                await asyncio.sleep(0.1)
            say("the steps the demo leaves out…")
            await play_extras(sandbox, cast)
            say("taking the pictures…")
            base = f"http://127.0.0.1:{port}"
            return await take(sandbox, cast, base, out, only=only, tell=tell)
        finally:
            task.cancel()
            # The demo's bot shuts down as it would on Ctrl+C; never wait on it for ever.
            with suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, SHUTDOWN_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make_screenshots", description="Make the pictures in docs/images from the demo."
    )
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder (default: docs/images)")
    parser.add_argument("--lang", choices=demo.LANGUAGES, default="zh")
    parser.add_argument("--only", nargs="*", help="only these pictures (names without .png)")
    parser.add_argument("--verbose", action="store_true", help="print the demo's transcript")
    args = parser.parse_args(argv)
    only = set(args.only) if args.only else None
    made = asyncio.run(
        make_screenshots(
            args.out,
            lang=args.lang,
            echo=args.verbose,
            only=only,
            tell=lambda line: print(line, flush=True),
        )
    )
    return 0 if made.written and all(size <= MAX_BYTES for _, size in made.written) else 1


if __name__ == "__main__":
    sys.exit(main())
