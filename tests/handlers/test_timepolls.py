"""Time polls through the handlers: /timepoll, ticking, the live tally, reminders, the meeting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.sandbox import SentMessage, button_data
from storage.models import Invitation, Meeting, PollVote, Role, TimePoll, utcnow
from tests.handlers.conftest import Harness

SECRETARY = 1
ZHANG, LI, WANG = 11, 12, 13
OTHER_SECRETARY = 2

POLL = (
    "/timepoll 党员大会 第四季度党员大会 | 2099-11-28 14:30 | 2099-11-29 19:00 | 2099-12-02 15:00"
)
SAT, SUN, WED = "11-28 周六 14:30", "11-29 周日 19:00", "12-02 周三 15:00"


async def branch(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)
    await harness.org.member("李四", telegram_id=LI, group="第二党小组")
    await harness.org.member("王五", telegram_id=WANG, branch="第二支部")


async def open_poll(harness: Harness, text: str = POLL) -> SentMessage:
    """Create the poll; returns the organiser's live status message."""
    replies = await harness.send(SECRETARY, text)
    assert len(replies) == 2, [r.text for r in replies]
    assert "已向 3 人发出时间征集 #1" in (replies[0].text or "")
    await harness.flush()
    return replies[1]


def poll_message(harness: Harness, chat: int) -> SentMessage:
    return [m for m in harness.sandbox.messages_to(chat) if "时间征集" in (m.text or "")][-1]


def current(harness: Harness, message: SentMessage) -> SentMessage:
    latest = harness.sandbox.message(message.chat_id, message.message_id)
    assert latest is not None
    return latest


async def test_poll_reaches_the_branch_with_a_toggle_per_slot(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    for chat in (SECRETARY, ZHANG, LI):
        message = poll_message(harness, chat)
        assert "第四季度党员大会" in (message.text or "") and "可多选" in (message.text or "")
        assert harness.sandbox.button_texts(message) == [f"⬜ {SAT}", f"⬜ {SUN}", f"⬜ {WED}"]
    assert harness.sandbox.messages_to(WANG) == []
    text = status.text or ""
    assert "时间征集 #1" in text and "已投票 0/3 人" in text and "还没有人勾选" in text
    assert harness.sandbox.button_texts(status) == [
        f"定为会议 {SAT}",
        f"定为会议 {SUN}",
        f"定为会议 {WED}",
        "提醒未投票",
    ]
    async with harness.deps.db.read() as session:
        poll = await session.get(TimePoll, 1)
    assert poll is not None and poll.status_message_id == status.message_id


async def test_ticks_toggle_and_the_tally_follows_live(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    mine = poll_message(harness, ZHANG)
    answer, _ = await harness.press(ZHANG, mine, button_data(mine, f"⬜ {SUN}"))
    assert answer["text"] == f"已勾选 {SUN}"
    assert harness.sandbox.button_texts(current(harness, mine)) == [
        f"⬜ {SAT}",
        f"✅ {SUN}",
        f"⬜ {WED}",
    ]
    text = current(harness, status).text or ""
    assert f"{SUN}：<b>1</b> 人（张三）" in text and "已投票 1/3 人" in text
    assert f"最合适：<b>{SUN}</b>，1/3 人能参加" in text and "未超过半数" in text
    theirs = poll_message(harness, LI)
    await harness.press(LI, theirs, button_data(theirs, f"⬜ {SUN}"))
    text = current(harness, status).text or ""
    assert f"{SUN}：<b>2</b> 人（张三、李四）" in text and "超过半数能参加" in text
    answer, _ = await harness.press(ZHANG, mine, button_data(current(harness, mine), f"✅ {SUN}"))
    assert answer["text"] == f"已取消 {SUN}"
    assert f"✅ {SUN}" not in harness.sandbox.button_texts(current(harness, mine))
    assert f"{SUN}：<b>1</b> 人（李四）" in (current(harness, status).text or "")


async def test_foreign_and_forged_toggles_are_refused(harness: Harness) -> None:
    await branch(harness)
    await open_poll(harness)
    mine = poll_message(harness, ZHANG)
    data = button_data(mine, f"⬜ {SAT}")
    # 王五 is in another branch: the poll is not his.
    answer, _ = await harness.press(WANG, mine, data)
    assert answer.get("show_alert") and "不是给您的" in answer["text"]
    for forged in ("tp:v:abc", "tp:v:1:2", "tp:zz:1"):
        answer, _ = await harness.press(ZHANG, mine, forged)
        assert answer.get("show_alert"), forged
    answer, _ = await harness.press(ZHANG, mine, "tp:v:999999")
    assert answer.get("show_alert") and "找不到" in answer["text"]
    # A member cannot use the organiser's buttons.
    answer, _ = await harness.press(ZHANG, mine, "tp:mk:1")
    assert answer.get("show_alert") and "没有使用此命令的权限" in answer["text"]
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(PollVote.id))) == 0


