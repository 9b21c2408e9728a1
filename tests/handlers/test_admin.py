"""Secretaries' and admins' commands: scope, refusals, the roster upload and its buttons.

An upload is answered at once and previewed by a background job; a confirmed import is applied
by another. `preview` and `press` below run those jobs as the runner would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.sandbox import SentMessage
from bot.services import roster
from bot.services.roster_csv import MAX_ROSTER_ROWS
from storage.models import AuditEntry, BackgroundJob, InviteCode, Member, PendingImport, Role
from tests.handlers.conftest import ADMIN_ID, Harness

ROSTER = "姓名,支部,党小组,角色\n张三,第一支部,第一党小组,党员\n李四,第一支部,第二党小组,书记\n"


def first_row(message: SentMessage) -> list[dict[str, str]]:
    assert message.reply_markup is not None, "expected buttons"
    row: list[dict[str, str]] = message.reply_markup["inline_keyboard"][0]
    return row


async def preview(harness: Harness, user_id: int, file_name: str, content: bytes) -> SentMessage:
    """Upload a file: the answer comes at once, the preview once the job has run."""
    [ack] = await harness.upload(user_id, file_name, content)
    assert "正在检查" in (ack.text or ""), ack.text
    before = len(harness.sandbox.messages_to(user_id))
    assert await harness.run_jobs() == 1
    [shown] = harness.sandbox.messages_to(user_id)[before:]
    return shown


async def press(
    harness: Harness, user_id: int, message: SentMessage, data: str
) -> tuple[dict[str, Any], list[SentMessage]]:
    """Press an import button, then run what it queued: the answer and the new messages."""
    before = len(harness.sandbox.messages_to(user_id))
    answer, _ = await harness.press(user_id, message, data)
    await harness.run_jobs()
    return answer, harness.sandbox.messages_to(user_id)[before:]


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
        assert (await session.scalars(select(BackgroundJob))).all() == []


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
    shown = await preview(harness, ADMIN_ID, "花名册.csv", ROSTER.encode("gbk"))
    assert "花名册预览：花名册.csv" in (shown.text or "")
    assert "新增 2 人" in (shown.text or "")
    buttons = first_row(shown)
    confirm = next(b["callback_data"] for b in buttons if b["text"] == "确认导入")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []

    before = len(harness.sandbox.messages_to(ADMIN_ID))
    answer, [ack] = await harness.press(ADMIN_ID, shown, confirm)
    assert not answer.get("show_alert")
    assert "正在导入" in (ack.text or "")
    edits = [c for c in harness.sandbox.calls if c.method.lower() == "editmessagereplymarkup"]
    assert len(edits) == 1
    # A second tap while the import is queued: settled, nothing queued again.
    answer, replies = await harness.press(ADMIN_ID, shown, confirm)
    assert answer.get("show_alert") and "已处理过" in answer["text"]
    assert replies == []
    assert await harness.run_jobs() == 1
    [done] = harness.sandbox.messages_to(ADMIN_ID)[before + 1 :]
    assert "已导入：新增 2 人，更新 0 人，不变 0 人，跳过 0 行" in (done.text or "")

    answer, replies = await harness.press(ADMIN_ID, shown, confirm)
    assert answer.get("show_alert") and "已处理过" in answer["text"]
    assert replies == []
    async with harness.deps.db.read() as session:
        names = await session.scalars(select(Member.name).where(Member.branch_id.is_not(None)))
        assert sorted(names.all()) == ["张三", "李四"]


async def test_upload_with_bad_rows_offers_skip(harness: Harness) -> None:
    bad = ROSTER + "王五,第一支部,,主任\n"
    shown = await preview(harness, ADMIN_ID, "r.csv", bad.encode())
    text = shown.text or ""
    assert "有 1 行有误" in text and "第 4 行：未知角色「主任」" in text
    labels = [b["text"] for b in first_row(shown)]
    assert labels == ["跳过错误行并导入", "取消"]
    data = first_row(shown)[0]["callback_data"]
    _, replies = await press(harness, ADMIN_ID, shown, data)
    assert "跳过 1 行" in (replies[-1].text or "")


async def test_cancel_leaves_roster_untouched(harness: Harness) -> None:
    shown = await preview(harness, ADMIN_ID, "r.csv", ROSTER.encode())
    cancel = first_row(shown)[1]["callback_data"]
    _, replies = await harness.press(ADMIN_ID, shown, cancel)
    assert "已取消" in (replies[0].text or "")
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []


async def test_forged_and_foreign_buttons_are_refused(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=1)
    shown = await preview(harness, ADMIN_ID, "r.csv", ROSTER.encode())
    confirm = first_row(shown)[0]["callback_data"]
    # The secretary presses the admin's button (forged into their chat).
    answer, _ = await harness.press(1, shown, confirm)
    assert answer.get("show_alert") and "不是给您的" in answer["text"]
    answer, _ = await harness.press(ADMIN_ID, shown, "imp:ok:999999")
    assert answer.get("show_alert") and "找不到这次上传" in answer["text"]
    answer, _ = await harness.press(ADMIN_ID, shown, "garbage")
    assert answer.get("show_alert")
    assert await harness.run_jobs() == 0
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Member).where(Member.name == "张三"))).all() == []


async def test_secretary_upload_outside_branch_is_reported(harness: Harness) -> None:
    await harness.org.member("书记", branch="第一支部", role=Role.SECRETARY, telegram_id=1)
    text = "姓名,支部\n新人,\n外人,第二支部\n"
    shown = await preview(harness, 1, "r.csv", text.encode())
    assert "不是您的支部「第二支部」" in (shown.text or "")


async def test_non_csv_and_garbage_files(harness: Harness) -> None:
    [reply] = await harness.upload(ADMIN_ID, "photo.jpg", b"\xff\xd8")
    assert "请发送 .csv 文件" in (reply.text or "")
    reply = await preview(harness, ADMIN_ID, "r.csv", b"\xff\xfe\x81\x30")
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
    await harness.org.member('=HYPERLINK("http://evil.example")')
    [reply] = await harness.send(ADMIN_ID, "/invites")
    assert reply.document_name == "invites.csv"
    assert reply.document_bytes is not None
    # UTF-8 with a BOM, the organisation's language in the headers, no live formula.
    assert reply.document_bytes.startswith(b"\xef\xbb\xbf")
    text = reply.document_bytes.decode("utf-8-sig")
    assert text.splitlines()[0] == "姓名,支部,党小组,邀请码,链接"
    assert len(text.splitlines()) == 22
    assert not any(line.startswith("=") for line in text.splitlines())
    assert '"\'=HYPERLINK(""http://evil.example"")"' in text


async def test_upload_preview_names_who_joins_and_leaves_the_committee(harness: Harness) -> None:
    first = "姓名,支部,支委\n张三,第一支部,是\n李四,第一支部,否\n"
    shown = await preview(harness, ADMIN_ID, "r.csv", first.encode())
    assert "成为支委：张三" in (shown.text or "")
    confirm = next(b["callback_data"] for b in first_row(shown) if b["text"] == "确认导入")
    await press(harness, ADMIN_ID, shown, confirm)

    shown = await preview(harness, ADMIN_ID, "r.csv", ROSTER.encode())
    assert "支委" not in (shown.text or "")  # no such column: the flags are kept

    swapped = "姓名,支部,支委\n张三,第一支部,否\n李四,第一支部,√\n王五,第一支部,委员\n"
    shown = await preview(harness, ADMIN_ID, "r.csv", swapped.encode())
    text = shown.text or ""
    assert "成为支委：李四" in text and "不再是支委：张三" in text
    assert "第 4 行：支委一栏「委员」无法识别" in text


async def test_a_file_over_the_row_limit_gets_a_clear_error(harness: Harness) -> None:
    rows = "".join(f"成员{i},第一支部\n" for i in range(MAX_ROSTER_ROWS + 1))
    reply = await preview(harness, ADMIN_ID, "大.csv", ("姓名,支部\n" + rows).encode())
    assert "花名册一次最多导入 100000 行" in (reply.text or "")
    assert reply.reply_markup is None
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(PendingImport))).all() == []


async def test_an_import_cut_short_and_run_again_ends_as_one_clean_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"成员{i}" for i in range(7)]
    text = "姓名,支部,党小组\n" + "".join(f"{n},第一支部,一组\n" for n in names)
    shown = await preview(harness, ADMIN_ID, "r.csv", text.encode())
    confirm = first_row(shown)[0]["callback_data"]
    await harness.press(ADMIN_ID, shown, confirm)

    # Two rows a transaction, and the process "dies" while writing the third batch.
    monkeypatch.setattr(roster, "BATCH_ROWS", 2)
    write_batch = roster._write_batch
    calls = 0

    async def dies_on_the_third(*args: Any, **kwargs: Any) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("killed")
        return await write_batch(*args, **kwargs)

    monkeypatch.setattr(roster, "_write_batch", dies_on_the_third)
    before = len(harness.sandbox.messages_to(ADMIN_ID))
    assert await harness.run_jobs() == 1
    async with harness.deps.db.read() as session:
        written = await session.scalar(
            select(func.count()).select_from(Member).where(Member.branch_id.is_not(None))
        )
    assert written == 4  # two batches committed, the third rolled back
    assert harness.sandbox.messages_to(ADMIN_ID)[before:] == []

    # The job runs again later and finishes what is missing, reporting as one clean run.
    assert await harness.run_jobs(harness.deps.now() + timedelta(minutes=1)) == 1
    [done] = harness.sandbox.messages_to(ADMIN_ID)[before:]
    assert "已导入：新增 7 人，更新 0 人，不变 0 人，跳过 0 行" in (done.text or "")
    async with harness.deps.db.read() as session:
        members = await session.scalars(select(Member.name).where(Member.branch_id.is_not(None)))
        assert sorted(members.all()) == sorted(names)
        # One invite each: none for a row written twice.
        invited = (await session.scalars(select(InviteCode.member_id))).all()
        assert len(invited) == len(set(invited)) == 7
        actions = (await session.scalars(select(AuditEntry.action))).all()
        assert actions.count("member.created") == 7
        assert actions.count("roster.imported") == 1
        status = await session.scalar(select(PendingImport.status))
    assert status == "applied"
    # Done: never run again.
    assert await harness.run_jobs(harness.deps.now() + timedelta(days=1)) == 0
