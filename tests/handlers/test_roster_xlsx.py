"""An Excel roster sent in chat takes the CSV's path: answered at once, previewed by the
background job with the same row errors (the sheet's row numbers), confirmed with a button."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Member, PendingImport
from tests.handlers.conftest import ADMIN_ID, Harness
from tests.handlers.test_admin import first_row, preview
from tests.services.test_roster_xlsx import xlsx

HEADER: list[object] = ["姓名", "支部", "党小组", "角色", "电话"]
GOOD: list[list[object]] = [
    HEADER,
    ["张三", "第一支部", "第一党小组", "党员", 13800000001],
    ["李四", "第一支部", "第二党小组", "书记", 13800000002.0],
]


async def test_an_xlsx_upload_is_previewed_and_imported(harness: Harness) -> None:
    shown = await preview(harness, ADMIN_ID, "花名册.xlsx", xlsx(*GOOD))
    assert "花名册预览：花名册.xlsx" in (shown.text or "")
    assert "新增 2 人" in (shown.text or "")
    confirm = next(b["callback_data"] for b in first_row(shown) if b["text"] == "确认导入")
    before = len(harness.sandbox.messages_to(ADMIN_ID))
    await harness.press(ADMIN_ID, shown, confirm)
    assert await harness.run_jobs() == 1
    done = harness.sandbox.messages_to(ADMIN_ID)[before:]
    assert "已导入：新增 2 人" in (done[-1].text or "")
    async with harness.deps.db.read() as session:
        people = {m.name: m for m in (await session.scalars(select(Member))).all()}
    assert people["张三"].phone == "13800000001"
    assert people["李四"].phone == "13800000002"


async def test_an_xlsx_bad_row_is_shown_with_its_row_number(harness: Harness) -> None:
    shown = await preview(
        harness, ADMIN_ID, "r.xlsx", xlsx(*GOOD, [None] * 5, ["王五", "第一支部", None, "主任"])
    )
    text = shown.text or ""
    assert "有 1 行有误" in text and "第 5 行：未知角色「主任」" in text
    assert [b["text"] for b in first_row(shown)] == ["跳过错误行并导入", "取消"]


async def test_a_broken_xlsx_gets_a_clear_error_and_nothing_is_staged(harness: Harness) -> None:
    reply = await preview(harness, ADMIN_ID, "坏.xlsx", b"PK\x03\x04 this is not a workbook")
    assert "无法读取这个 Excel 文件" in (reply.text or "")
    assert reply.reply_markup is None
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(PendingImport))).all() == []


async def test_an_old_xls_is_refused_at_once(harness: Harness) -> None:
    [reply] = await harness.upload(ADMIN_ID, "旧.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    assert "不支持旧版 Excel 文件（.xls）" in (reply.text or "")
    assert await harness.run_jobs() == 0