async def test_organiser_buttons_are_scoped_to_the_audience(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member(
        "二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=OTHER_SECRETARY
    )
    status = await open_poll(harness)
    for verb in ("tp:mk:1", "tp:rm:1"):
        answer, _ = await harness.press(OTHER_SECRETARY, status, verb)
        assert answer.get("show_alert") and "超出了您的管理范围" in answer["text"]
    assert "超出了您的管理范围" in await harness.say(OTHER_SECRETARY, "/timepoll 1")


async def test_bad_input_says_what_is_wrong_and_how_to_write_it(harness: Harness) -> None:
    await branch(harness)
    assert "用法：/timepoll" in await harness.say(SECRETARY, "/timepoll")
    cases = {
        "/timepoll 会 | 明天下午 | 11-29 19:00": "看不懂时间「明天下午」",
        "/timepoll 会 | 11-28 25:00 | 11-29 19:00": "看不懂时间「11-28 25:00」",
        "/timepoll 会 | 2099-11-28 14:30": "请给出 2 至 8 个时间（现在是 1 个）",
        "/timepoll 会 | 2099-11-28 14:30 | 2099/11/28 14:30": "时间 2099-11-28 14:30 重复了",
        "/timepoll 会 | 2020-11-28 14:30 | 2099-11-29 19:00": "时间 2020-11-28 14:30 已经过去了",
        "/timepoll 会 " + "| 2099-11-01 10:00 " * 9: "现在是 9 个",
    }
    for text, error in cases.items():
        reply = await harness.say(SECRETARY, text)
        assert error in reply and "例如：/timepoll" in reply, reply
    assert "没有使用此命令的权限" in await harness.say(ZHANG, POLL)
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(TimePoll.id))) == 0


async def test_group_poll_with_a_full_width_bar_reaches_one_group(harness: Harness) -> None:
    await branch(harness)
    replies = await harness.send(
        SECRETARY, "/timepoll 党小组会 组织生活 #第二党小组 ｜ 2099-11-28 14:30 ｜ 2099-11-29 19:00"
    )
    assert "已向 1 人发出" in (replies[0].text or "")
    assert "党小组会" in (replies[1].text or "") and "已投票 0/1 人" in (replies[1].text or "")
    await harness.flush()
    assert len(harness.sandbox.messages_to(LI)) == 1
    assert harness.sandbox.messages_to(ZHANG) == []


async def test_the_planned_reminder_reaches_non_voters_only(harness: Harness) -> None:
    await branch(harness)
    await open_poll(harness)
    mine = poll_message(harness, ZHANG)
    await harness.press(ZHANG, mine, button_data(mine, f"⬜ {SAT}"))
    later = utcnow() + timedelta(hours=harness.deps.config.meetings.poll_remind_hours, minutes=1)

    def reminders(chat: int) -> list[SentMessage]:
        # Other jobs (compliance) may also be due by then; only the poll's reminders count here.
        return [m for m in harness.sandbox.messages_to(chat) if "还没有勾选" in (m.text or "")]

    await harness.fire_jobs(later)
    await harness.flush(later)
    assert reminders(ZHANG) == []
    for chat in (SECRETARY, LI):
        assert len(reminders(chat)) == 1 and len(reminders(chat)[0].buttons) == 3
    # The job runs once.
    await harness.fire_jobs(later + timedelta(hours=2))
    await harness.flush(later + timedelta(hours=2))
    assert [len(reminders(chat)) for chat in (ZHANG, SECRETARY, LI)] == [0, 1, 1]


