"""The "Hardening" issue through the bot: a withdrawn task takes no answer, the time poll's
remind button has a cooldown and a daily cap, and years out of range are refused clearly."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.sandbox import SentMessage, button_data
from bot.services import items
from storage.models import Delivery, Job, Member, Role, Task, TaskEvent
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=TZ)
SECRETARY = 10
ZHANG, LI = 1, 2


async def branch(harness: Harness) -> None:
    org = harness.org
    await org.member("书记", telegram_id=SECRETARY, role=Role.SECRETARY)
    await org.member("张三", telegram_id=ZHANG)
    await org.member("李四", telegram_id=LI, group="第二党小组")
    harness.set_now(T0)


def last_with(harness: Harness, user: int, data: str) -> SentMessage:
    for message in reversed(harness.sandbox.messages_to(user)):
        if data in str(message.reply_markup):
            return message
    raise AssertionError(f"no message with {data} for {user}")


# ---------------------------------------------------------------- 2. withdrawn tasks


async def withdrawn_task(harness: Harness) -> tuple[int, SentMessage]:
    """A task for 张三, withdrawn by the secretary; returns its id and the owner's card."""
    reply = await harness.say(SECRETARY, "/task 整理台账 | 张三 | 2026-12-20")
    match = re.search(r"任务 #(\d+)", reply)
    assert match
    task_id = int(match[1])
    await harness.flush()
    card = last_with(harness, ZHANG, f"tk:dn:{task_id}")
    assert "已撤销" in await harness.say(SECRETARY, f"/task {task_id} cancel 人员调离")
    return task_id, card


async def task_state(harness: Harness, task_id: int) -> tuple[str, str, list[str]]:
    async with harness.deps.db.read() as session:
        task = await session.get(Task, task_id)
        kinds = (
            await session.scalars(
                select(TaskEvent.kind).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
            )
        ).all()
    assert task is not None
    return task.status, task.due_date.isoformat(), list(kinds)


async def test_a_withdrawn_task_refuses_the_owners_done_button(harness: Harness) -> None:
    await branch(harness)
    task_id, card = await withdrawn_task(harness)
    told = len(harness.sandbox.messages_to(SECRETARY))
    answer, replies = await harness.press(ZHANG, card, f"tk:dn:{task_id}")
    assert answer.get("show_alert") and "已撤销" in answer.get("text", ""), answer
    assert replies == []
    await harness.flush()
    # The creator hears nothing, and the task stays withdrawn.
    assert len(harness.sandbox.messages_to(SECRETARY)) == told
    assert await task_state(harness, task_id) == (
        "cancelled",
        "2026-12-20",
        ["created", "cancelled"],
    )


async def test_a_withdrawn_task_refuses_the_owners_postpone_button(harness: Harness) -> None:
    await branch(harness)
    task_id, card = await withdrawn_task(harness)
    answer, replies = await harness.press(ZHANG, card, f"tk:pp:{task_id}")
    assert answer.get("show_alert") and "已撤销" in answer.get("text", ""), answer
    assert replies == []
    assert await task_state(harness, task_id) == (
        "cancelled",
        "2026-12-20",
        ["created", "cancelled"],
    )


async def test_a_postponement_typed_after_the_withdrawal_is_refused(harness: Harness) -> None:
    await branch(harness)
    reply = await harness.say(SECRETARY, "/task 整理台账 | 张三 | 2026-12-20")
    match = re.search(r"任务 #(\d+)", reply)
    assert match
    task_id = int(match[1])
    await harness.flush()
    card = last_with(harness, ZHANG, f"tk:pp:{task_id}")
    _, prompt = await harness.press(ZHANG, card, f"tk:pp:{task_id}")
    assert "新的完成日期和原因" in (prompt[0].text or "")
    # The secretary withdraws it while the owner is typing the new date.
    assert "已撤销" in await harness.say(SECRETARY, f"/task {task_id} cancel 人员调离")
    told = len(harness.sandbox.messages_to(SECRETARY))
    planned = await task_jobs(harness)
    assert "已撤销" in await harness.say(ZHANG, "2026-12-27 等待上级文件")
    await harness.flush()
    assert len(harness.sandbox.messages_to(SECRETARY)) == told
    assert await task_state(harness, task_id) == (
        "cancelled",
        "2026-12-20",
        ["created", "cancelled"],
    )
    # Nothing was planned for a new date.
    assert await task_jobs(harness) == planned
    # The dialog is over: the next message is not read as a date.
    assert "已撤销" not in await harness.say(ZHANG, "2026-12-28 还是想延期")


async def task_jobs(harness: Harness) -> int:
    async with harness.deps.db.read() as session:
        count = await session.scalar(
            select(func.count(Job.id)).where(Job.kind.in_(("task_reminder", "task_escalate")))
        )
    return count or 0


# ---------------------------------------------------------------- 3. the poll's remind button


POLL = "/timepoll 党员大会 第一季度党员大会 | 2027-01-28 14:30 | 2027-01-29 19:00"


