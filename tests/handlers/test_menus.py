"""Command menus by role and language, and the bot's description, as the Bot API stand-in holds
them after each change."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import menus
from bot.auth import COMMANDS, Access, menu_commands
from storage.models import Member, Role
from tests.handlers.conftest import ADMIN_ID, Harness
from tests.handlers.test_admin import first_row, preview


def chat_scope(user_id: int) -> dict[str, Any]:
    return {"type": "chat", "chat_id": user_id}


def names(access: Access) -> list[str]:
    return [c.name for c in menu_commands(access)]


def menu(harness: Harness, user_id: int) -> list[dict[str, Any]]:
    return harness.sandbox.commands(chat_scope(user_id))


async def test_joining_sets_the_members_menu_in_their_language(harness: Harness) -> None:
    zhang = await harness.org.member("张三")
    assert menu(harness, 1001) == []
    await harness.say(1001, f"/start {zhang.code}")
    joined = menu(harness, 1001)
    assert [c["command"] for c in joined] == names(Access.MEMBER)
    assert {"command": "me", "description": "我的信息"} in joined
    # A member has joined: no /start; and nothing a group leader or secretary may use.
    assert "start" not in names(Access.MEMBER) and "study" not in names(Access.MEMBER)
    await harness.say(1001, "/lang en")
    english = menu(harness, 1001)
    assert [c["command"] for c in english] == names(Access.MEMBER)
    assert {"command": "me", "description": "My record"} in english


async def test_setrole_gives_the_secretarys_menu(harness: Harness) -> None:
    zhang = await harness.org.member("张三")
    await harness.say(1001, f"/start {zhang.code}")
    assert "支部书记" in await harness.say(ADMIN_ID, "/setrole 张三 secretary")
    secretary = [c["command"] for c in menu(harness, 1001)]
    assert secretary == names(Access.SECRETARY)
    assert "study" in secretary and "setrole" in secretary
    assert len(secretary) > len(names(Access.GROUP_LEADER)) > len(names(Access.MEMBER))
    assert "党小组长" in await harness.say(ADMIN_ID, "/setrole 张三 group_leader")
    assert [c["command"] for c in menu(harness, 1001)] == names(Access.GROUP_LEADER)


async def test_admins_see_every_command_in_the_menu(harness: Harness) -> None:
    await harness.org.member("管理员", role=Role.ADMIN, telegram_id=1)
    async with harness.deps.db.read() as session:
        member_id = await session.scalar(select(Member.id).where(Member.telegram_user_id == 1))
    assert member_id is not None
    await menus.refresh_members(harness.deps.db, harness.app.bot, [member_id], "zh")
    everything = [c.name for c in COMMANDS if c.in_menu and c.name != "start"]
    assert [c["command"] for c in menu(harness, 1)] == everything


async def test_a_failing_menu_call_does_not_undo_the_role_change(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    zhang = await harness.org.member("张三")
    await harness.say(1001, f"/start {zhang.code}")
    harness.sandbox.inject_fault("setMyCommands", 500, "Internal Server Error", times=5)
    with caplog.at_level(logging.WARNING, logger="bot.menus"):
        assert "支部书记" in await harness.say(ADMIN_ID, "/setrole 张三 secretary")
    assert any("command menu" in r.getMessage() for r in caplog.records)
    async with harness.deps.db.read() as session:
        role = await session.scalar(select(Member.role).where(Member.name == "张三"))
    assert role is Role.SECRETARY


async def test_a_flood_wait_on_the_menu_does_not_hold_the_answering_handler(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The menu comes after the answer; Telegram asking to wait is not waited for there (the
    member's lane and a worker would be held), and the role change stands."""
    zhang = await harness.org.member("张三")
    await harness.say(1001, f"/start {zhang.code}")
    harness.sandbox.inject_fault("setMyCommands", 429, "Too Many Requests", retry_after=20)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.menus"):
        assert "支部书记" in await harness.say(ADMIN_ID, "/setrole 张三 secretary")
    assert time.monotonic() - started < 5
    assert any("command menu" in r.getMessage() for r in caplog.records)
    async with harness.deps.db.read() as session:
        role = await session.scalar(select(Member.role).where(Member.name == "张三"))
    assert role is Role.SECRETARY


