"""The log: its level and format (`[logging]`), the update each line was written for, and
keeping what members wrote out of it.

- `update_id` is set while an update is handled (bot.inbound), so every line written then,
  whichever module writes it, carries the update's id: `[update 42]` in text, `"update_id"` in
  JSON.
- Members' messages never reach the log at INFO or above. Log calls name updates by id, kind,
  chat and user; `log_redacted` writes an error whose traceback may quote what the member sent
  (an exception's message, a database error's parameters) with that text cut out. The whole
  update is logged only at DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# The update being handled, for the log lines written meanwhile.
update_id: ContextVar[int | None] = ContextVar("log_update_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_TEXT_WITH_UPDATE = "%(asctime)s %(levelname)s %(name)s [update %(update_id)s]: %(message)s"

# Marks the handler `configure` installed, so a second call replaces it instead of adding one.
_OURS = "_branchbot_handler"


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with `[update N]` before the colon while one is handled."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._with_update = logging.Formatter(_TEXT_WITH_UPDATE)

    def format(self, record: logging.LogRecord) -> str:
        current = update_id.get()
        if current is None:
            return super().format(record)
        record.__dict__["update_id"] = current
        return self._with_update.format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and update_id
    while an update is handled; exception (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = update_id.get()
        if current is not None:
            line["update_id"] = current
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str = "INFO", fmt: str = "text", *, stream: TextIO | None = None) -> None:
    """Send the log to `stream` (standard error) at `level` in `fmt` ("text" or "json").

    Like `logging.basicConfig`, it leaves alone a root logger whose handlers someone else
    installed (a test runner, a program embedding the bot); it replaces its own."""
    # httpx logs every long-poll request at INFO: noise, not news. Alembic's INFO lines
    # ("Context impl…", "Will assume…") are noise on the command line too.
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    logging.getLogger("httpx").setLevel(quiet)
    logging.getLogger("alembic").setLevel(quiet)
    root = logging.getLogger()
    if any(not getattr(h, _OURS, False) for h in root.handlers):
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)


def current() -> tuple[str, str] | None:
    """The level and format `configure` set up in this process, for a worker process to set up
    the same (a spawned child starts with no logging); None when `configure` did not run."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, _OURS, False):
            fmt = "json" if isinstance(handler.formatter, JsonFormatter) else "text"
            return logging.getLevelName(root.level), fmt
    return None


# Shorter pieces of a member's text are left alone: they would cut common words out of the
# traceback's code lines without hiding anything.
_MIN_PIECE = 4


def _pieces(texts: Iterable[str]) -> list[str]:
    """What to cut out for these texts: each whole, each line and each word (at least
    _MIN_PIECE characters), as written and as repr() and JSON escape them, longest first."""
    found: set[str] = set()
    for text in texts:
        if not text:
            continue
        parts = {text, *text.splitlines(), *text.split()}
        for part in parts:
            part = part.strip()
            if len(part) < _MIN_PIECE and part != text.strip():
                continue
            if not part:
                continue
            found.update({part, repr(part)[1:-1], json.dumps(part)[1:-1]})
    return sorted((p for p in found if p), key=len, reverse=True)


# A run of this many characters of a member's text is theirs wherever it appears: an error
# may quote the text cut short (asyncpg's DataError quotes a value's first 40 characters).
_WINDOW = 8


def _windows(texts: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        for form in {text, repr(text)[1:-1], json.dumps(text)[1:-1]}:
            found.update(
                window
                for start in range(len(form) - _WINDOW + 1)
                if (window := form[start : start + _WINDOW]).strip()
            )
    return found


def redact(text: str, hide: Iterable[str]) -> str:
    """`text` with every piece of the texts in `hide` replaced by ‹…›: each whole, line and
    word, and any run of _WINDOW characters or more of one (a quote cut short)."""
    hidden = [h for h in hide if h]
    for piece in _pieces(hidden):
        text = text.replace(piece, "‹…›")
    windows = _windows(hidden)
    if not windows:
        return text
    covered = [False] * len(text)
    for start in range(len(text) - _WINDOW + 1):
        if text[start : start + _WINDOW] in windows:
            covered[start : start + _WINDOW] = [True] * _WINDOW
    kept: list[str] = []
    for index, char in enumerate(text):
        if not covered[index]:
            kept.append(char)
        elif index == 0 or not covered[index - 1]:
            kept.append("‹…›")
    return "".join(kept)


def log_redacted(
    logger: logging.Logger,
    level: int,
    msg: str,
    *args: object,
    error: BaseException | None,
    hide: Iterable[str],
) -> None:
    """Log `msg % args` with `error`'s traceback, but with what the member wrote (`hide`) cut
    out of the traceback: an exception's message may quote it."""
    if not logger.isEnabledFor(level):
        return
    fn, lno, func, _ = logger.findCaller(stacklevel=2)
    record = logger.makeRecord(logger.name, level, fn, lno, msg, args, None, func)
    if error is not None:
        trace = "".join(traceback.format_exception(error)).rstrip("\n")
        record.exc_text = redact(trace, list(hide))
    logger.handle(record)


# Where members' own words sit in an update (message text, captions, inline queries, polls,
# file names): what `member_texts` collects to cut out.
_MEMBER_TEXT_KEYS = frozenset({"text", "caption", "query", "question", "explanation", "file_name"})


def member_texts(update: object) -> list[str]:
    """Every text a member wrote in `update` (a python-telegram-bot Update, or anything with
    `to_dict()`): what must not reach the log at INFO or above."""
    to_dict = getattr(update, "to_dict", None)
    if to_dict is None:
        return []
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _MEMBER_TEXT_KEYS and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(to_dict())
    return found


def describe_update(update: object) -> str:
    """An update for the log without what the member wrote: its kind, chat and user."""
    to_dict = getattr(update, "to_dict", None)
    if to_dict is None:
        return type(update).__name__
    kind = next((k for k in to_dict() if k != "update_id"), "update")
    chat = getattr(getattr(update, "effective_chat", None), "id", None)
    user = getattr(getattr(update, "effective_user", None), "id", None)
    return f"{kind} in chat {chat} from user {user}"
