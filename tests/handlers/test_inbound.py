"""The inbound path with the application running: updates kept, then handled concurrently across
members and in order within one chat, each applied once, and a flood kept to its sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler

from bot.app import build_application, make_sender, prepare_database
from bot.inbound import Inbound
from bot.sandbox import BotApiSandbox, SandboxBotApi, SandboxRequest, SentMessage
from bot.services import items, updates
from bot.services.audience import Audience
from handlers.common import App, Deps
from storage.db import Database
from storage.models import InboxUpdate, Item, Receipt, Role
from tests.conftest import OrgBuilder
from tests.handlers.conftest import Harness, make_config


class Live:
    """The application started as `branchbot run` starts it, fed through `Inbound.receive`."""

    def __init__(self, app: App, sandbox: BotApiSandbox, deps: Deps) -> None:
        self.app = app
        self.sandbox = sandbox
        self.deps = deps
        self.org = OrgBuilder(deps.db, deps.org_id)

    @property
    def inbound(self) -> Inbound:
        return self.deps.inbound

    async def post(self, *updates: dict[str, Any]) -> int:
        return await self.inbound.receive(list(updates))

    def texts_to(self, chat: int) -> list[str]:
        return [m.text or "" for m in self.sandbox.messages_to(chat)]

    async def until(self, check: Callable[[], bool], what: str, seconds: float = 20) -> None:
        """Wait for a state (not a timing assertion: the limit only stops a hung test)."""
        for _ in range(int(seconds * 50)):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"never happened: {what}")

    async def idle(self) -> None:
        await self.until(lambda: not self.inbound.in_flight, "every update finished")

    async def study_item(self, *members: int) -> tuple[int, dict[int, SentMessage]]:
        """A study item pushed to these members (telegram ids); their pushed messages."""
        secretary = await self.org.member("书记", role=Role.SECRETARY, telegram_id=500)
        for user in members:
            await self.org.member(f"党员{user}", telegram_id=user)
        async with self.deps.db.write() as session:
            posted = await items.post(
                session,
                self.deps.push,
                secretary.actor(),
                items.Draft(
                    items.KIND_STUDY,
                    "学习党章",
                    "第一章",
                    Audience("branch", secretary.branch_id or 0, ""),
                ),
                now=self.deps.now(),
            )
        sender = make_sender(self.deps, SandboxBotApi(self.sandbox))
        while await sender.run_once():
            pass
        return posted.item_id, {u: self.sandbox.messages_to(u)[-1] for u in members}

    async def confirmations(self, item_id: int) -> int:
        async with self.deps.db.read() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Receipt)
                    .where(Receipt.item_id == item_id, Receipt.confirmed_at.is_not(None))
                )
                or 0
            )

    def answers_to(self, update: dict[str, Any]) -> int:
        query_id = update["callback_query"]["id"]
        return sum(
            1
            for c in self.sandbox.calls_to("answerCallbackQuery")
            if str(c.params.get("callback_query_id")) == query_id
        )


@pytest.fixture
async def live(db: Database) -> AsyncIterator[Live]:
    sandbox = BotApiSandbox()
    config = make_config(db.url)
    org_id = await prepare_database(config, db)
    deps = Deps(config, db, org_id)
    app = build_application(deps, request=SandboxRequest(sandbox))
    async with app:
        await app.start()
        try:
            yield Live(app, sandbox, deps)
        finally:
            await app.stop()
            await deps.cancel_tasks()


def add_gate_command(live: Live) -> asyncio.Event:
    """A /wait command that holds its update until the returned event is set."""
    gate = asyncio.Event()

    async def wait(update: Update, context: Any) -> None:
        await gate.wait()
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "waited")
        raise ApplicationHandlerStop

    live.app.add_handler(CommandHandler("wait", wait), group=-3)
    return gate


async def test_members_are_handled_at_once_and_one_chat_in_order(live: Live) -> None:
    await live.org.member("张三", telegram_id=1)
    await live.org.member("李四", telegram_id=2)
    gate = add_gate_command(live)
    await live.post(await live.sandbox.user_message(1, "/wait"))
    await live.post(await live.sandbox.user_message(1, "/help"))
    await live.post(await live.sandbox.user_message(2, "/help"))
    # 李四 is answered while 张三's first update is still being handled...
    await live.until(lambda: len(live.texts_to(2)) == 1, "李四 answered")
    # ...and 张三's /help waits behind his own /wait, not beside it.
    assert live.texts_to(1) == []
    gate.set()
    await live.until(lambda: len(live.texts_to(1)) == 2, "张三 answered twice")
    assert live.texts_to(1)[0] == "waited"
    assert live.texts_to(1)[1] == live.texts_to(2)[0]
    await live.idle()


async def test_two_copies_arriving_together_are_applied_once(live: Live) -> None:
    item_id, pushed = await live.study_item(1)
    press = await live.sandbox.press_button(1, pushed[1].message_id, f"it:ok:{item_id}")
    fresh = await asyncio.gather(live.post(press), live.post(press))
    assert sorted(fresh) == [0, 1]
    await live.idle()
    assert await live.confirmations(item_id) == 1
    assert live.answers_to(press) == 1


async def test_a_copy_on_another_instance_is_applied_once(live: Live) -> None:
    """Two instances on one database (PostgreSQL deployments run several) get the same update
    at the same moment: one of them keeps and handles it."""
    item_id, pushed = await live.study_item(1)
    other_db = live.deps.db.reopen()
    other_deps = Deps(live.deps.config, other_db, live.deps.org_id)
    other = build_application(other_deps, request=SandboxRequest(live.sandbox))
    try:
        async with other:
            await other.start()
            press = await live.sandbox.press_button(1, pushed[1].message_id, f"it:ok:{item_id}")
            fresh = await asyncio.gather(live.post(press), other_deps.inbound.receive([press]))
            assert sorted(fresh) == [0, 1]
            await live.idle()
            await live.until(lambda: not other_deps.inbound.in_flight, "the other is idle")
            await other.stop()
    finally:
        await other_db.dispose()
    assert await live.confirmations(item_id) == 1
    assert live.answers_to(press) == 1


async def test_a_second_attempt_at_an_applied_update_is_rolled_back(live: Live) -> None:
    """A retry of an update whose first attempt committed (its lease ran out while it was slow,
    or its instance died just after the commit) finds it applied: its own transaction, which
    would publish the item a second time, is rolled back, and nobody is told of an error."""
    await live.org.member("书记", role=Role.SECRETARY, telegram_id=500)
    command = await live.sandbox.user_message(500, "/study 学习党章 | 第一章")
    await live.post(command)
    await live.idle()
    replies = len(live.texts_to(500))
    upd = Update.de_json(command, live.app.bot)
    await live.inbound.handle(upd, live.app.process_update(upd))
    async with live.deps.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 1
        row = await session.get(InboxUpdate, command["update_id"])
    assert row is not None and row.done_at is not None
    assert len(live.texts_to(500)) == replies


async def test_a_flooding_member_is_told_once_and_does_not_hold_up_others(live: Live) -> None:
    await live.org.member("张三", telegram_id=1)
    await live.org.member("李四", telegram_id=2)
    burst = live.deps.config.telegram.member_burst
    flood = [await live.sandbox.user_message(1, "/todo") for _ in range(50)]
    help_ = await live.sandbox.user_message(2, "/help")
    await live.post(*flood, help_)
    await live.idle()
    replies = live.texts_to(1)
    assert replies.count("您发送得太快了，请稍后再试。") == 1
    # What fitted the allowance was answered; the rest was dropped, not queued.
    assert len(replies) == burst + 1
    assert len(live.texts_to(2)) == 1
    async with live.deps.db.read() as session:
        pending = await session.scalar(
            select(func.count()).select_from(InboxUpdate).where(InboxUpdate.done_at.is_(None))
        )
    assert pending == 0


async def test_a_flood_does_not_delay_another_member(live: Live) -> None:
    """Ordering, not a clock: 李四's answer comes before 张三's flood is through."""
    await live.org.member("张三", telegram_id=1)
    await live.org.member("李四", telegram_id=2)
    gate = add_gate_command(live)
    await live.post(await live.sandbox.user_message(1, "/wait"))
    await live.post(*[await live.sandbox.user_message(1, "/todo") for _ in range(10)])
    await live.post(await live.sandbox.user_message(2, "/help"))
    await live.until(lambda: len(live.texts_to(2)) == 1, "李四 answered")
    assert live.texts_to(1) == []
    gate.set()
    await live.until(lambda: len(live.texts_to(1)) == 11, "张三's flood answered")
    await live.idle()


async def test_an_update_interrupted_before_its_commit_is_handled_after_a_restart(
    live: Live,
) -> None:
    """Kept, acknowledged, then the process died: the inbox row is pending with a lease that
    runs out, and recovery handles it once; Telegram's own redelivery is dropped."""
    item_id, pushed = await live.study_item(1)
    press = await live.sandbox.press_button(1, pushed[1].message_id, f"it:ok:{item_id}")
    # What a crash leaves behind: kept (and acknowledged), never handled, lease run out.
    async with live.deps.db.write() as session:
        now = live.deps.inbox.clock()
        await updates.admit(session, [press], now, now)
        await session.commit()
    assert await live.post(press) == 0  # the redelivery is a repeat
    assert await live.inbound.recover() == 1
    await live.idle()
    assert await live.confirmations(item_id) == 1
    assert live.answers_to(press) == 1
    assert await live.inbound.recover() == 0


