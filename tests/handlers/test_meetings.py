"""三会一课 through the bot: scheduling, answers, check-in, closing, make-up, minutes, records."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.sandbox import SentMessage, button_data
from bot.services import meetings
from bot.services.members import get_actor
from handlers.checkin import MEETING, Screen, keep_fresh, qr_png
from storage.models import Invitation, Item, Job, Meeting, Member, Receipt, Role
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
START = datetime(2026, 12, 3, 14, 30, tzinfo=TZ)
SECRETARY = 10


async def branch(harness: Harness) -> None:
    """A secretary and four members in two groups of 第一支部, one member of 第二支部."""
    org = harness.org
    await org.member("书记", telegram_id=SECRETARY, role=Role.SECRETARY)
    await org.member("张三", telegram_id=1)
    await org.member("李四", telegram_id=2)
    await org.member("王五", telegram_id=3)
    await org.member("赵六", telegram_id=4, group="第二党小组")
    await org.member("外支部", telegram_id=5, branch="第二支部")
    harness.set_now(T0)


async def schedule(harness: Harness, line: str) -> int:
    reply = await harness.say(SECRETARY, line)
    match = re.search(r"#(\d+)", reply)
    assert match, reply
    await harness.flush(T0.astimezone(TZ))
    return int(match[1])


async def invitation_to(harness: Harness, user: int, meeting_id: int) -> SentMessage:
    for message in harness.sandbox.messages_to(user):
        markup = message.reply_markup or {}
        datas = [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]
        if f"mt:go:{meeting_id}" in datas:
            return message
    raise AssertionError(f"no invitation to {meeting_id} for {user}")


async def invitations(harness: Harness, meeting_id: int) -> dict[str, Invitation]:
    async with harness.deps.db.read() as session:
        rows = await session.execute(
            select(Invitation, Member)
            .join(Member, Invitation.member_id == Member.id)
            .where(Invitation.meeting_id == meeting_id)
        )
        return {member.name: inv for inv, member in rows}


async def test_general_meeting_invites_the_branch_with_answer_buttons(harness: Harness) -> None:
    await branch(harness)
    reply = await harness.say(
        SECRETARY, "/meeting 党员大会 2026-12-03 14:30 学习全会精神 @ 三楼会议室"
    )
    assert "已安排会议 #" in reply and "5 人" in reply and "12-03 14:30（周四）" in reply
    await harness.flush()
    message = await invitation_to(harness, 1, 1)
    text = message.text or ""
    assert "支部党员大会" in text and "学习全会精神" in text and "三楼会议室" in text
    assert button_data(message, "请假") == "mt:lv:1"
    # The other branch is not invited; the whole of 第一支部 is, across its groups.
    assert not harness.sandbox.messages_to(5)
    assert set(await invitations(harness, 1)) == {"书记", "张三", "李四", "王五", "赵六"}


async def test_answers_change_until_the_start_and_leave_needs_a_reason(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting general 2026-12-03 14:30 学习")
    invite = await invitation_to(harness, 2, mid)
    answer, _ = await harness.press(2, invite, f"mt:go:{mid}")
    assert answer.get("text") == "已回复：参加"
    assert "✔ 参加" in str(harness.sandbox.messages_to(2)[-1].reply_markup)
    _, prompt = await harness.press(2, invite, f"mt:lv:{mid}")
    assert "请假原因" in (prompt[0].text or "")
    assert "已请假" in await harness.say(2, "到市里参加培训")
    rows = await invitations(harness, mid)
    assert rows["李四"].answer == "leave" and rows["李四"].leave_reason == "到市里参加培训"
    # Back to attending before the start: the reason goes.
    await harness.press(2, invite, f"mt:go:{mid}")
    rows = await invitations(harness, mid)
    assert rows["李四"].answer == "attend" and rows["李四"].leave_reason is None
    harness.set_now(START + timedelta(minutes=1))
    answer, _ = await harness.press(2, invite, f"mt:lv:{mid}")
    assert answer.get("show_alert") and "已开始" in answer.get("text", "")
    assert (await invitations(harness, mid))["李四"].answer == "attend"


async def test_forged_and_foreign_buttons_are_refused(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党小组会 2026-12-03 14:30 小组学习 #第一党小组")
    invite = await invitation_to(harness, 1, mid)
    # 赵六 (第二党小组) presses a copy of 张三's button: not invited, nothing stored.
    answer, _ = await harness.press(4, invite, f"mt:go:{mid}")
    assert answer.get("show_alert")
    assert "赵六" not in await invitations(harness, mid)
    for data in ("mt:go:999", "mt:zz:1", "mt:go", "mt:qr:1"):
        answer, _ = await harness.press(1, invite, data)
        assert answer.get("show_alert"), data


async def test_group_meeting_defaults_and_committee_audience(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("支委甲", telegram_id=6)
    async with harness.deps.db.write() as session:
        member = await session.scalar(select(Member).where(Member.name == "支委甲"))
        assert member is not None
        member.committee = True
        await session.commit()
    mid = await schedule(harness, "/meeting 支委会 2026-12-03 14:30 研究发展党员")
    assert set(await invitations(harness, mid)) == {"书记", "支委甲"}
    # The secretary's own group by default for a group meeting.
    mid = await schedule(harness, "/meeting group 2026-12-04 14:30 小组学习")
    assert set(await invitations(harness, mid)) == {"书记", "张三", "李四", "王五", "支委甲"}
    mid = await schedule(harness, "/meeting group 2026-12-04 16:30 小组学习 #第二党小组")
    assert set(await invitations(harness, mid)) == {"赵六"}
    assert "需要指定党小组" in await harness.say(
        SECRETARY, "/meeting group 2026-12-04 14:30 学习 #第一支部"
    )


async def test_bad_meeting_lines_get_usage_and_store_nothing(harness: Harness) -> None:
    await branch(harness)
    for line, expected in (
        ("/meeting 座谈会 2026-12-03 14:30 学习", "用法"),
        ("/meeting 党课 明天 学习", "用法"),
        ("/meeting 党课 2026-13-03 14:30 学习", "看不懂"),
        ("/meeting 党课 2026-11-03 14:30 学习", "将来"),
        ("/meeting 党课 2026-12-03 14:30 @ 三楼", "用法"),
        ("/meeting 党课 2026-12-03 14:30 学习 #第二支部", "超出"),
        ("/meeting 党课 2026-12-03 14:30 学习 #不存在", "找不到"),
    ):
        reply = await harness.say(SECRETARY, line)
        assert expected in reply, (line, reply)
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Meeting.id))) == 0
    assert "没有使用此命令的权限" in await harness.say(1, "/meeting 党课 2026-12-03 14:30 学习")


async def test_guided_meeting(harness: Harness) -> None:
    await branch(harness)
    replies = await harness.send(SECRETARY, "/meeting")
    _, replies = await harness.press(SECRETARY, replies[0], "mg:k:3")
    assert "会议时间" in (replies[0].text or "")
    assert "将来" in await harness.say(SECRETARY, "2026-11-30 10:00")
    assert "名称" in await harness.say(SECRETARY, "2026-12-10 15:00")
    place_question = await harness.send(SECRETARY, "学习党章")
    _, replies = await harness.press(SECRETARY, place_question[0], "mg:p:0")
    preview = replies[0]
    assert "党课" in (preview.text or "") and "第一支部全体党员" in (preview.text or "")
    _, replies = await harness.press(SECRETARY, preview, "mg:c:1")
    assert "已安排会议 #1" in (replies[0].text or "")
    assert len(await invitations(harness, 1)) == 5
    # The dialog is over: its buttons are stale now.
    answer, _ = await harness.press(SECRETARY, preview, "mg:c:1")
    assert answer.get("show_alert")


async def code_caption(harness: Harness, meeting_id: int) -> tuple[str, SentMessage]:
    replies = await harness.send(SECRETARY, f"/checkincode {meeting_id}")
    assert len(replies) == 1 and replies[0].photo_bytes, replies
    match = re.search(r"签到码：<code>(\d{6})</code>", replies[0].caption or "")
    assert match, replies[0].caption
    return match[1], replies[0]


async def test_checkin_with_the_rotating_code_window_and_grace(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    harness.set_now(START - timedelta(hours=2))
    assert "14:00" in await harness.say(SECRETARY, f"/checkincode {mid}")
    assert "签到时间为 12-03 14:00 至 15:00" in await harness.say(1, "/checkin 123456")
    minute = START - timedelta(minutes=10)
    harness.set_now(minute + timedelta(seconds=5))
    code, _ = await code_caption(harness, mid)
    assert "签到成功" in await harness.say(1, f"/checkin {code}")
    assert "已签到过" in await harness.say(1, f"/checkin {code}")
    # The previous minute's code: fine within the grace, refused after it.
    harness.set_now(minute + timedelta(minutes=1, seconds=10))
    assert "签到成功" in await harness.say(2, f"/checkin {code}")
    harness.set_now(minute + timedelta(minutes=1, seconds=30))
    assert "不正确或已过期" in await harness.say(3, f"/checkin {code}")
    assert "用法" in await harness.say(3, "/checkin")
    assert "用法" in await harness.say(3, "/checkin 12ab")
    # After the start: late.
    harness.set_now(START + timedelta(minutes=5))
    code, _ = await code_caption(harness, mid)
    assert "迟到" in await harness.say(3, f"/checkin {code}")
    rows = await invitations(harness, mid)
    assert rows["张三"].checkin_method == "code" and rows["王五"].checked_in_at is not None
    assert rows["赵六"].checked_in_at is None


async def test_checkin_refused_for_a_member_not_invited(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党小组会 2026-12-03 14:30 小组学习 #第一党小组")
    harness.set_now(START)
    code, _ = await code_caption(harness, mid)
    assert "不在会议「小组学习」的参会名单中" in await harness.say(4, f"/checkin {code}")
    assert "赵六" not in await invitations(harness, mid)


async def test_checkin_by_qr_deep_link_rotates(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党课 2026-12-03 14:30 专题党课")
    harness.set_now(START - timedelta(minutes=3))
    _, photo = await code_caption(harness, mid)
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
    assert meeting is not None
    counter = int((START - timedelta(minutes=3)).timestamp()) // 60
    param = meetings.qr_param_for(meeting, counter)
    link = f"https://t.me/{harness.app.bot.username}?start={param}"
    # The picture is exactly the QR code of the current deep link.
    assert photo.photo_bytes == qr_png(link)
    assert "签到成功" in await harness.say(2, f"/start {param}")
    harness.set_now(START - timedelta(minutes=1))
    assert "二维码已过期" in await harness.say(3, f"/start {param}")
    assert "二维码已过期" in await harness.say(3, f"/start ci_{mid}_000000000000")
    assert (await invitations(harness, mid))["李四"].checkin_method == "qr"
    # Refresh: a new picture replaces the old one.
    _, replies = await harness.press(SECRETARY, photo, f"mt:qr:{mid}")
    assert replies and replies[0].photo_bytes and replies[0].photo_bytes != photo.photo_bytes
    assert photo.deleted


async def test_close_makes_attendance_final_and_sends_make_ups_once(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习全会精神")
    invite = await invitation_to(harness, 2, mid)
    await harness.press(2, invite, f"mt:lv:{mid}")
    await harness.say(2, "出差")
    harness.set_now(START - timedelta(minutes=5))
    code, _ = await code_caption(harness, mid)
    await harness.say(1, f"/checkin {code}")
    reply = await harness.say(SECRETARY, f"/present {mid} 王五 张三 无名氏")
    assert "已登记到会：王五" in reply and "此前已签到：张三" in reply and "无名氏" in reply
    harness.set_now(START + timedelta(minutes=20))
    code, _ = await code_caption(harness, mid)
    await harness.say(SECRETARY, f"/checkin {code}")
    closes = START + timedelta(minutes=30)
    await harness.fire_jobs(closes.astimezone(TZ) + timedelta(seconds=1))
    rows = await invitations(harness, mid)
    assert {n: r.outcome for n, r in rows.items()} == {
        "书记": "late",
        "张三": "attended",
        "王五": "attended",
        "李四": "leave",
        "赵六": "absent",
    }
    # Check-in is over.
    harness.set_now(closes + timedelta(minutes=1))
    assert "现在不能签到" in await harness.say(4, f"/checkin {code}") or "没有可以签到" in (
        await harness.say(4, f"/checkin {code}")
    )
    # Closing again (a retried job) changes nothing and makes no second make-up.
    async with harness.deps.db.write() as session:
        assert not await meetings.close_meeting(session, harness.deps.meetings, mid, now=closes)
        await session.commit()
    async with harness.deps.db.read() as session:
        makeups = (await session.scalars(select(Item).where(Item.kind == "makeup"))).all()
        assert len(makeups) == 1
        receivers = await session.scalar(
            select(func.count(Receipt.id)).where(Receipt.item_id == makeups[0].id)
        )
    assert receivers == 2
    await harness.flush(closes + timedelta(minutes=1))
    makeup = harness.sandbox.messages_to(4)[-1]
    assert "补学" in (makeup.text or "") and "会议记录上传后" in (makeup.text or "")
    answer, _ = await harness.press(4, makeup, f"it:ok:{makeups[0].id}")
    assert answer.get("show_alert") and "还没有上传" in answer.get("text", "")
    assert "出席 2，迟到 1，请假 1，缺席 1" in (
        harness.sandbox.messages_to(SECRETARY)[-1].text or ""
    )
    # Minutes afterwards reach those who still owe the make-up.
    reply = await harness.say(SECRETARY, f"/minutes {mid} 会议传达了全会精神，要求每人撰写心得。")
    assert "已发给尚未补学的 2 人" in reply
    await harness.flush(closes + timedelta(minutes=2))
    assert "会议传达了全会精神" in (harness.sandbox.messages_to(2)[-1].text or "")
    # Confirming the make-up marks the member made up.
    # Nothing to study before the minutes came: confirming was refused, now it is recorded.
    answer, _ = await harness.press(4, makeup, f"it:ok:{makeups[0].id}")
    assert answer.get("text") == "已记录，谢谢！"
    listing = "\n".join(m.text or "" for m in await harness.send(SECRETARY, f"/attendance {mid}"))
    assert "赵六：缺席" in listing and "已补学" in listing
    assert "李四：请假（原因：出差）" in listing
    me = await harness.say(4, "/me")
    assert "本季度会议：应参加 1，出席 0，迟到 0，请假 0，缺席 1，已补学 1" in me


async def test_minutes_as_a_document_before_the_close_become_the_make_up(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党课 2026-12-03 14:30 专题党课")
    assert "会议记录" in await harness.say(SECRETARY, f"/minutes {mid}")
    replies = await harness.upload(SECRETARY, "记录.docx", b"minutes")
    assert "已保存会议" in (replies[-1].text or "")
    harness.set_now(START)
    await harness.say(SECRETARY, f"/present {mid} 书记")
    await harness.fire_jobs(START + timedelta(minutes=31))
    await harness.flush(START + timedelta(minutes=32))
    received = harness.sandbox.messages_to(1)
    assert any(m.document_name == "记录.docx" for m in received)
    assert "会议记录上传后" not in (received[-1].text or "")


async def test_reminders_go_to_attending_and_silent_not_on_leave(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    await harness.press(1, await invitation_to(harness, 1, mid), f"mt:go:{mid}")
    await harness.press(2, await invitation_to(harness, 2, mid), f"mt:lv:{mid}")
    await harness.say(2, "出差")
    before = {u: len(harness.sandbox.messages_to(u)) for u in (1, 2, 3)}
    day_before = START - timedelta(hours=24)
    await harness.fire_jobs(day_before.astimezone(TZ))
    await harness.flush(day_before)
    new = {u: harness.sandbox.messages_to(u)[before[u] :] for u in (1, 2, 3)}
    assert "24 小时后开会" in (new[1][0].text or "") and not new[1][0].reply_markup
    assert not new[2]
    assert "还没有回复" in (new[3][0].text or "") and new[3][0].reply_markup


async def test_moving_and_cancelling_notify_and_retire_old_jobs(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    reply = await harness.say(SECRETARY, f"/meeting {mid} time 2026-12-04 09:00")
    assert "已修改" in reply and "5 人" in reply
    await harness.flush()
    assert "会议时间已变更" in (harness.sandbox.messages_to(1)[-1].text or "")
    # The old day-before reminder fires into nothing; the new one reminds.
    count = len(harness.sandbox.messages_to(1))
    await harness.fire_jobs(START - timedelta(hours=24))
    await harness.flush(START - timedelta(hours=24))
    assert len(harness.sandbox.messages_to(1)) == count
    # The old close does not close the moved meeting.
    await harness.fire_jobs(START + timedelta(minutes=31))
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
        assert meeting is not None and meeting.status == "scheduled"
    assert "用法" in await harness.say(SECRETARY, f"/meeting {mid} colour red")
    reply = await harness.say(SECRETARY, f"/meeting {mid} cancel 上级会议冲突")
    assert "已取消" in reply
    await harness.flush()
    assert "上级会议冲突" in (harness.sandbox.messages_to(1)[-1].text or "")
    invite = await invitation_to(harness, 1, mid)
    answer, _ = await harness.press(1, invite, f"mt:go:{mid}")
    assert "已取消" in answer.get("text", "")
    await harness.fire_jobs(datetime(2026, 12, 4, 9, 31, tzinfo=TZ))
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
        assert meeting is not None and meeting.status == "cancelled"
        assert meeting.makeup_item_id is None


async def test_records_are_scoped(harness: Harness) -> None:
    await branch(harness)
    await harness.org.member("二支书记", telegram_id=20, branch="第二支部", role=Role.SECRETARY)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    listing = await harness.say(SECRETARY, "/meetings")
    assert "即将召开" in listing and f"#{mid}" in listing and "邀请 5" in listing
    assert "近期没有会议" in await harness.say(20, "/meetings")
    assert "超出了您的管理范围" in await harness.say(20, f"/attendance {mid}")
    assert "超出了您的管理范围" in await harness.say(20, f"/checkincode {mid}")
    assert "没有使用此命令的权限" in await harness.say(1, f"/attendance {mid}")
    assert "没有编号为 #99" in await harness.say(SECRETARY, "/attendance 99")
    assert "用法" in await harness.say(SECRETARY, "/attendance")
    detail = await harness.send(SECRETARY, f"/meeting {mid}")
    assert "邀请 5 人" in (detail[0].text or "")
    _, replies = await harness.press(SECRETARY, detail[0], f"mt:at:{mid}")
    assert "张三：未回复" in "\n".join(r.text or "" for r in replies)


@pytest.mark.parametrize("language", ["en"])
async def test_english_invitation(harness: Harness, language: str) -> None:
    await branch(harness)
    await harness.say(1, f"/lang {language}")
    await schedule(harness, "/meeting lecture 2026-12-03 14:30 Party history")
    message = await invitation_to(harness, 1, 1)
    assert "Party lecture" in (message.text or "")
    assert "(Thu)" in (message.text or "")
    async with harness.deps.db.read() as session:
        jobs = (await session.scalars(select(Job.kind))).all()
    assert set(jobs) >= {"meeting_reminder", "meeting_close"}


async def test_a_reminder_fired_late_after_the_start_is_dropped(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    count = len(harness.sandbox.messages_to(1))
    # The bot was down through both reminders and comes back ten minutes into the meeting.
    await harness.fire_jobs(START + timedelta(minutes=10))
    await harness.flush(START + timedelta(minutes=10))
    assert len(harness.sandbox.messages_to(1)) == count
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
        assert meeting is not None and meeting.status == "scheduled"


async def test_minutes_typed_on_the_next_line_are_kept(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting\n党课 2026-12-03 14:30 专题党课")
    reply = await harness.say(SECRETARY, f"/minutes {mid}\n一、传达文件\n二、讨论")
    assert "已保存会议" in reply
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
    assert meeting is not None and meeting.minutes_text == "一、传达文件\n二、讨论"


async def test_changing_to_attend_closes_the_reason_prompt(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    invite = await invitation_to(harness, 2, mid)
    await harness.press(2, invite, f"mt:lv:{mid}")
    await harness.press(2, invite, f"mt:go:{mid}")
    await harness.say(2, "收到")
    row = (await invitations(harness, mid))["李四"]
    assert (row.answer, row.leave_reason) == ("attend", None)


async def test_a_reason_prompt_open_at_the_start_lets_go(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    await harness.press(2, await invitation_to(harness, 2, mid), f"mt:lv:{mid}")
    harness.set_now(START + timedelta(minutes=1))
    assert "已开始" in await harness.say(2, "临时有事")
    # The dialog is over: the next message is ordinary chat again.
    assert "已开始" not in await harness.say(2, "你好")


async def test_moving_there_and_back_reminds_once(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    await harness.say(SECRETARY, f"/meeting {mid} time 2026-12-04 09:00")
    await harness.say(SECRETARY, f"/meeting {mid} time 2026-12-03 14:30")
    await harness.flush()
    count = len(harness.sandbox.messages_to(1))
    await harness.fire_jobs(START - timedelta(minutes=59))
    await harness.flush(START - timedelta(minutes=59))
    new = harness.sandbox.messages_to(1)[count:]
    reminders = [m for m in new if "：1 小时后开会" in (m.text or "")]
    assert len(reminders) == 1


async def test_a_meeting_nobody_attended_is_not_held(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    # Called off at the last minute: cancelling still works after the start.
    harness.set_now(START + timedelta(minutes=5))
    assert "已取消" in await harness.say(SECRETARY, f"/meeting {mid} cancel 临时取消")
    # Another that closes with nobody checked in did not take place either.
    harness.set_now(T0)
    third = await schedule(harness, "/meeting 党员大会 2026-12-05 14:30 学习")
    await harness.fire_jobs(datetime(2026, 12, 5, 15, 1, tzinfo=TZ))
    await harness.flush(datetime(2026, 12, 5, 15, 2, tzinfo=TZ))
    assert "无人签到" in (harness.sandbox.messages_to(SECRETARY)[-1].text or "")
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Item.id)).where(Item.kind == "makeup")) == 0
        meeting = await session.get(Meeting, third)
        assert meeting is not None and meeting.status == "closed"
    assert "考勤已定稿" in await harness.say(SECRETARY, f"/meeting {third} cancel")
    assert "应参加 0" in await harness.say(1, "/me")


async def test_a_made_up_link_reveals_nothing(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党小组会 2026-12-03 14:30 研究处分某同志 #第一党小组")
    for at in (T0, START):
        harness.set_now(at)
        reply = await harness.say(4, f"/start ci_{mid}_000000000000")
        assert "研究处分" not in reply and "二维码已过期" in reply


async def test_guessing_codes_is_cut_off(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    harness.set_now(START - timedelta(minutes=1))
    code, _ = await code_caption(harness, mid)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert "不正确" in await harness.say(1, f"/checkin {wrong}")
    assert "错误次数过多" in await harness.say(1, f"/checkin {code}")
    assert (await invitations(harness, mid))["张三"].checked_in_at is None
    harness.set_now(START + timedelta(minutes=10))
    code, _ = await code_caption(harness, mid)
    assert "签到成功" in await harness.say(1, f"/checkin {code}")


async def test_a_photo_as_minutes_gets_asked_for_a_file(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党课 2026-12-03 14:30 专题党课")
    await harness.say(SECRETARY, f"/minutes {mid}")
    update = await harness.sandbox.user_photo(SECRETARY, b"jpeg")
    replies = await harness._feed(SECRETARY, update)
    assert len(replies) == 1 and "以文件方式发送" in (replies[0].text or "")
    async with harness.deps.db.read() as session:
        meeting = await session.get(Meeting, mid)
    assert meeting is not None and meeting.minutes_file_id is None


async def test_guided_meeting_refuses_a_group_leader_the_wrong_kind_at_once(
    harness: Harness,
) -> None:
    await branch(harness)
    await harness.org.member("组长", telegram_id=7, role=Role.GROUP_LEADER)
    replies = await harness.send(7, "/meeting")
    answer, _ = await harness.press(7, replies[0], "mg:k:0")
    assert answer.get("show_alert") and "超出" in answer.get("text", "")
    _, replies = await harness.press(7, replies[0], "mg:k:2")
    assert "会议时间" in (replies[0].text or "")


async def test_the_code_screen_redraws_itself_until_check_in_closes(harness: Harness) -> None:
    await branch(harness)
    mid = await schedule(harness, "/meeting 党员大会 2026-12-03 14:30 学习")
    harness.set_now(START - timedelta(minutes=2, seconds=-1))
    first_code, photo = await code_caption(harness, mid)
    async with harness.deps.db.read() as session:
        actor = await get_actor(session, SECRETARY, "zh")
    assert actor is not None

    async def a_minute_passes(_: float) -> None:
        harness.set_now(harness.deps.now() + timedelta(minutes=1))

    await keep_fresh(
        harness.app.bot,
        harness.deps,
        actor,
        Screen(MEETING, mid),
        "zh",
        SECRETARY,
        photo.message_id,
        sleep=a_minute_passes,
    )
    screen = harness.sandbox.message(SECRETARY, photo.message_id)
    assert screen is not None
    # 14:29 to 14:59 redrawn (31 pictures), then at 15:00 the close is announced.
    assert screen.edit_count == 32
    assert "签到已结束" in (screen.caption or "") and f"/attendance {mid}" in (screen.caption or "")
    codes = {m[1] for c in screen.history if c and (m := re.search(r"<code>(\d{6})</code>", c))}
    assert len(codes) == 32 and first_code in codes  # the first picture and 31 redraws
    # A screen refreshed by hand (the old picture deleted) stops its redrawing at once.
    harness.set_now(START)
    _, second = await code_caption(harness, mid)
    await harness.press(SECRETARY, second, f"mt:qr:{mid}")
    calls = len(harness.sandbox.calls)
    await keep_fresh(
        harness.app.bot,
        harness.deps,
        actor,
        Screen(MEETING, mid),
        "zh",
        SECRETARY,
        second.message_id,
        sleep=a_minute_passes,
    )
    assert [c.method for c in harness.sandbox.calls[calls:]] == ["editMessageMedia"]