def poll_reminders(harness: Harness, chat: int) -> list[SentMessage]:
    return [m for m in harness.sandbox.messages_to(chat) if "还没有勾选" in (m.text or "")]


async def open_poll(harness: Harness) -> SentMessage:
    replies = await harness.send(SECRETARY, POLL)
    assert len(replies) == 2, [r.text for r in replies]
    await harness.flush()
    return replies[1]


async def test_pressing_remind_ten_times_sends_one_reminder(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    remind = button_data(status, "提醒未投票")
    _, replies = await harness.press(SECRETARY, status, remind)
    assert [r.text for r in replies] == ["已提醒 3 位还没有投票的成员。"]
    for _ in range(9):
        answer, replies = await harness.press(SECRETARY, status, remind)
        assert replies == [] and answer.get("show_alert"), answer
        assert "6 小时" in answer.get("text", "") and "15:00" in answer.get("text", "")
    await harness.flush()
    assert [len(poll_reminders(harness, chat)) for chat in (SECRETARY, ZHANG, LI)] == [1, 1, 1]
    # After the cooldown the button works again.
    harness.set_now(T0 + timedelta(hours=6))
    _, replies = await harness.press(SECRETARY, status, remind)
    assert [r.text for r in replies] == ["已提醒 3 位还没有投票的成员。"]
    await harness.flush()
    assert [len(poll_reminders(harness, chat)) for chat in (SECRETARY, ZHANG, LI)] == [2, 2, 2]


async def test_poll_reminders_count_against_the_daily_cap(harness: Harness) -> None:
    await branch(harness)
    cap = harness.deps.config.followup.daily_cap
    status = await open_poll(harness)
    remind = button_data(status, "提醒未投票")
    ids = await member_ids(harness)
    # 张三 has had today's nudges already (a study item's, say): the poll's reminder skips him.
    await nudged(harness, ids["张三"], cap)
    await nudged(harness, ids["李四"], cap - 1)
    _, replies = await harness.press(SECRETARY, status, remind)
    assert [r.text for r in replies] == ["已提醒 2 位还没有投票的成员。"]
    await harness.flush()
    assert [len(poll_reminders(harness, chat)) for chat in (SECRETARY, ZHANG, LI)] == [1, 0, 1]
    # The reminder is a nudge: 李四 is now at the cap for the study item's nudges too.
    async with harness.deps.db.read() as session:
        today = await items._pushes_today(session, list(ids.values()), TZ, T0)
    assert today == {ids["张三"]: cap, ids["李四"]: cap, ids["书记"]: 1}
    # After the cooldown, on the same day, only the secretary may still be reminded.
    harness.set_now(T0 + timedelta(hours=6))
    _, replies = await harness.press(SECRETARY, status, remind)
    assert [r.text for r in replies] == ["已提醒 1 位还没有投票的成员。"]
    # When every non-voter is at the cap, the organiser is told so and nothing is sent.
    harness.set_now(T0 + timedelta(hours=12))
    await nudged(harness, ids["书记"], cap - 2)
    answer, replies = await harness.press(SECRETARY, status, remind)
    assert replies == [] and answer.get("show_alert"), answer
    assert f"每天最多 {cap} 条" in answer.get("text", ""), answer
    await harness.flush()
    assert [len(poll_reminders(harness, chat)) for chat in (SECRETARY, ZHANG, LI)] == [2, 0, 1]


async def member_ids(harness: Harness) -> dict[str, int]:
    async with harness.deps.db.read() as session:
        rows = (await session.execute(select(Member.name, Member.id))).all()
    return {name: member_id for name, member_id in rows}


async def nudged(harness: Harness, member_id: int, count: int) -> None:
    """`count` nudges to the member today, as the study items' follow-up leaves them."""
    async with harness.deps.db.write() as session:
        for _ in range(count):
            session.add(
                Delivery(
                    member_id=member_id,
                    chat_id=member_id,
                    purpose="nudge",
                    text="请尽快学习",
                    status="sent",
                    not_before=harness.deps.now(),
                    created_at=harness.deps.now(),
                )
            )
        await session.commit()


# ---------------------------------------------------------------- 4. years out of range


async def test_stats_for_year_zero_is_refused_clearly(harness: Harness) -> None:
    await branch(harness)
    for text in ("/stats 0000", "/stats 9999-12", "/export 9999-12", "/summary 9999-Q4"):
        reply = await harness.say(SECRETARY, text)
        assert "2000" in reply and "2100" in reply, (text, reply)
        assert "出错" not in reply and "error" not in reply.lower(), (text, reply)


async def test_a_reminder_in_year_one_is_refused_clearly(harness: Harness) -> None:
    await branch(harness)
    for text in ("/remind 0001-01-01 00:00 | 交党费", "/remind 9999-12-31 23:59 | 交党费"):
        reply = await harness.say(SECRETARY, text)
        assert "2000" in reply and "2100" in reply, (text, reply)
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Job.id)).where(Job.kind == "reminder")) == 0
