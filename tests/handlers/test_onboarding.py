"""Joining and the member's own commands, as the member sees them."""

from __future__ import annotations

import pytest

from bot.services import members as members_service
from storage.models import Member, Role
from tests.handlers.conftest import ADMIN_ID, Harness


async def test_stranger_start_explains_and_reveals_nothing(harness: Harness) -> None:
    await harness.org.member("张三")
    text = await harness.say(1001, "/start")
    assert "邀请链接" in text and "invite link" in text
    assert "张三" not in text and "第一支部" not in text


async def test_start_with_code_binds_and_greets(harness: Harness) -> None:
    zhang = await harness.org.member("张三", group="第二党小组")
    text = await harness.say(1001, f"/start {zhang.code}")
    assert "欢迎，张三" in text
    assert "第一支部 · 第二党小组" in text
    assert "/me" in text and "/invites" not in text
    assert "您已绑定" in await harness.say(1001, f"/start {zhang.code}")


async def test_used_unknown_and_second_account(harness: Harness) -> None:
    zhang = await harness.org.member("张三")
    li = await harness.org.member("李四")
    await harness.say(1001, f"/start {zhang.code}")
    assert "已被使用" in await harness.say(2002, f"/start {zhang.code}")
    assert "邀请码无效" in await harness.say(2002, "/start notacode12")
    assert "已绑定到成员「张三」" in await harness.say(1001, f"/start {li.code}")


async def test_help_lists_what_the_caller_may_use(harness: Harness) -> None:
    await harness.org.member("党员", telegram_id=1)
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=2)
    stranger = await harness.say(3, "/help")
    member = await harness.say(1, "/help")
    secretary = await harness.say(2, "/help")
    assert "/start" in stranger and "/me" not in stranger
    assert "/me" in member and "/lang" in member and "/invites" not in member
    assert "/members" not in member
    for command in ("/members", "/invites", "/setrole", "/import"):
        assert command in secretary


async def test_me_shows_own_record(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1, phone="13800000001")
    text = await harness.say(1, "/me")
    assert "张三" in text and "第一支部" in text and "13800000001" in text
    assert "党员" in text


async def test_me_shows_the_committee_line_only_for_committee_members(
    harness: Harness,
) -> None:
    zhang = await harness.org.member("张三", telegram_id=1)
    await harness.org.member("李四", telegram_id=2)
    async with harness.deps.db.write() as session:
        member = await session.get(Member, zhang.member_id)
        assert member is not None
        member.committee = True
        await session.commit()
    assert "支委：是" in await harness.say(1, "/me")
    assert "支委" not in await harness.say(2, "/me")
    await harness.say(1, "/lang en")
    assert "Branch committee: yes" in await harness.say(1, "/me")


async def test_lang_switches_replies_to_english(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1)
    assert "English" in await harness.say(1, "/lang en")
    assert "Commands you can use" in await harness.say(1, "/help")
    assert "Usage: /lang zh" in await harness.say(1, "/lang fr")


async def test_lang_without_argument_offers_buttons(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1)
    [menu] = await harness.send(1, "/lang")
    assert menu.reply_markup is not None
    answer, replies = await harness.press(1, menu, "lang:set:1")
    assert "show_alert" not in answer or not answer["show_alert"]
    assert [r.text for r in replies] == ["Language set to English."]


async def test_user_text_is_escaped_in_html_replies(harness: Harness) -> None:
    await harness.org.member("<b>张&三</b>", telegram_id=1)
    text = await harness.say(1, "/me")
    assert "&lt;b&gt;张&amp;三&lt;/b&gt;" in text


async def test_redelivered_update_is_applied_once(harness: Harness) -> None:
    zhang = await harness.org.member("张三")
    update = await harness.sandbox.user_message(1001, f"/start {zhang.code}")
    from telegram import Update

    for _ in range(2):
        await harness.app.process_update(Update.de_json(update, harness.app.bot))
    assert len(harness.sandbox.messages_to(1001)) == 1


async def test_unknown_command_gets_a_hint(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1)
    assert "未知命令" in await harness.say(1, "/frobnicate")
    assert "尚未加入" in await harness.say(2, "/frobnicate")


async def test_unexpected_failure_gives_a_reference_not_a_trace(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.org.member("张三", telegram_id=1)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(members_service, "my_record", broken)
    text = await harness.say(1, "/me")
    assert "出错了" in text and "编号" in text
    assert "database on fire" not in text and "Traceback" not in text


async def test_configured_admin_is_admin_at_start(harness: Harness) -> None:
    text = await harness.say(ADMIN_ID, "/help")
    assert "/setrole" in text and "/invites" in text


async def test_configured_admin_is_greeted_by_their_own_name(harness: Harness) -> None:
    """Created from the config as 管理员 9000; their first /start gives the record their name."""
    text = await harness.say(ADMIN_ID, "/start", first_name="王主任")
    assert text.startswith("您好，王主任！") and "管理员 9000" not in text
    # The organisation stands where a member's branch would.
    assert f"！{harness.deps.config.organisation.name}，角色：管理员" in text
    # A name chosen later in the messenger changes nothing: the record has its name now.
    assert (await harness.say(ADMIN_ID, "/start", first_name="Wang")).startswith("您好，王主任！")


async def test_cancel_without_a_dialog_says_so(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1)
    assert "没有进行中的操作" in await harness.say(1, "/cancel")


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    import string

    from bot.texts import CATALOGS, PARTS

    for parts in PARTS.values():
        # A key defined in two feature modules would silently shadow one of them.
        assert sum(len(p) for p in parts) == len({k for p in parts for k in p})
    zh, en = CATALOGS["zh"], CATALOGS["en"]
    assert set(zh) == set(en)
    for key, text in zh.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        other = {f for _, f, _, _ in string.Formatter().parse(en[key]) if f}
        assert fields == other, key


async def test_plain_text_gets_a_hint(harness: Harness) -> None:
    await harness.org.member("张三", telegram_id=1)
    assert "/help" in await harness.say(1, "你好")
    assert "邀请链接" in await harness.say(2, "你好")


async def test_a_stranger_is_told_their_telegram_user_id(harness: Harness) -> None:
    # What an admin needs for organisation.admins before the bot knows them.
    reply = await harness.say(424242, "/start")
    assert "邀请链接" in reply and "<code>424242</code>" in reply
    assert "<code>424242</code>" in await harness.say(424242, "你好")
