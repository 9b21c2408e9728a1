"""Guided dialogs are kept in the database: a restart, or another instance on the same
database, continues them; an expired one is ignored and deleted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_application, make_sender, prepare_database
from bot.sandbox import BotApiSandbox, SandboxBotApi, SandboxRequest, button_data
from bot.services import dialogs as dialog_states
from handlers.common import App, Deps
from handlers.dialogs import LIFETIME
from storage.db import Database
from storage.models import DialogState, Item, Role
from tests.conftest import PG_ENV, OrgBuilder
from tests.handlers.conftest import Harness, make_config
from tests.handlers.test_meetings import branch as meeting_branch
from tests.handlers.test_meetings import invitation_to, invitations, schedule
from tests.handlers.test_study import LI, SECRETARY, branch, last


@asynccontextmanager
async def restarted(harness: Harness) -> AsyncIterator[Harness]:
    """The bot started again on the same database: a new engine (as a new process has), a new
    application with nothing in memory, the same Bot API and clock."""
    db = harness.deps.db.reopen()
    deps = Deps(harness.deps.config, db, harness.deps.org_id, clock=harness.deps.clock)
    app = build_application(deps, request=SandboxRequest(harness.sandbox))
    try:
        async with app:
            yield Harness(app, harness.sandbox, deps)
            await deps.cancel_tasks()
    finally:
        await db.dispose()


async def dialog_rows(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(DialogState)) or 0)


async def test_the_guided_study_continues_after_restarts(harness: Harness) -> None:
    await branch(harness)
    assert "标题" in await harness.say(SECRETARY, "/study")
    async with restarted(harness) as second:
        assert "学习内容" in await second.say(SECRETARY, "第二议题")
        [question] = await second.send(SECRETARY, "https://example.org/b")
    # Stopped while the audience buttons were shown: their choices come back from the row.
    async with restarted(harness) as third:
        group = next(b for b in third.sandbox.button_texts(question) if "第二党小组" in b)
        _, [deadline_q] = await third.press(SECRETARY, question, button_data(question, group))
        _, [when_q] = await third.press(SECRETARY, deadline_q, button_data(deadline_q, "7 天"))
        _, [preview] = await third.press(SECRETARY, when_q, button_data(when_q, "立即推送"))
    async with restarted(harness) as fourth:
        text = preview.text or ""
        assert "第二议题" in text and "第二党小组" in text
        _, [done] = await fourth.press(SECRETARY, preview, button_data(preview, "确认发布"))
        assert "推送给 1 人" in (done.text or "")
        await fourth.flush()
        assert "https://example.org/b" in (last(fourth, LI).text or "")
    # Ended in the transaction that posted the item.
    assert await dialog_rows(harness.deps.db) == 0


async def test_a_leave_reason_asked_before_a_restart_is_taken_after_it(harness: Harness) -> None:
    await meeting_branch(harness)
    mid = await schedule(harness, "/meeting general 2026-12-03 14:30 学习")
    invite = await invitation_to(harness, 2, mid)
    _, [prompt] = await harness.press(2, invite, f"mt:lv:{mid}")
    assert "请假原因" in (prompt.text or "")
    async with restarted(harness) as second:
        assert "已请假" in await second.say(2, "到市里参加培训")
        # The dialog is over: the next message is not a reason.
        assert "/help" in await second.say(2, "谢谢")
    rows = await invitations(harness, mid)
    assert rows["李四"].answer == "leave" and rows["李四"].leave_reason == "到市里参加培训"
    assert await dialog_rows(harness.deps.db) == 0


async def test_a_refused_step_leaves_the_dialog_where_it_was(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/study")
    # Too long a title: refused, and the dialog still asks for the title.
    assert "标题" in await harness.say(SECRETARY, "长" * 500)
    async with restarted(harness) as second:
        assert "学习内容" in await second.say(SECRETARY, "第二议题")


async def test_an_expired_dialog_is_ignored_then_deleted(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("副书记", role=Role.SECRETARY, telegram_id=DEPUTY)
    await harness.say(SECRETARY, "/study")
    await harness.say(DEPUTY, "/study")
    later = harness.deps.now() + LIFETIME + timedelta(minutes=1)
    harness.set_now(later)
    # Not taken as a title: the member is pointed to /help as with no dialog at all.
    assert "/help" in await harness.say(SECRETARY, "第二议题")
    assert "没有进行中的操作" in await harness.say(SECRETARY, "/cancel")
    assert await dialog_rows(harness.deps.db) == 2
    # Opening a dialog deletes the expired ones (start-up does too).
    assert "标题" in await harness.say(DEPUTY, "/study")
    assert await dialog_rows(harness.deps.db) == 1
    harness.set_now(later + LIFETIME)
    async with harness.deps.db.write() as session:
        assert await dialog_states.prune(session, now=harness.deps.now()) == 1
    assert await dialog_rows(harness.deps.db) == 0


async def test_cancel_ends_the_dialog_for_every_instance(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/study")
    async with restarted(harness) as second:
        assert "已取消" in await second.say(SECRETARY, "/cancel")
    assert "/help" in await harness.say(SECRETARY, "第二议题")


ZHANG_ID = 11
DEPUTY = 2


# ---------------------------------------------------------------- two instances


class Instance:
    """One running application fed through its own inbound path, as `branchbot run` is."""

    def __init__(self, app: App, deps: Deps, sandbox: BotApiSandbox) -> None:
        self.app = app
        self.deps = deps
        self.sandbox = sandbox

    async def send(self, update: dict[str, Any], user: int) -> list[str]:
        before = len(self.sandbox.messages_to(user))
        assert await self.deps.inbound.receive([update]) == 1
        await until(lambda: not self.deps.inbound.in_flight)
        return [m.text or "" for m in self.sandbox.messages_to(user)[before:]]


async def until(check: Callable[[], bool], seconds: float = 20) -> None:
    for _ in range(int(seconds * 50)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


@asynccontextmanager
async def instance(db: Database, sandbox: BotApiSandbox, org_id: int) -> AsyncIterator[Instance]:
    deps = Deps(make_config(db.url), db, org_id)
    app = build_application(deps, request=SandboxRequest(sandbox))
    async with app:
        await app.start()
        try:
            yield Instance(app, deps, sandbox)
        finally:
            await app.stop()
            await deps.cancel_tasks()


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason="the PostgreSQL tier (CI sets it)")
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_instances_on_postgresql_carry_one_dialog(db: Database) -> None:
    """Behind a load balancer each step of a dialog may reach another instance (PostgreSQL:
    several instances on one SQLite file is not a supported deployment)."""
    sandbox = BotApiSandbox()
    org_id = await prepare_database(make_config(db.url), db)
    org = OrgBuilder(db, org_id)
    await org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await org.member("张三", telegram_id=ZHANG_ID)
    other_db = db.reopen()
    try:
        async with instance(db, sandbox, org_id) as one, instance(other_db, sandbox, org_id) as two:
            user = SECRETARY
            [asked] = await one.send(await sandbox.user_message(user, "/study"), user)
            assert "标题" in asked
            [asked] = await two.send(await sandbox.user_message(user, "第二议题"), user)
            assert "学习内容" in asked
            [asked] = await one.send(await sandbox.user_message(user, "学习内容全文"), user)
            assert "推送给谁" in asked
            for instance_, label in ((two, "支部：第一支部"), (one, "不设截止"), (two, "立即推送")):
                message = sandbox.messages_to(user)[-1]
                press = await sandbox.press_button(
                    user, message.message_id, button_data(message, label)
                )
                await instance_.send(press, user)
            preview = sandbox.messages_to(user)[-1]
            assert "第二议题" in (preview.text or "")
            # Two taps on 「确认发布」 at once, one on each instance: one item is posted.
            confirm = button_data(preview, "确认发布")
            taps = [await sandbox.press_button(user, preview.message_id, confirm) for _ in "12"]
            before = len(sandbox.messages_to(user))
            await asyncio.gather(
                one.deps.inbound.receive([taps[0]]), two.deps.inbound.receive([taps[1]])
            )
            await until(lambda: not one.deps.inbound.in_flight and not two.deps.inbound.in_flight)
            [done] = [m.text or "" for m in sandbox.messages_to(user)[before:]]
            assert "推送给 2 人" in done
            sender = make_sender(one.deps, SandboxBotApi(sandbox))
            while await sender.run_once():
                pass
    finally:
        await other_db.dispose()
    assert "学习内容全文" in (sandbox.messages_to(ZHANG_ID)[-1].text or "")
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 1
    assert await dialog_rows(db) == 0
