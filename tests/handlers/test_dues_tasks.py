"""Party dues and tasks through the bot: amounts, the member's 「已缴纳」, the secretary's
confirm buttons, the quarter; assigning, postponing with a reason and finishing a task; /todo
and /me."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.sandbox import SentMessage, button_data
from storage.models import DuesPayment, Job, Member, Role, Task, TaskEvent
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=TZ)
SECRETARY = 10


async def branch(harness: Harness) -> None:
    org = harness.org
    await org.member("书记", telegram_id=SECRETARY, role=Role.SECRETARY)
    await org.member("张三", telegram_id=1)
    await org.member("李四", telegram_id=2, group="第二党小组")
    await org.member("外书记", telegram_id=20, role=Role.SECRETARY, branch="第二支部")
    harness.set_now(T0)


def last_with(harness: Harness, user: int, data_prefix: str) -> SentMessage:
    for message in reversed(harness.sandbox.messages_to(user)):
        if data_prefix in str(message.reply_markup):
            return message
    raise AssertionError(f"no message with {data_prefix} for {user}")


async def test_setdues_takes_a_name_with_spaces(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("Zhang Wei", telegram_id=3)
    assert "Zhang Wei 的每月党费由 未设置 改为 50.00 元" in await harness.say(
        SECRETARY, "/setdues Zhang  Wei 50"
    )


async def test_dues_from_amount_to_confirmed_receipt(harness: Harness) -> None:
    await branch(harness)
    assert "由 未设置 改为 50.00 元" in await harness.say(SECRETARY, "/setdues 张三 50")
    assert "改为 12.50 元" in await harness.say(SECRETARY, "/setdues 李四 ¥12.5")
    assert "金额「12.345」不对" in await harness.say(SECRETARY, "/setdues 张三 12.345")
    assert "用法" in await harness.say(SECRETARY, "/setdues 张三")
    # Another branch's secretary cannot reach 张三.
    assert "找不到您管理范围内名为「张三」的成员" in await harness.say(20, "/setdues 张三 30")
    assert "权限" in await harness.say(1, "/setdues 张三 1")
    # The member's 「已缴纳」, from /todo.
    replies = await harness.send(1, "/todo")
    reminder = next(r for r in replies if "党费 50.00 元尚未缴纳" in (r.text or ""))
    _, answered = await harness.press(1, reminder, button_data(reminder, "已缴纳"))
    assert "已缴纳，等待支部确认" in (answered[0].text or "")
    answer, again = await harness.press(1, reminder, "du:rp:202612")
    assert "等待支部确认" in answer.get("text", "") and not again
    view = await harness.send(SECRETARY, "/dues")
    text = view[0].text or ""
    assert "2026年12月党费：已确认 0 人 0.00 元；待确认 1 人 50.00 元；未缴 1 人 12.50 元" in text
    assert "🕓 待确认 1 人：\n    张三 50.00" in text and "❗ 未缴 1 人：\n    李四 12.50" in text
    buttons = view[-1]
    confirm = button_data(buttons, "确认 张三 50.00")
    # Neither the member nor another branch's secretary can confirm it.
    answer, _ = await harness.press(1, buttons, confirm)
    assert answer.get("show_alert") and "权限" in answer.get("text", "")
    answer, _ = await harness.press(20, buttons, confirm)
    assert answer.get("show_alert")
    _, done = await harness.press(SECRETARY, buttons, confirm)
    assert "已确认收讫：张三，共 50.00 元" in (done[0].text or "")
    await harness.flush()
    assert any(
        "已确认收到您2026年12月的党费 50.00 元" in (m.text or "")
        for m in harness.sandbox.messages_to(1)
    )
    async with harness.deps.db.read() as session:
        payment = await session.scalar(select(DuesPayment))
    assert payment is not None and (payment.status, payment.amount_cents) == ("confirmed", 5000)
    assert "党费 2026年12月：50.00 元，已确认收讫" in await harness.say(1, "/me")
    quarter = await harness.say(SECRETARY, "/dues 2026-Q4")
    assert "第一支部：合计 50.00 元" in quarter and "2026年12月：已确认 50.00 元" in quarter
    assert "用法" in await harness.say(SECRETARY, "/dues 明年")
    assert "超出" in await harness.say(SECRETARY, "/dues #第二支部")


async def test_the_monthly_reminder_goes_out_on_its_day(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/setdues 李四 20")
    # The job was planned at start-up for the next 5th at 09:00 local.
    async with harness.deps.db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == "dues_reminder"))
    assert job is not None and job.next_run_at is not None
    due = job.next_run_at.astimezone(TZ)
    assert (due.day, due.hour, due.minute) == (5, 9, 0)
    assert await harness.fire_jobs(due) >= 1
    await harness.flush(due)
    reminder = last_with(harness, 2, "du:rp:")
    assert f"{due.year}年{due.month}月应交党费 20.00 元" in (reminder.text or "")
    assert button_data(reminder, "已缴纳") == f"du:rp:{due.year}{due.month:02d}"


async def test_a_task_postponed_with_a_reason_then_done(harness: Harness) -> None:
    await branch(harness)
    assert "用法" in await harness.say(SECRETARY, "/task 整理台账")
    assert "看不懂日期" in await harness.say(SECRETARY, "/task 整理台账 | 张三 | 12月20日")
    assert "不能早于今天" in await harness.say(SECRETARY, "/task 整理台账 | 张三 | 2026-12-01")
    reply = await harness.say(SECRETARY, "/task 整理上半年台账 | 张三 | 2026-12-20")
    match = re.search(r"任务 #(\d+)", reply)
    assert match and "已通知 1 人" in reply
    task_id = int(match[1])
    await harness.flush()
    card = last_with(harness, 1, f"tk:pp:{task_id}")
    assert "整理上半年台账" in (card.text or "") and "2026-12-20" in (card.text or "")
    # Someone else's buttons do nothing.
    answer, _ = await harness.press(2, card, f"tk:dn:{task_id}")
    assert answer.get("show_alert")
    _, prompt = await harness.press(1, card, f"tk:pp:{task_id}")
    assert "新的完成日期和原因" in (prompt[0].text or "")
    assert "YYYY-MM-DD 原因" in await harness.say(1, "2026-12-25")
    assert "须晚于原期限" in await harness.say(1, "2026-12-19 来不及")
    assert "已延期至 2026-12-27" in await harness.say(1, "2026-12-27 等待上级文件")
    await harness.flush()
    assert any("等待上级文件" in (m.text or "") for m in harness.sandbox.messages_to(SECRETARY))
    todo = await harness.send(1, "/todo")
    assert any(
        f"任务 #{task_id}" in (m.text or "") and "2026-12-27" in (m.text or "") for m in todo
    )
    assert "任务：进行中 1，其中逾期 0" in await harness.say(1, "/me")
    _, done = await harness.press(1, card, f"tk:dn:{task_id}")
    assert "已完成任务「整理上半年台账」" in (done[0].text or "")
    answer, _ = await harness.press(1, card, f"tk:dn:{task_id}")
    assert "已完成" in answer.get("text", "")
    ledger = await harness.say(SECRETARY, "/tasks")
    assert (
        "进行中 0，逾期 0，已完成 1" in ledger and f"✅ #{task_id} 整理上半年台账（张三" in ledger
    )
    history = await harness.say(SECRETARY, f"/task {task_id}")
    assert "延期 2026-12-20 → 2026-12-27，原因：等待上级文件" in history and "张三 完成" in history
    assert "权限" in await harness.say(1, "/tasks")
    async with harness.deps.db.read() as session:
        task = await session.get(Task, task_id)
        kinds = (await session.scalars(select(TaskEvent.kind).order_by(TaskEvent.id))).all()
    assert task is not None and task.status == "done"
    assert list(kinds) == ["created", "postponed", "done"]


async def test_an_overdue_task_reaches_its_creator_once(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/task 上报材料 | 李四 | 2026-12-09")
    before = len(harness.sandbox.messages_to(SECRETARY))
    day_after = datetime(2026, 12, 10, 9, 0, tzinfo=TZ)
    # (Repeated firings under concurrency are the service test's: here the one job fires once.)
    await harness.fire_jobs(day_after)
    await harness.flush(day_after)
    escalations = [
        m for m in harness.sandbox.messages_to(SECRETARY)[before:] if "逾期" in (m.text or "")
    ]
    assert len(escalations) == 1 and "负责人：李四" in (escalations[0].text or "")
    harness.set_now(day_after)
    assert "逾期 1" in await harness.say(SECRETARY, "/tasks")
    async with harness.deps.db.read() as session:
        li = await session.scalar(select(Member).where(Member.name == "李四"))
    assert li is not None
    assert "其中逾期 1" in await harness.say(2, "/me")


async def test_a_secretary_closes_a_task_and_a_far_date_is_refused(harness: Harness) -> None:
    await branch(harness)
    assert "看不懂日期「9999-12-31」" in await harness.say(
        SECRETARY, "/task 整理台账 | 张三 | 9999-12-31"
    )
    reply = await harness.say(SECRETARY, "/task 整理台账 | 张三 | 2026-12-20")
    match = re.search(r"任务 #(\d+)", reply)
    assert match
    task_id = int(match[1])
    assert "用法" in await harness.say(SECRETARY, f"/task {task_id} 改期")
    assert "请写明延期原因" in await harness.say(SECRETARY, f"/task {task_id} cancel")
    assert "已撤销" in await harness.say(SECRETARY, f"/task {task_id} cancel 人员调离")
    assert "已经办结" in await harness.say(SECRETARY, f"/task {task_id} done")
    assert "撤销，原因：人员调离" in await harness.say(SECRETARY, f"/task {task_id}")
    assert "已撤销 1" in await harness.say(SECRETARY, "/tasks")
    assert "超出" in await harness.say(20, f"/task {task_id} done")
