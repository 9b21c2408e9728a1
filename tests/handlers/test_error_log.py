"""An update whose handler fails is logged (with a reference the member is given) without what
the member wrote; the whole update only at DEBUG; the lines carry the update's id."""

from __future__ import annotations

import io
import json
import logging

import pytest
from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.logs import JsonFormatter
from handlers.common import Context
from tests.handlers.conftest import Harness

MARKER = "MARKER-7d41"
TEXT = f"boom 我的思想汇报 {MARKER} 第二段"
STRANGER = 555


def fail_on_boom(harness: Harness) -> None:
    """A handler that fails, quoting the member's text in its exception (as int('…') or a
    database error's parameters would)."""

    async def boom(update: Update, context: Context) -> None:
        assert update.effective_message is not None
        raise ValueError(f"could not read {update.effective_message.text!r}")

    # A group of its own after the features: each group runs its first matching handler.
    harness.app.add_handler(MessageHandler(filters.Regex("^boom"), boom), group=5)


async def test_a_failing_update_is_logged_without_the_members_text(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fail_on_boom(harness)
    with caplog.at_level(logging.DEBUG):
        replies = await harness.send(STRANGER, TEXT)
    failed = [r for r in caplog.records if "failed (ref" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    message = failed[0].getMessage()
    assert f"message in chat {STRANGER} from user {STRANGER}" in message
    # The member is given the same reference.
    ref = message.split("(ref ")[1].split(")")[0]
    assert any(ref in (r.text or "") for r in replies)
    # The traceback is kept, with the member's words cut out of the exception's message.
    assert failed[0].exc_text is not None
    assert "ValueError: could not read" in failed[0].exc_text
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            shown = caplog.handler.format(record)
            assert MARKER not in shown and "思想汇报" not in shown, shown
    # At DEBUG the whole update may be logged, for whoever turned DEBUG on.
    assert any(MARKER in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


async def test_lines_written_while_an_update_is_handled_carry_its_id(harness: Harness) -> None:
    """Through the inbound path (kept, then handled in its lane), as `branchbot run` does."""
    fail_on_boom(harness)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("handlers.system")
    logger.addHandler(handler)
    try:
        payload = await harness.sandbox.user_message(STRANGER, TEXT)
        await harness.deps.inbox.admit([payload])
        update = Update.de_json(payload, harness.app.bot)
        await harness.app.update_processor.process_update(
            update, harness.app.process_update(update)
        )
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in lines if "failed (ref" in line["message"]]
    assert len(failed) == 1
    assert failed[0]["update_id"] == payload["update_id"]
    assert failed[0]["level"] == "ERROR" and failed[0]["logger"] == "handlers.system"
    assert "ValueError: could not read" in failed[0]["exception"]
    assert MARKER not in stream.getvalue()
