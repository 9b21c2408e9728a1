"""Secretaries' and admins' commands: scope, refusals, the roster upload and its buttons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.sandbox import SentMessage
from storage.models import Member, PendingImport, Role
from tests.handlers.conftest import ADMIN_ID, Harness

ROSTER = "姓名,支部,党小组,角色\n张三,第一支部,第一党小组,党员\n李四,第一支部,第二党小组,书记\n"


def first_row(message: SentMessage) -> list[dict[str, str]]:
    assert message.reply_markup is not None, "expected buttons"
    row: list[dict[str, str]] = message.reply_markup["inline_keyboard"][0]
    return row


SECRETARY_COMMANDS = ["/members", "/invites", "/setrole 张三 secretary", "/import"]


@pytest.mark.parametrize("command", SECRETARY_COMMANDS)
async def test_member_and_stranger_are_refused(harness: Harness, command: str) -> None:
    await harness.org.member("党员", telegram_id=1)
    assert "没有使用此命令的权限" in await harness.say(1, command)
    assert "尚未加入" in await harness.say(2, command)


async def test_member_upload_is_refused_and_nothing_staged(harness: Harness) -> None:
    await harness.org.member("党员", telegram_id=1)
    [reply] = await harness.upload(1, "r.csv", ROSTER.encode())
    assert "没有使用此命令的权限" in (reply.text or "")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(PendingImport))).all() == []


async def test_members_counts_bound_and_unbound(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    await harness.org.member("未绑定甲")
    await harness.org.member("外支部", branch="第二支部")
    text = await harness.say(1, "/members")
    assert "已绑定 1 / 共 2" in text
    assert "未绑定甲" in text and "外支部" not in text
    assert "超出了您的管理范围" in await harness.say(1, "/members 第二支部")


async def test_group_leader_sees_own_group(harness: Harness) -> None:
    await harness.org.member("组长", group="一组", role=Role.GROUP_LEADER, telegram_id=1)
    await harness.org.member("同组", group="一组")
    await harness.org.member("别组", group="二组")
    text = await harness.say(1, "/members")
    assert "同组" in text and "别组" not in text


async def test_invites_lists_deep_links_in_scope(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    zhang = await harness.org.member("张三")
    await harness.org.member("外支部", branch="第二支部")
    text = await harness.say(1, "/invites")
    assert f"https://t.me/{harness.app.bot.username}?start={zhang.code}" in text
    assert "外支部" not in text


async def test_setrole_usage_bad_role_and_success(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    zhang = await harness.org.member("张三")
    assert "用法：/setrole" in await harness.say(1, "/setrole")
    assert "未知角色「boss」" in await harness.say(1, "/setrole 张三 boss")
    assert "不能授予" in await harness.say(1, "/setrole 张三 admin")
    assert "找不到" in await harness.say(1, "/setrole 王五 member")
    assert "党小组长" in await harness.say(1, "/setrole 张三 group_leader")
    async with harness.deps.db.read() as session:
        row = await session.get(Member, zhang.member_id)
    assert row is not None and row.role is Role.GROUP_LEADER


async def test_upload_preview_confirm_and_second_tap(harness: Harness) -> None:
    [preview] = await harness.upload(ADMIN_ID, "花名册.csv", ROSTER.encode("gbk"))
    assert "新增 2 人" in (preview.text or "")
    buttons = first_row(preview)
    confirm = next(b["callback_data"] for b in buttons if b["text"] == "确认导入")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []

    answer, replies = await harness.press(ADMIN_ID, preview, confirm)
    assert not answer.get("show_alert")
    assert "已导入：新增 2 人" in (replies[0].text or "")
    edits = [c for c in harness.sandbox.calls if c.method.lower() == "editmessagereplymarkup"]
    assert len(edits) == 1

    answer, replies = await harness.press(ADMIN_ID, preview, confirm)
    assert answer.get("show_alert") and "已处理过" in answer["text"]
    assert replies == []
    async with harness.deps.db.read() as session:
        names = await session.scalars(select(Member.name).where(Member.branch_id.is_not(None)))
        assert sorted(names.all()) == ["张三", "李四"]


async def test_upload_with_bad_rows_offers_skip(harness: Harness) -> None:
    bad = ROSTER + "王五,第一支部,,主任\n"
    [preview] = await harness.upload(ADMIN_ID, "r.csv", bad.encode())
    text = preview.text or ""
    assert "有 1 行有误" in text and "第 4 行：未知角色「主任」" in text
    labels = [b["text"] for b in first_row(preview)]
    assert labels == ["跳过错误行并导入", "取消"]
    data = first_row(preview)[0]["callback_data"]
    _, replies = await harness.press(ADMIN_ID, preview, data)
    assert "跳过 1 行" in (replies[0].text or "")


async def test_cancel_leaves_roster_untouched(harness: Harness) -> None:
    [preview] = await harness.upload(ADMIN_ID, "r.csv", ROSTER.encode())
    cancel = first_row(preview)[1]["callback_data"]
    _, replies = await harness.press(ADMIN_ID, preview, cancel)
    assert "已取消" in (replies[0].text or "")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []


async def test_forged_and_foreign_buttons_are_refused(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    [preview] = await harness.upload(ADMIN_ID, "r.csv", ROSTER.encode())
    confirm = first_row(preview)[0]["callback_data"]
    # The secretary presses the admin's button (forged into their chat).
    answer, _ = await harness.press(1, preview, confirm)
    assert answer.get("show_alert") and "不是给您的" in answer["text"]
    answer, _ = await harness.press(ADMIN_ID, preview, "imp:ok:999999")
    assert answer.get("show_alert") and "找不到这次上传" in answer["text"]
    answer, _ = await harness.press(ADMIN_ID, preview, "garbage")
    assert answer.get("show_alert")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []


async def test_secretary_upload_outside_branch_is_reported(harness: Harness) -> None:
    await harness.org.member("书记", branch="第一支部", role=Role.SECRETARY, telegram_id=1)
    text = "姓名,支部\n新人,\n外人,第二支部\n"
    [preview] = await harness.upload(1, "r.csv", text.encode())
    assert "不是您的支部「第二支部」" in (preview.text or "")


async def test_non_csv_and_garbage_files(harness: Harness) -> None:
    [reply] = await harness.upload(ADMIN_ID, "photo.jpg", b"\xff\xd8")
    assert "请发送 .csv 文件" in (reply.text or "")
    [reply] = await harness.upload(ADMIN_ID, "r.csv", b"\xff\xfe\x81\x30")
    assert "无法识别文件编码" in (reply.text or "")


async def test_invites_scope_for_admin_and_secretary(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    await harness.org.member("张三")
    await harness.org.member("外支部", branch="第二支部")
    assert "超出了您的管理范围" in await harness.say(1, "/invites 第二支部")
    assert "找不到支部「第三支部」" in await harness.say(1, "/invites 第三支部")
    everything = await harness.say(ADMIN_ID, "/invites")
    assert "张三" in everything and "外支部" in everything
    one = await harness.say(ADMIN_ID, "/invites 第二支部")
    assert "外支部" in one and "张三" not in one


async def test_secretary_without_branch_sees_no_invites(harness: Harness) -> None:
    await harness.org.member(
        "无支部书记", branch=None, group=None, role=Role.SECRETARY, telegram_id=1
    )
    await harness.org.member("张三")
    assert "超出了您的管理范围" in await harness.say(1, "/invites")


async def test_long_invite_list_comes_as_a_csv_file(harness: Harness) -> None:
    for i in range(20):
        await harness.org.member(f"成员{i:02d}")
    [reply] = await harness.send(ADMIN_ID, "/invites")
    assert reply.document_name == "invites.csv"
    assert reply.document_bytes is not None
    text = reply.document_bytes.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("姓名/name")
    assert len(text.splitlines()) == 21


async def test_upload_preview_names_who_joins_and_leaves_the_committee(harness: Harness) -> None:
    first = "姓名,支部,支委\n张三,第一支部,是\n李四,第一支部,否\n"
    [preview] = await harness.upload(ADMIN_ID, "r.csv", first.encode())
    assert "成为支委：张三" in (preview.text or "")
    confirm = next(b["callback_data"] for b in first_row(preview) if b["text"] == "确认导入")
    await harness.press(ADMIN_ID, preview, confirm)

    [preview] = await harness.upload(ADMIN_ID, "r.csv", ROSTER.encode())
    assert "支委" not in (preview.text or "")  # no such column: the flags are kept

    swapped = "姓名,支部,支委\n张三,第一支部,否\n李四,第一支部,√\n王五,第一支部,委员\n"
    [preview] = await harness.upload(ADMIN_ID, "r.csv", swapped.encode())
    text = preview.text or ""
    assert "成为支委：李四" in text and "不再是支委：张三" in text
    assert "第 4 行：支委一栏「委员」无法识别" in text
