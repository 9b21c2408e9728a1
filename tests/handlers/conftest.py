"""Handler tests: updates go through Application.process_update; the Bot API is the sandbox
reached in-process, so any attempt at real network fails and every call is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from telegram import Update

from bot import background
from bot.app import build_application, make_scheduler, make_sender, prepare_database
from bot.config import Config, parse_config
from bot.sandbox import BotApiSandbox, SandboxBotApi, SandboxRequest, SentMessage
from handlers.common import App, Deps
from storage.db import Database
from tests.conftest import OrgBuilder

ADMIN_ID = 9000


class Harness:
    def __init__(self, app: App, sandbox: BotApiSandbox, deps: Deps) -> None:
        self.app = app
        self.sandbox = sandbox
        self.deps = deps
        self.org = OrgBuilder(deps.db, deps.org_id)

    async def _feed(self, user_id: int, update: dict[str, Any]) -> list[SentMessage]:
        before = len(self.sandbox.messages_to(user_id))
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self.sandbox.messages_to(user_id)[before:]

    async def send(self, user_id: int, text: str, **kw: Any) -> list[SentMessage]:
        """The messages the bot sent to this user in answer."""
        return await self._feed(user_id, await self.sandbox.user_message(user_id, text, **kw))

    async def say(self, user_id: int, text: str, **kw: Any) -> str:
        """The one reply's text."""
        replies = await self.send(user_id, text, **kw)
        assert len(replies) == 1, [r.text for r in replies]
        return replies[0].text or ""

    async def upload(self, user_id: int, file_name: str, content: bytes) -> list[SentMessage]:
        return await self._feed(
            user_id, await self.sandbox.user_document(user_id, file_name, content)
        )

    async def press(
        self, user_id: int, message: SentMessage, data: str
    ) -> tuple[dict[str, Any], list[SentMessage]]:
        """Press a button (by callback data); returns the callback answer and new messages."""
        update = await self.sandbox.press_button(user_id, message.message_id, data)
        replies = await self._feed(user_id, update)
        return self.answer_for(update), replies

    async def flush(self, now: datetime | None = None) -> int:
        """Send what the outbox holds by `now` (default: the bot's clock), as the sender would."""
        sender = make_sender(self.deps, SandboxBotApi(self.sandbox))
        moment = now or self.deps.now()
        sender.clock = lambda: moment
        return await sender.run_once()

    def runner(
        self, now: datetime | None = None, executor: background.Executor | None = None
    ) -> background.Runner:
        """The background runner, doing the work in-process (a thread) unless told otherwise."""
        moment = now or self.deps.now()
        return background.Runner(
            self.deps.db,
            self.deps.config,
            self.deps.org_id,
            self.app.bot,
            executor or background.InProcess(),
            clock=lambda: moment,
        )

    async def run_jobs(
        self, now: datetime | None = None, executor: background.Executor | None = None
    ) -> int:
        """Do the queued background work due by `now` (default: the bot's clock), as the
        runner would, and send its results; returns how many jobs were taken."""
        return await self.runner(now, executor).run_once()

    async def fire_jobs(self, now: datetime) -> int:
        scheduler = make_scheduler(self.deps)
        scheduler.clock = lambda: now
        return await scheduler.run_due()

    def set_now(self, moment: datetime) -> None:
        """Freeze the bot's clock: handlers and services read `deps.now()`."""
        object.__setattr__(self.deps, "clock", lambda: moment)

    def answer_for(self, update: dict[str, Any]) -> dict[str, Any]:
        query_id = update["callback_query"]["id"]
        answers = [
            c.params
            for c in self.sandbox.calls
            if c.method.lower() == "answercallbackquery"
            and str(c.params.get("callback_query_id")) == query_id
        ]
        assert len(answers) == 1, f"expected one answer, got {answers}"
        return answers[0]


def make_config(database_url: str, **organisation: Any) -> Config:
    cfg = parse_config(
        {
            "telegram": {"token": "123456:SANDBOX"},
            "organisation": {"name": "测试局机关党委", "admins": [ADMIN_ID], **organisation},
            # No quiet hours and no per-chat spacing: handler tests flush the outbox at once.
            # No compliance job: tests firing jobs at "now + N hours" must not depend on the date.
            "meetings": {"compliance_remind_days": 0},
            # Nor the November/December reminder that next year's holiday notice is missing.
            "holidays": {"notice_reminder": False},
            "delivery": {
                "quiet_start": "00:00",
                "quiet_end": "00:00",
                "per_chat_interval_seconds": 0,
                "rate_per_second": 1000,
            },
        },
        env={},
    )
    return replace(cfg, database=replace(cfg.database, url=database_url))


@pytest.fixture
async def harness(db: Database) -> AsyncIterator[Harness]:
    sandbox = BotApiSandbox()
    config = make_config(db.url)
    org_id = await prepare_database(config, db)
    deps = Deps(config, db, org_id)
    app = build_application(deps, request=SandboxRequest(sandbox))
    async with app:
        yield Harness(app, sandbox, deps)
        await deps.cancel_tasks()