async def test_a_roster_import_sets_the_menus_of_whom_it_changes(harness: Harness) -> None:
    """A chat upload that makes a member a secretary, and one that makes a deactivated member
    active again: each gets the menu that goes with it once the import is done."""
    zhang = await harness.org.member("张三")
    await harness.say(1001, f"/start {zhang.code}")
    li = await harness.org.member("李四", telegram_id=2002)
    async with harness.deps.db.write() as session:
        await session.execute(update(Member).where(Member.id == li.member_id).values(active=False))
        await session.commit()
    roster = "姓名,支部,党小组,角色\n张三,第一支部,第一党小组,书记\n李四,第一支部,第一党小组,党员\n"
    shown = await preview(harness, ADMIN_ID, "花名册.csv", roster.encode())
    confirm = next(b["callback_data"] for b in first_row(shown) if b["text"] == "确认导入")
    await harness.press(ADMIN_ID, shown, confirm)
    assert await harness.run_jobs() == 1
    assert [c["command"] for c in menu(harness, 1001)] == names(Access.SECRETARY)
    assert [c["command"] for c in menu(harness, 2002)] == names(Access.MEMBER)


async def test_a_deactivated_member_loses_their_own_menu(harness: Harness) -> None:
    zhang = await harness.org.member("张三")
    await harness.say(1001, f"/start {zhang.code}")
    assert menu(harness, 1001) != []
    async with harness.deps.db.write() as session:
        await session.execute(
            update(Member).where(Member.id == zhang.member_id).values(active=False)
        )
        await session.commit()
    await menus.refresh_members(harness.deps.db, harness.app.bot, [zhang.member_id], "zh")
    assert menu(harness, 1001) == []
    deleted = harness.sandbox.calls_to("deleteMyCommands")
    assert [c.params["scope"] for c in deleted] == [chat_scope(1001)]


async def test_strangers_see_start_and_help_in_chinese_and_english(harness: Harness) -> None:
    await menus.set_up(harness.app.bot, harness.deps.config, harness.deps.db)
    zh = harness.sandbox.commands()
    en = harness.sandbox.commands(language_code="en")
    assert zh == [
        {"command": "start", "description": "绑定账号"},
        {"command": "help", "description": "可用命令"},
    ]
    assert en == [
        {"command": "start", "description": "Link your account"},
        {"command": "help", "description": "Commands"},
    ]


async def test_the_description_is_set_once_and_not_again_when_equal(harness: Harness) -> None:
    config = harness.deps.config
    await menus.set_up(harness.app.bot, config, harness.deps.db)
    sandbox = harness.sandbox
    assert "测试局机关党委的党建助手" in sandbox.descriptions[""]
    assert "party-work assistant of 测试局机关党委" in sandbox.descriptions["en"]
    assert sandbox.short_descriptions == {
        "": "测试局机关党委的党建助手",
        "en": "The party-work assistant of 测试局机关党委",
    }
    assert len(sandbox.calls_to("setMyDescription")) == 2
    assert len(sandbox.calls_to("setMyShortDescription")) == 2
    # The next start finds them equal and leaves them alone; it only reads them.
    await menus.set_up(harness.app.bot, config, harness.deps.db)
    assert len(sandbox.calls_to("setMyDescription")) == 2
    assert len(sandbox.calls_to("setMyShortDescription")) == 2
    assert len(sandbox.calls_to("getMyDescription")) == 4
    # Changed elsewhere (by hand in BotFather): set again.
    sandbox.descriptions["en"] = "something else"
    await menus.set_up(harness.app.bot, config, harness.deps.db)
    assert len(sandbox.calls_to("setMyDescription")) == 3
    assert "party-work assistant" in sandbox.descriptions["en"]


async def test_start_up_gives_the_configured_admin_their_menu(harness: Harness) -> None:
    await menus.set_up(harness.app.bot, harness.deps.config, harness.deps.db)
    assert [c["command"] for c in menu(harness, ADMIN_ID)] == names(Access.ADMIN)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_menu_command_has_a_description_telegram_accepts(language: str) -> None:
    for access in Access:
        commands = menus.bot_commands(access, language)
        assert 0 < len(commands) <= 100
        for command in commands:
            assert 1 <= len(command.description) <= 256, command
