"""Bad input and edge cases found in review, each through the handlers as a user meets it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.sandbox import button_data
from storage.models import Delivery, Member, Role
from tests.handlers.conftest import ADMIN_ID, Harness

SECRETARY, ZHANG = 1, 11


async def branch(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)


async def test_secretary_roster_cannot_change_an_admin(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("老王", role=Role.ADMIN, telegram_id=5)
    assert "不能授予或更改" in await harness.say(SECRETARY, "/setrole 老王 member")
    await harness.upload(SECRETARY, "r.csv", "姓名,角色\n老王,党员\n".encode())
    # The preview comes from the background job.
    assert await harness.run_jobs() == 1
    preview = harness.sandbox.messages_to(SECRETARY)[-1]
    assert "无权修改管理员（老王）" in (preview.text or "")
    async with harness.deps.db.read() as session:
        wang = await session.scalar(select(Member).where(Member.name == "老王"))
    assert wang is not None and wang.role is Role.ADMIN


async def test_file_name_is_escaped_in_the_document_caption(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/study")
    await harness.say(SECRETARY, "材料")
    [question] = await harness.upload(SECRETARY, "R<D>计划.pdf", b"%PDF-1.4")
    _, [deadline_q] = await harness.press(
        SECRETARY, question, button_data(question, "支部：第一支部")
    )
    _, [when_q] = await harness.press(SECRETARY, deadline_q, button_data(deadline_q, "不设截止"))
    _, [preview] = await harness.press(SECRETARY, when_q, button_data(when_q, "立即推送"))
    # Typing instead of pressing asks again rather than failing.
    assert "确认发布" in await harness.say(SECRETARY, "好的")
    await harness.press(SECRETARY, preview, button_data(preview, "确认发布"))
    await harness.flush()
    async with harness.deps.db.read() as session:
        statuses = set((await session.scalars(select(Delivery.status))).all())
    assert statuses == {"sent"}
    document = harness.sandbox.messages_to(ZHANG)[0]
    assert document.caption == "R&lt;D&gt;计划.pdf"


async def test_writing_to_the_bot_clears_unreachable(harness: Harness) -> None:
    await branch(harness)
    async with harness.deps.db.write() as session:
        await session.execute(
            update(Member)
            .where(Member.telegram_user_id == ZHANG)
            .values(unreachable_at=harness.deps.now())
        )
        await session.commit()
    await harness.say(ZHANG, "/todo")
    async with harness.deps.db.read() as session:
        zhang = await session.scalar(select(Member).where(Member.telegram_user_id == ZHANG))
    assert zhang is not None and zhang.unreachable_at is None


async def test_malformed_numbers_get_usage_not_an_error(harness: Harness) -> None:
    await branch(harness)
    for text in ("/item ²", "/item 99999999999999999999", "/item -1"):
        assert "用法：/item" in await harness.say(SECRETARY, text)
    assert "用法：/unremind" in await harness.say(SECRETARY, "/unremind ²")
    assert "找不到" in await harness.say(SECRETARY, "/setrole #99999999999999 member")
    await harness.say(SECRETARY, "/study 标题 | 内容")
    await harness.flush()
    pushed = harness.sandbox.messages_to(ZHANG)[-1]
    answer, _ = await harness.press(ZHANG, pushed, "it:ok:²")
    assert answer.get("show_alert") and "不是给您的" in answer["text"]


async def test_study_limits_and_deadline_order(harness: Harness) -> None:
    await branch(harness)
    long_link = "https://example.org/" + "a" * 600
    assert "链接太长" in await harness.say(SECRETARY, f"/study 标题 | {long_link}")
    assert "截止时间不能早于推送时间" in await harness.say(
        SECRETARY, "/study 标题 | 内容 | 截止 2098-01-01 | 定时 2099-01-01 08:00"
    )
    assert "标题太长" in await harness.say(SECRETARY, "/study " + "长" * 101 + " | 内容")


async def test_oversized_roster_cells_keep_the_preview_readable(harness: Harness) -> None:
    rows = "".join(f"成员{i},第一支部,{'1' * 400}\n" for i in range(20))
    await harness.upload(ADMIN_ID, "r.csv", ("姓名,支部,电话\n" + rows).encode())
    # The preview comes from the background job.
    assert await harness.run_jobs() == 1
    text = harness.sandbox.messages_to(ADMIN_ID)[-1].text or ""
    assert "有 20 行有误" in text and len(text) < 4096


async def test_escalation_counts_only_real_confirmations(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("组长", role=Role.GROUP_LEADER, telegram_id=21)
    await harness.org.member("离开的人", telegram_id=22)
    await harness.say(SECRETARY, "/study 第一议题 | 内容")
    async with harness.deps.db.write() as session:
        await session.execute(update(Member).where(Member.name == "离开的人").values(active=False))
        await session.commit()
    later = harness.deps.now() + timedelta(hours=48, minutes=1)
    await harness.fire_jobs(later)
    await harness.flush(later)
    note = harness.sandbox.messages_to(21)[-1].text or ""
    assert "已确认 0/4" in note and "离开的人" not in note