async def test_remind_button_nudges_those_who_have_not_voted(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    for chat in (SECRETARY, ZHANG):
        message = poll_message(harness, chat)
        await harness.press(chat, message, button_data(message, f"⬜ {WED}"))
    _, replies = await harness.press(SECRETARY, status, button_data(status, "提醒未投票"))
    assert [r.text for r in replies] == ["已提醒 1 位还没有投票的成员。"]
    await harness.flush()
    assert "还没有勾选" in (harness.sandbox.messages_to(LI)[-1].text or "")
    assert len(harness.sandbox.messages_to(ZHANG)) == 1
    message = poll_message(harness, LI)
    await harness.press(LI, message, button_data(message, f"⬜ {WED}"))
    _, replies = await harness.press(SECRETARY, status, button_data(status, "提醒未投票"))
    assert "大家都已投票" in (replies[0].text or "")


async def test_make_meeting_invites_the_audience_and_closes_the_poll(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    for chat in (ZHANG, LI):
        message = poll_message(harness, chat)
        await harness.press(chat, message, button_data(message, f"⬜ {SUN}"))
    answer, replies = await harness.press(SECRETARY, status, button_data(status, f"定为会议 {SUN}"))
    assert answer["text"] == "已创建会议 #1"
    assert len(replies) == 1
    reply = replies[0].text or ""
    assert "已定为会议 #1" in reply and "2099-11-29 19:00" in reply and "已向 3 人" in reply
    assert "未过半数" not in reply
    closed = current(harness, status)
    assert closed.buttons == [] and "已定为会议 #1" in (closed.text or "")
    await harness.flush()
    invitation = harness.sandbox.messages_to(LI)[-1]
    assert "会议通知" in (invitation.text or "") and invitation.buttons == ["参加", "请假"]
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, 1)
        invited = await session.scalar(select(func.count(Invitation.id)))
    assert meeting is not None and meeting.title == "第四季度党员大会" and invited == 3
    # Pressed again (a stale keyboard), or a tick after the close: refused, nothing new.
    answer, replies = await harness.press(SECRETARY, status, f"tp:mk:{1}")
    assert answer.get("show_alert") and "已经定为会议 #1" in answer["text"] and replies == []
    message = poll_message(harness, ZHANG)
    answer, _ = await harness.press(ZHANG, message, button_data(message, f"⬜ {SAT}"))
    assert answer.get("show_alert") and "已结束" in answer["text"]
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Meeting.id))) == 1


async def test_a_general_meeting_short_of_half_warns_the_organiser(harness: Harness) -> None:
    await branch(harness)
    status = await open_poll(harness)
    message = poll_message(harness, ZHANG)
    await harness.press(ZHANG, message, button_data(message, f"⬜ {SAT}"))
    _, replies = await harness.press(SECRETARY, status, button_data(status, f"定为会议 {SAT}"))
    reply = replies[0].text or ""
    assert "已定为会议 #1" in reply
    assert "只有 1/3 人能参加，未过半数" in reply and "半数以上党员到会" in reply


async def test_timepoll_with_a_number_shows_the_tally_again(harness: Harness) -> None:
    await branch(harness)
    await open_poll(harness)
    again = (await harness.send(SECRETARY, "/timepoll #1"))[0]
    assert "时间征集 #1" in (again.text or "") and len(again.buttons) == 4
    # Votes now update the newest status message.
    message = poll_message(harness, ZHANG)
    await harness.press(ZHANG, message, button_data(message, f"⬜ {WED}"))
    assert "（张三）" in (current(harness, again).text or "")
    assert "没有编号为 #7 的时间征集" in await harness.say(SECRETARY, "/timepoll 7")


async def test_many_members_ticking_at_once_through_the_bot(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    chats = [100 + n for n in range(30)]
    for chat in chats:
        await harness.org.member(f"党员{chat}", telegram_id=chat)
    replies = await harness.send(SECRETARY, POLL)
    status = replies[1]
    await harness.flush()
    messages = {chat: poll_message(harness, chat) for chat in chats}
    await asyncio.gather(
        *[harness.press(c, messages[c], button_data(messages[c], f"⬜ {SAT}")) for c in chats],
        *[harness.press(c, messages[c], button_data(messages[c], f"⬜ {WED}")) for c in chats[:11]],
    )
    async with harness.deps.db.read() as session:
        counts = dict(
            (
                await session.execute(
                    select(PollVote.slot_id, func.count(PollVote.id)).group_by(PollVote.slot_id)
                )
            ).all()
        )
    assert counts == {1: 30, 3: 11}
    # The next press's tally is exact whatever order the concurrent edits landed in.
    await harness.press(SECRETARY, poll_message(harness, SECRETARY), f"tp:v:{2}")
    text = current(harness, status).text or ""
    assert f"{SAT}：<b>30</b> 人" in text and f"{WED}：<b>11</b> 人" in text
    assert "已投票 31/31 人" in text


async def test_a_tally_edit_refused_by_telegram_does_not_fail_the_tick(harness: Harness) -> None:
    await branch(harness)
    await open_poll(harness)
    # Many ticks at once: Telegram limits edits of the organiser's message (429).
    harness.sandbox.inject_fault(
        "editMessageText", 429, "Too Many Requests: retry after 3", retry_after=3
    )
    mine = poll_message(harness, ZHANG)
    answer, replies = await harness.press(ZHANG, mine, button_data(mine, f"⬜ {SUN}"))
    assert answer["text"] == f"已勾选 {SUN}" and not replies
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(PollVote.id))) == 1
