"""志愿服务 through the bot: posting an activity, sign-up and cancel buttons, the waitlist offer,
check-in and check-out with the rotating codes and QR, the roster, hours and corrections."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.sandbox import SentMessage, button_data
from bot.services import checkin_codes as codes
from bot.services import volunteer_checkin
from handlers.checkin import qr_png
from storage.models import Activity, AuditEntry, Job, Member, Role, SignUp
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
START = datetime(2026, 12, 5, 9, 0, tzinfo=TZ)
END = datetime(2026, 12, 5, 11, 30, tzinfo=TZ)
SECRETARY = 10
LINE = "/activity 社区环境整治 | 2026-12-05 09:00-11:30 | 幸福里社区 | {places}"


async def branch(harness: Harness) -> None:
    """A secretary and four members of 第一支部 (two groups), one member of 第二支部."""
    org = harness.org
    await org.member("书记", telegram_id=SECRETARY, role=Role.SECRETARY)
    await org.member("张三", telegram_id=1)
    await org.member("李四", telegram_id=2)
    await org.member("王五", telegram_id=3)
    await org.member("赵六", telegram_id=4, group="第二党小组")
    await org.member("外支部", telegram_id=5, branch="第二支部")
    harness.set_now(T0)


async def post(harness: Harness, line: str) -> int:
    reply = await harness.say(SECRETARY, line)
    match = re.search(r"活动 #(\d+)", reply)
    assert match, reply
    await harness.flush(T0)
    return int(match[1])


def invitation_to(harness: Harness, user: int, activity_id: int) -> SentMessage:
    for message in harness.sandbox.messages_to(user):
        # Its buttons change with the member's state: 报名, 取消报名, 取消候补.
        if "志愿服务招募" in (message.text or "") and re.search(
            rf"va:[a-z]{{2}}:{activity_id}'", str(message.reply_markup)
        ):
            return message
    raise AssertionError(f"no invitation to {activity_id} for {user}")


async def press_signup(harness: Harness, user: int, activity_id: int) -> list[SentMessage]:
    answer, replies = await harness.press(
        user, invitation_to(harness, user, activity_id), f"va:su:{activity_id}"
    )
    assert not answer.get("show_alert"), answer
    return replies


async def signups(harness: Harness, activity_id: int) -> dict[str, SignUp]:
    async with harness.deps.db.read() as session:
        rows = await session.execute(
            select(SignUp, Member)
            .join(Member, SignUp.member_id == Member.id)
            .where(SignUp.activity_id == activity_id)
        )
        return {member.name: signup for signup, member in rows}


async def test_an_activity_reaches_the_branch_with_a_sign_up_button(harness: Harness) -> None:
    await branch(harness)
    reply = await harness.say(SECRETARY, LINE.format(places=10) + " | 截止 2026-12-04 18:00")
    assert "已发布活动 #1「社区环境整治」" in reply and "已推送给 5 人" in reply
    assert "2026-12-05 09:00-11:30（周六）" in reply
    await harness.flush()
    message = invitation_to(harness, 1, 1)
    text = message.text or ""
    assert "志愿服务招募" in text and "幸福里社区" in text and "名额：10 人" in text
    assert "报名截止：12-04 18:00" in text
    assert button_data(message, "报名") == "va:su:1"
    assert not harness.sandbox.messages_to(5)
    async with harness.deps.db.read() as session:
        activity = await session.get(Activity, 1)
    assert activity is not None and activity.capacity == 10
    assert activity.signup_deadline == datetime(2026, 12, 4, 18, 0, tzinfo=TZ)


async def test_bad_activity_lines_get_the_usage_and_store_nothing(harness: Harness) -> None:
    await branch(harness)
    for line, expected in (
        ("/activity 整治 | 2026-12-05", "用法"),
        ("/activity 整治 | 2026-12-05 09:00 | 社区 | 5", "看不懂时间"),
        ("/activity 整治 | 2026-12-05 11:00-09:00 | 社区 | 5", "结束时间须晚于开始时间"),
        ("/activity 整治 | 2026-13-05 09:00-11:00 | 社区 | 5", "看不懂时间"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 十", "不是数字"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 0", "1 到 1000"),
        ("/activity 整治 | 2026-11-05 09:00-11:00 | 社区 | 5", "活动时间必须在将来"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 5 | 截止 2026-12-06 09:00", "截止"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 5 | 别的", "用法"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 5 | #不存在", "不存在"),
        ("/activity 整治 | 2026-12-05 09:00-11:00 | 社区 | 5 | #第二支部", "超出"),
    ):
        assert expected in await harness.say(SECRETARY, line), line
    assert "权限" in await harness.say(1, LINE.format(places=3))
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Activity.id))) == 0


async def test_sign_up_cancel_and_pressing_twice(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=1))
    replies = await press_signup(harness, 1, aid)
    assert [r.text for r in replies] == ["✅ 报名成功：「社区环境整治」"]
    message = invitation_to(harness, 1, aid)
    assert button_data(message, "取消报名") == f"va:cx:{aid}"
    # The same old button pressed again: a notice, no second sign-up.
    answer, replies = await harness.press(1, message, f"va:su:{aid}")
    assert "已报名" in answer.get("text", "") and not replies
    # Full: the next one waits, and is told their place.
    replies = await press_signup(harness, 2, aid)
    assert "候补，排第 1 位" in (replies[0].text or "")
    assert button_data(invitation_to(harness, 2, aid), "取消候补") == f"va:cx:{aid}"
    answer, replies = await harness.press(1, message, f"va:cx:{aid}")
    assert [r.text for r in replies] == ["已取消报名「社区环境整治」。"]
    rows = await signups(harness, aid)
    assert (rows["张三"].status, rows["李四"].status) == ("cancelled", "offered")


async def test_forged_and_foreign_buttons_are_refused(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=2))
    message = invitation_to(harness, 1, aid)
    for user, data in ((5, f"va:su:{aid}"), (1, "va:su:999"), (1, "va:zz:1"), (1, "va:su:x")):
        answer, replies = await harness.press(user, message, data)
        assert answer.get("show_alert"), (user, data, answer)
        assert not replies
    # Organiser buttons need an organiser.
    answer, _ = await harness.press(1, message, f"va:ro:{aid}")
    assert answer.get("show_alert") and "权限" in answer.get("text", "")
    answer, _ = await harness.press(1, message, f"va:ok:{aid}")
    assert answer.get("show_alert") and "没有待确认的名额" in answer.get("text", "")
    assert await signups(harness, aid) == {}


async def test_a_cancellation_offers_the_place_and_the_member_confirms(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=1))
    await press_signup(harness, 1, aid)
    await press_signup(harness, 2, aid)
    await press_signup(harness, 3, aid)
    await harness.press(1, invitation_to(harness, 1, aid), f"va:cx:{aid}")
    await harness.flush()
    offers = [m for m in harness.sandbox.messages_to(2) if "轮到您了" in (m.text or "")]
    assert len(offers) == 1 and "12-01 21:00 前确认" in (offers[0].text or "")
    assert not [m for m in harness.sandbox.messages_to(3) if "轮到您了" in (m.text or "")]
    _, replies = await harness.press(2, offers[0], button_data(offers[0], "确认参加"))
    assert [r.text for r in replies] == ["✅ 已确认参加「社区环境整治」。"]
    assert button_data(offers[0], "取消报名") == f"va:cx:{aid}"
    rows = await signups(harness, aid)
    assert (rows["李四"].status, rows["王五"].status) == ("confirmed", "waiting")


async def test_an_offer_not_answered_in_time_goes_to_the_next(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=1))
    for user in (1, 2, 3):
        await press_signup(harness, user, aid)
    await harness.press(1, invitation_to(harness, 1, aid), f"va:cx:{aid}")
    assert await harness.fire_jobs(T0 + timedelta(hours=12)) >= 1
    await harness.flush(T0 + timedelta(hours=12))
    assert any("已顺延" in (m.text or "") for m in harness.sandbox.messages_to(2))
    assert any("轮到您了" in (m.text or "") for m in harness.sandbox.messages_to(3))
    rows = await signups(harness, aid)
    assert (rows["李四"].status, rows["王五"].status) == ("expired", "offered")


async def screen(harness: Harness, aid: int, out: bool = False) -> tuple[str, SentMessage]:
    replies = await harness.send(SECRETARY, f"/activitycode {aid}" + (" out" if out else ""))
    assert len(replies) == 1 and replies[0].photo_bytes, [r.text for r in replies]
    match = re.search(r"签[到退]码：<code>(\d{6})</code>", replies[0].caption or "")
    assert match, replies[0].caption
    return match[1], replies[0]


async def test_check_in_and_out_with_the_codes_give_the_hours(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=5))
    await press_signup(harness, 1, aid)
    harness.set_now(START - timedelta(hours=1))
    assert "签到时间为 12-05 08:30 至 11:30" in await harness.say(1, "/checkin 123456")
    harness.set_now(START - timedelta(minutes=10))
    code, photo = await screen(harness, aid)
    assert "签到截止 11:30" in (photo.caption or "")
    assert await harness.say(1, f"/checkin {code}") == "✅ 签到成功：「社区环境整治」"
    # 李四 did not sign up: the right code does not let them in.
    assert "没有报名「社区环境整治」" in await harness.say(2, f"/checkin {code}")
    harness.set_now(END + timedelta(minutes=20))
    code, photo = await screen(harness, aid, out=True)
    assert "签退截止 12:30" in (photo.caption or "")
    assert "本次服务 2.5 小时" in await harness.say(1, f"/checkin {code}")
    assert "已签退过" in await harness.say(1, f"/checkin {code}")
    rows = await signups(harness, aid)
    assert (rows["张三"].checkin_method, rows["张三"].minutes) == ("code", 150)


async def test_the_qr_links_check_in_and_out(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=5))
    await press_signup(harness, 2, aid)
    harness.set_now(START)
    _, photo = await screen(harness, aid)
    async with harness.deps.db.read() as session:
        activity = await session.get(Activity, aid)
    assert activity is not None
    param = volunteer_checkin.qr_param_for(activity, "in", codes.counter(START))
    assert photo.photo_bytes == qr_png(f"https://t.me/{harness.app.bot.username}?start={param}")
    assert "签到成功" in await harness.say(2, f"/start {param}")
    harness.set_now(START + timedelta(hours=1))
    assert "二维码已过期" in await harness.say(2, f"/start {param}")
    out = volunteer_checkin.qr_param_for(activity, "out", codes.counter(harness.deps.now()))
    assert "本次服务 1 小时" in await harness.say(2, f"/start {out}")
    # Refreshing the screen replaces the picture.
    _, replies = await harness.press(SECRETARY, photo, f"va:qi:{aid}")
    assert replies and replies[0].photo_bytes and photo.deleted


async def test_marks_by_hand_the_close_and_the_roster(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=3))
    for user in (1, 2, 3, 4):
        await press_signup(harness, user, aid)
    harness.set_now(START)
    reply = await harness.say(SECRETARY, f"/vcheckin {aid} 张三、李四 外人")
    assert "已登记：张三、李四" in reply and "未报名或未签到：外人" in reply
    harness.set_now(START + timedelta(hours=2))
    reply = await harness.say(SECRETARY, f"/vcheckout {aid} 张三 王五")
    assert "已登记：张三" in reply and "未报名或未签到：王五" in reply
    assert "用法" in await harness.say(SECRETARY, "/vcheckout 1")
    roster = await harness.say(SECRETARY, f"/roster {aid}")
    assert "张三：09:00-11:00，2 小时" in roster and "李四：09:00 签到" in roster
    assert "王五：未签到" in roster and "1. 赵六" in roster
    await harness.fire_jobs(END + timedelta(minutes=60))
    await harness.flush(END + timedelta(minutes=60))
    assert any(
        "服务 2 人，未到 1 人，共 4.5 小时" in (m.text or "")
        for m in harness.sandbox.messages_to(SECRETARY)
    )
    roster = await harness.say(SECRETARY, f"/roster {aid}")
    assert "李四：09:00 签到，未签退，按结束时间计 2.5 小时" in roster and "王五：未到" in roster
    assert "权限" in await harness.say(1, f"/roster {aid}")


async def test_corrections_hours_ranking_and_me(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=5))
    for user in (1, 2):
        await press_signup(harness, user, aid)
    harness.set_now(START)
    await harness.say(SECRETARY, f"/vcheckin {aid} 张三 李四")
    assert "还没有结束" in await harness.say(SECRETARY, f"/sethours {aid} 张三 3 提前布置")
    await harness.fire_jobs(END + timedelta(minutes=60))
    harness.set_now(END + timedelta(hours=2))
    assert "用法" in await harness.say(SECRETARY, f"/sethours {aid} 张三 3")
    assert "时长「三」不对" in await harness.say(SECRETARY, f"/sethours {aid} 张三 三 布置")
    reply = await harness.say(SECRETARY, f"/sethours {aid} 张三 3 提前 半小时 到场布置")
    assert "由 2.5 小时改为 3 小时" in reply
    async with harness.deps.db.read() as session:
        details = await session.scalar(
            select(AuditEntry.details).where(AuditEntry.action == "activity.hours_adjusted")
        )
    assert details is not None and "提前 半小时 到场布置" in details
    ranking = await harness.say(SECRETARY, "/hours")
    assert "2026年第4季度" in ranking and "共 5.5 小时" in ranking
    assert ranking.index("1. 张三 3 小时") < ranking.index("2. 李四 2.5 小时")
    assert "第一党小组 5.5 小时（2 次）" in ranking
    assert "2026年" in await harness.say(SECRETARY, "/hours 2026")
    assert "还没有服务记录" in await harness.say(SECRETARY, "/hours 2026-10")
    assert "看不懂期间" in await harness.say(SECRETARY, "/hours 明年")
    assert "权限" in await harness.say(1, "/hours")
    assert "志愿服务 本月 / 本季度 / 本年：3 / 3 / 3 小时" in await harness.say(1, "/me")


async def test_members_list_open_activities_and_sign_up_from_the_list(harness: Harness) -> None:
    await branch(harness)
    first = await post(harness, LINE.format(places=5))
    second = await post(harness, "/activity 敬老院慰问 | 2026-12-06 14:00-16:00 | 敬老院 | 2")
    await press_signup(harness, 1, first)
    replies = await harness.send(1, "/activities")
    assert len(replies) == 2
    listing = replies[0].text or ""
    assert f"#{first}" in listing and "✅ 已报名" in listing and "敬老院慰问（0/2" in listing
    assert button_data(replies[1], f"报名 #{second} 敬老院慰问") == f"va:su:{second}"
    _, answered = await harness.press(1, replies[1], f"va:su:{second}")
    assert "报名成功" in (answered[0].text or "")
    assert "近期没有" in await harness.say(5, "/activities")


async def test_the_guided_dialog_posts_an_activity(harness: Harness) -> None:
    await branch(harness)
    assert "名称" in await harness.say(SECRETARY, "/activity")
    assert "YYYY-MM-DD HH:MM-HH:MM" in await harness.say(SECRETARY, "敬老院慰问")
    assert "看不懂时间" in await harness.say(SECRETARY, "明天下午")
    assert "地点" in await harness.say(SECRETARY, "2026-12-06 14:00-16:00")
    assert "名额" in await harness.say(SECRETARY, "市第二敬老院")
    replies = await harness.send(SECRETARY, "8")
    assert "截止" in (replies[0].text or "")
    _, preview = await harness.press(SECRETARY, replies[0], "vg:d:0")
    text = preview[0].text or ""
    assert "敬老院慰问" in text and "8 人" in text and "活动开始时" in text and "第一支部" in text
    _, done = await harness.press(SECRETARY, preview[0], "vg:c:1")
    assert "已发布活动 #1「敬老院慰问」" in (done[0].text or "")
    # The dialog is over: the old confirm button does nothing more.
    answer, _ = await harness.press(SECRETARY, preview[0], "vg:c:1")
    assert answer.get("show_alert")
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count(Activity.id))) == 1
        assert await session.scalar(select(func.count(Job.id)).where(Job.kind == "activity_close"))


async def test_showing_and_cancelling_an_activity(harness: Harness) -> None:
    await branch(harness)
    aid = await post(harness, LINE.format(places=1))
    await press_signup(harness, 1, aid)
    await press_signup(harness, 2, aid)
    replies = await harness.send(SECRETARY, f"/activity {aid}")
    text = replies[0].text or ""
    assert "报名中" in text and "报名 1/1，候补 1 人" in text
    assert button_data(replies[0], "名单") == f"va:ro:{aid}"
    assert "用法" in await harness.say(SECRETARY, f"/activity {aid} 改期")
    reply = await harness.say(SECRETARY, f"/activity {aid} cancel 天气原因")
    assert "已取消活动" in reply and "已通知 2 人" in reply
    await harness.flush()
    assert any("天气原因" in (m.text or "") for m in harness.sandbox.messages_to(2))
    answer, _ = await harness.press(3, invitation_to(harness, 3, aid), f"va:su:{aid}")
    assert answer.get("show_alert") and "已取消" in answer.get("text", "")


async def test_signing_up_from_the_list_keeps_the_other_buttons(harness: Harness) -> None:
    await branch(harness)
    first = await post(harness, LINE.format(places=5))
    second = await post(harness, "/activity 敬老院慰问 | 2026-12-06 14:00-16:00 | 敬老院 | 2")
    replies = await harness.send(1, "/activities")
    listing = replies[-1]
    await harness.press(1, listing, f"va:su:{first}")
    # The list still offers the other activity; the sign-up itself is stored.
    assert button_data(listing, f"报名 #{second} 敬老院慰问") == f"va:su:{second}"
    assert (await signups(harness, first))["张三"].status == "confirmed"
    # A secretary's list offers no 「报名」 for an activity they cannot join.
    other = await harness.org.member(
        "二支书记", telegram_id=30, role=Role.SECRETARY, branch="第二支部"
    )
    assert other.branch_id is not None
    replies = await harness.send(SECRETARY, "/activities")
    assert len(replies) == 2  # the list, and the buttons for the two activities of its branch
    assert "近期没有" in await harness.say(30, "/activities")


async def test_the_guided_dialog_answers_text_at_its_confirm_step(harness: Harness) -> None:
    await branch(harness)
    await harness.say(SECRETARY, "/activity")
    for answer in ("敬老院慰问", "2026-12-06 14:00-16:00", "市第二敬老院"):
        await harness.say(SECRETARY, answer)
    deadline = await harness.send(SECRETARY, "8")
    await harness.press(SECRETARY, deadline[0], "vg:d:0")
    assert "请点上面的「发布」或「取消」" in await harness.say(SECRETARY, "好的")
    replies = await harness.upload(SECRETARY, "说明.pdf", b"%PDF-1.4")
    assert [r.text for r in replies] == ["请点上面的「发布」或「取消」。"]