async def test_an_edited_command_creates_nothing(live: Live) -> None:
    await live.org.member("书记", role=Role.SECRETARY, telegram_id=500)
    command = await live.sandbox.user_message(500, "/study 学习党章 | 第一章")
    await live.post(command)
    await live.idle()
    async with live.deps.db.read() as session:
        before = await session.scalar(select(func.count()).select_from(Item))
    edited = {
        "update_id": command["update_id"] + 1000,
        "edited_message": {**command["message"], "edit_date": command["message"]["date"] + 5},
    }
    await live.post(edited)
    await live.idle()
    async with live.deps.db.read() as session:
        after = await session.scalar(select(func.count()).select_from(Item))
    assert after == before == 1
    assert live.texts_to(500)[-1] == "修改后的消息不会被重新处理。如需更改，请发送一条新消息。"


async def test_a_stranger_over_the_smaller_allowance_is_told_on_the_button(
    harness: Harness,
) -> None:
    burst = harness.deps.config.telegram.stranger_burst
    answers = []
    for _ in range(burst + 2):
        update = await harness.sandbox.press_button(77, 1, "it:ok:1")
        await harness.app.process_update(Update.de_json(update, harness.app.bot))
        answers.append(harness.answer_for(update).get("text"))
    # Within the allowance the stale button is refused as such; past it, every press still
    # gets an answer (no spinner), and it says to wait.
    assert answers[-2:] == ["您发送得太快了，请稍后再试。"] * 2
    assert "您发送得太快了，请稍后再试。" not in answers[:burst]
