"""Study items end to end through the handlers: posting, confirming, reflecting, following up."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.sandbox import SentMessage, button_data
from storage.models import Delivery, Receipt, Role
from tests.handlers.conftest import Harness

SECRETARY = 1
ZHANG, LI, WANG = 11, 12, 13


async def branch(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)
    await harness.org.member("李四", telegram_id=LI, group="第二党小组")
    await harness.org.member("王五", telegram_id=WANG, branch="第二支部")


async def post(harness: Harness, text: str) -> str:
    reply = await harness.say(SECRETARY, text)
    await harness.flush()
    return reply


def last(harness: Harness, chat: int) -> SentMessage:
    return harness.sandbox.messages_to(chat)[-1]


async def test_one_line_study_reaches_the_branch_only(harness: Harness) -> None:
    await branch(harness)
    reply = await post(harness, "/study 第一议题 | 学习<重要>讲话精神 | 截止 2099-12-31")
    assert "推送给 3 人" in reply  # 书记, 张三, 李四
    pushed = last(harness, ZHANG)
    assert "第一议题" in (pushed.text or "") and "&lt;重要&gt;" in (pushed.text or "")
    assert "2099-12-31" in (pushed.text or "")
    assert [b for b in harness.sandbox.button_texts(pushed)] == ["已学习", "写心得"]
    assert harness.sandbox.messages_to(WANG) == []


async def test_studied_button_records_once_and_shows_done(harness: Harness) -> None:
    await branch(harness)
    await post(harness, "/study 第一议题 | https://example.org/a")
    pushed = last(harness, ZHANG)
    data = button_data(pushed, "已学习")
    answer, _ = await harness.press(ZHANG, pushed, data)
    assert answer["text"] == "已记录，谢谢！"
    assert harness.sandbox.button_texts(last(harness, ZHANG))[0].startswith("✅ 已学习")
    answer, _ = await harness.press(ZHANG, pushed, data)
    assert answer["text"] == "已经记录过了。"
    async with harness.deps.db.read() as session:
        confirmed = (
            await session.scalars(select(Receipt).where(Receipt.confirmed_at.is_not(None)))
        ).all()
    assert len(confirmed) == 1


async def test_forged_and_foreign_item_buttons_are_refused(harness: Harness) -> None:
    await branch(harness)
    await post(harness, "/study 第一议题 | 内容")
    pushed = last(harness, ZHANG)
    data = button_data(pushed, "已学习")
    # 王五 is in another branch: the item is not his.
    answer, _ = await harness.press(WANG, pushed, data)
    assert answer.get("show_alert") and "不是给您的" in answer["text"]
    answer, _ = await harness.press(ZHANG, pushed, "it:ok:999999")
    assert answer.get("show_alert") and "找不到" in answer["text"]
    answer, _ = await harness.press(ZHANG, pushed, "it:zz:1")
    assert answer.get("show_alert")
    async with harness.deps.db.read() as session:
        assert (
            await session.scalars(select(Receipt).where(Receipt.confirmed_at.is_not(None)))
        ).all() == []


async def test_reflection_is_limited_stored_and_escaped(harness: Harness) -> None:
    await branch(harness)
    await post(harness, "/study 第一议题 | 内容")
    pushed = last(harness, ZHANG)
    _, replies = await harness.press(ZHANG, pushed, button_data(pushed, "写心得"))
    assert "心得" in (replies[0].text or "")
    assert "太长" in await harness.say(ZHANG, "长" * 501)
    assert "已保存" in await harness.say(ZHANG, "<b>收获很大</b> & 要落实")
    status = await harness.say(SECRETARY, "/item 1")
    assert "已确认 1/3" in status
    assert "&lt;b&gt;收获很大&lt;/b&gt; &amp; 要落实" in status
    # The dialog is closed: the next message is not taken as a reflection.
    assert "/help" in await harness.say(ZHANG, "随便说说")


async def test_items_item_and_nudge_follow_up(harness: Harness) -> None:
    await branch(harness)
    await post(harness, "/study 第一议题 | 内容")
    pushed = last(harness, ZHANG)
    await harness.press(ZHANG, pushed, button_data(pushed, "已学习"))
    assert "1/3" in await harness.say(SECRETARY, "/items")
    status = await harness.say(SECRETARY, "/item 1")
    assert "未确认（2）：书记、李四" in status
    assert "再次提醒 2 人" in await harness.say(SECRETARY, "/nudge 1")
    await harness.flush()
    nudge = last(harness, LI)
    assert "还没有确认" in (nudge.text or "")
    assert len(harness.sandbox.messages_to(ZHANG)) == 1  # who confirmed is never nudged


async def test_follow_up_commands_are_scoped(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=2)
    await post(harness, "/study 第一议题 | 内容")
    assert "超出了您的管理范围" in await harness.say(2, "/item 1")
    assert "超出了您的管理范围" in await harness.say(2, "/nudge 1")
    assert "还没有推送" in await harness.say(2, "/items")
    assert "没有使用此命令的权限" in await harness.say(ZHANG, "/nudge 1")
    assert "用法：/item" in await harness.say(SECRETARY, "/item abc")


async def test_study_to_a_group_and_bad_input(harness: Harness) -> None:
    await branch(harness)
    reply = await post(harness, "/study 小组学习 | 内容 | #第二党小组")
    assert "推送给 1 人" in reply
    assert "小组学习" in (last(harness, LI).text or "")
    assert "截止日期「2020-01-01」有误" in await harness.say(
        SECRETARY, "/study 标题 | 内容 | 截止 2020-01-01"
    )
    assert "找不到支部或党小组「不存在」" in await harness.say(
        SECRETARY, "/study 标题 | 内容 | #不存在"
    )
    assert "超出了您的管理范围" in await harness.say(SECRETARY, "/study 标题 | 内容 | #第二支部")
    assert "用法：/study" in await harness.say(SECRETARY, "/study 只有标题")
    assert "无法识别「随便」" in await harness.say(SECRETARY, "/study 标题 | 内容 | 随便")


async def test_scheduled_study_publishes_when_due(harness: Harness) -> None:
    await branch(harness)
    reply = await harness.say(SECRETARY, "/study 定时学习 | 内容 | 定时 2099-01-01 08:00")
    assert "将于 2099-01-01 08:00 推送" in reply
    await harness.flush()
    assert harness.sandbox.messages_to(ZHANG) == []
    now = harness.deps.now()
    assert await harness.fire_jobs(now) == 0
    from datetime import datetime

    due = datetime(2099, 1, 1, 0, 1, tzinfo=now.tzinfo)
    assert await harness.fire_jobs(due) >= 1
    await harness.flush(due)
    assert "定时学习" in (last(harness, ZHANG).text or "")


async def test_guided_study_dialog(harness: Harness) -> None:
    await branch(harness)
    assert "标题" in await harness.say(SECRETARY, "/study")
    assert "学习内容" in await harness.say(SECRETARY, "第二议题")
    [question] = await harness.send(SECRETARY, "https://example.org/b")
    labels = harness.sandbox.button_texts(question)
    assert labels[0] == "支部：第一支部"
    second_group = next(label for label in labels if "第二党小组" in label)
    _, [deadline_q] = await harness.press(SECRETARY, question, button_data(question, second_group))
    _, [when_q] = await harness.press(SECRETARY, deadline_q, button_data(deadline_q, "7 天"))
    _, [preview] = await harness.press(SECRETARY, when_q, button_data(when_q, "立即推送"))
    assert "第二议题" in (preview.text or "") and "第二党小组" in (preview.text or "")
    _, [done] = await harness.press(SECRETARY, preview, button_data(preview, "确认发布"))
    assert "推送给 1 人" in (done.text or "")
    await harness.flush()
    assert "https://example.org/b" in (last(harness, LI).text or "")
    # The dialog's buttons are spent: pressing again is refused.
    answer, _ = await harness.press(SECRETARY, preview, button_data(preview, "确认发布"))
    assert answer.get("show_alert")


async def test_todo_lists_what_is_left(harness: Harness) -> None:
    await branch(harness)
    assert "没有待确认" in await harness.say(ZHANG, "/todo")
    await post(harness, "/study 第一议题 | 内容")
    replies = await harness.send(ZHANG, "/todo")
    assert "1 条待确认" in (replies[0].text or "")
    assert harness.sandbox.button_texts(replies[1]) == ["已学习", "写心得"]
    await harness.press(ZHANG, replies[1], button_data(replies[1], "已学习"))
    assert "没有待确认" in await harness.say(ZHANG, "/todo")
    assert "学习 1/1/1" in await harness.say(ZHANG, "/me")


async def test_ladder_nudges_then_escalates(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("组长", role=Role.GROUP_LEADER, telegram_id=21)
    await post(harness, "/study 第一议题 | 内容")
    start = harness.deps.now()
    await harness.fire_jobs(start + timedelta(hours=24, minutes=1))
    await harness.flush(start + timedelta(hours=24, minutes=1))
    assert "还没有确认" in (last(harness, ZHANG).text or "")
    await harness.fire_jobs(start + timedelta(hours=48, minutes=1))
    await harness.flush(start + timedelta(hours=48, minutes=1))
    leader_note = last(harness, 21).text or ""
    assert "尚未确认" in leader_note and "张三" in leader_note and "李四" not in leader_note
    await harness.fire_jobs(start + timedelta(hours=72, minutes=1))
    await harness.flush(start + timedelta(hours=72, minutes=1))
    secretary_note = last(harness, SECRETARY).text or ""
    assert "张三" in secretary_note and "李四" in secretary_note
    async with harness.deps.db.read() as session:
        escalations = (
            await session.scalars(select(Delivery).where(Delivery.purpose == "escalation"))
        ).all()
    assert {d.chat_id for d in escalations} == {21, SECRETARY}


async def test_daily_cap_limits_nudges(harness: Harness) -> None:
    await branch(harness)
    await post(harness, "/study 第一议题 | 内容")
    cap = harness.deps.config.followup.daily_cap
    for _ in range(cap):
        assert "再次提醒" in await harness.say(SECRETARY, "/nudge 1")
    assert "没有需要提醒的人" in await harness.say(SECRETARY, "/nudge 1")
    await harness.flush()
    nudges = [m for m in harness.sandbox.messages_to(ZHANG) if "还没有确认" in (m.text or "")]
    assert len(nudges) == cap


async def test_guided_study_with_a_document(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/study")
    await harness.say(SECRETARY, "学习材料")
    # In the dialog a file is the study material, not a roster upload.
    [question] = await harness.upload(SECRETARY, "讲话全文.pdf", b"%PDF-1.4 demo")
    assert "推送给谁" in (question.text or "")
    _, [deadline_q] = await harness.press(
        SECRETARY, question, button_data(question, "支部：第一支部")
    )
    _, [when_q] = await harness.press(SECRETARY, deadline_q, button_data(deadline_q, "不设截止"))
    _, [preview] = await harness.press(SECRETARY, when_q, button_data(when_q, "立即推送"))
    _, [done] = await harness.press(SECRETARY, preview, button_data(preview, "确认发布"))
    assert "推送给 3 人" in (done.text or "")
    await harness.flush()
    document, text = harness.sandbox.messages_to(ZHANG)[-2:]
    assert document.document_name == "讲话全文.pdf"
    assert "学习材料" in (text.text or "")
    assert harness.sandbox.button_texts(text) == ["已学习", "写心得"]


async def test_cancel_leaves_the_dialog(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/study")
    assert "已取消" in await harness.say(SECRETARY, "/cancel")
    assert "/help" in await harness.say(SECRETARY, "不是标题")
