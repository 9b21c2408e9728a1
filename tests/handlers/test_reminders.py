"""Integrity reminders through the handlers, and holiday reminders on the right days."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.sandbox import button_data
from bot.scheduler import Firing
from bot.services import holidays, reminders
from storage.models import Item, Job, Member, Receipt, Role
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
SECRETARY, ZHANG = 1, 11


async def setup(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)


async def test_weekly_reminder_is_created_listed_fired_and_read(harness: Harness) -> None:
    await setup(harness)
    reply = await harness.say(SECRETARY, "/remind 每周五 17:00 | 节日期间严守八项规定")
    assert "已设置提醒 #" in reply and "每周五 17:00" in reply
    async with harness.deps.db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == "reminder"))
    assert job is not None and job.next_run_at is not None
    local = job.next_run_at.astimezone(TZ)
    assert (local.weekday(), local.time()) == (4, time(17, 0))
    assert "节日期间严守八项规定" in await harness.say(SECRETARY, "/reminders")

    assert await harness.fire_jobs(job.next_run_at) >= 1
    await harness.flush(job.next_run_at)
    pushed = harness.sandbox.messages_to(ZHANG)[-1]
    assert "廉政提醒" in (pushed.text or "")
    assert harness.sandbox.button_texts(pushed) == ["已阅"]
    answer, _ = await harness.press(ZHANG, pushed, button_data(pushed, "已阅"))
    assert answer["text"] == "已记录，谢谢！"
    async with harness.deps.db.read() as session:
        job = await session.get(Job, job.id)
        assert job is not None and job.active and job.runs == 1
        assert job.next_run_at is not None and job.next_run_at.astimezone(TZ).weekday() == 4


async def test_cancel_and_bad_input(harness: Harness) -> None:
    await setup(harness)
    assert "用法：/remind" in await harness.say(SECRETARY, "/remind")
    assert "无法识别时间「随时」" in await harness.say(SECRETARY, "/remind 随时 | 文本")
    assert "请写上提醒内容" in await harness.say(SECRETARY, "/remind 每天 09:00")
    assert "已经过去" in await harness.say(SECRETARY, "/remind 2020-01-01 09:00 | 过去")
    reply = await harness.say(SECRETARY, "/remind 每月1日 09:00 | 月初提醒")
    job_id = int(reply.split("#")[1].split("：")[0])
    assert "找不到提醒 #999" in await harness.say(SECRETARY, "/unremind 999")
    assert f"已取消提醒 #{job_id}" in await harness.say(SECRETARY, f"/unremind {job_id}")
    assert "没有进行中的定期提醒" in await harness.say(SECRETARY, "/reminders")


async def test_reminders_of_another_branch_are_invisible(harness: Harness) -> None:
    await setup(harness)
    await harness.org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=2)
    reply = await harness.say(SECRETARY, "/remind 每天 09:00 | 一支部提醒")
    job_id = int(reply.split("#")[1].split("：")[0])
    assert "没有进行中的定期提醒" in await harness.say(2, "/reminders")
    assert "找不到提醒" in await harness.say(2, f"/unremind {job_id}")


async def test_holiday_reminder_dates_for_2026(harness: Harness) -> None:
    settings = harness.deps.push
    after = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)
    first = reminders.next_holiday_run(settings, 3, time(9, 0), after)
    # New Year's Day 2027 break starts on Friday 2027-01-01: three working days before it.
    assert first == datetime(2026, 12, 29, 9, 0, tzinfo=TZ)


def test_holiday_reminder_lands_on_an_adjusted_working_day() -> None:
    """2026 Spring Festival break: 15-23 Feb; Saturday 14 Feb is an adjusted working day (State
    Council notice for 2026, as transcribed by chinese-calendar)."""
    spring = next(
        b for b in holidays.holiday_breaks(2026) if b.holiday is holidays.Holiday.SPRING_FESTIVAL
    )
    assert (spring.start, spring.end) == (date(2026, 2, 15), date(2026, 2, 23))
    assert holidays.reminder_day(spring, 1) == date(2026, 2, 14)
    assert date(2026, 2, 14).weekday() == 5 and holidays.is_working_day(date(2026, 2, 14))


async def test_holiday_job_fires_with_default_text_and_moves_on(harness: Harness) -> None:
    await setup(harness)
    settings = harness.deps.push
    saturday = datetime(2026, 2, 14, 9, 0, tzinfo=TZ)
    payload = {
        "days_before": 1,
        "time": "09:00",
        "text": "",
        "urgent": False,
        "audience_kind": "org",
        "audience_id": None,
        "audience": "",
    }
    async with harness.deps.db.write() as session:
        job = Job(
            organisation_id=settings.org_id,
            kind="holiday_reminder",
            payload=json.dumps(payload),
            anchor=saturday,
            next_run_at=saturday,
        )
        session.add(job)
        await session.flush()
        next_run = await reminders.fire_holiday_reminder(
            session, settings, Firing(job.id, settings.org_id, payload, saturday, saturday, None)
        )
        await session.commit()
    # The next break after Spring Festival 2026 is Qingming (4-6 Apr; Fri 3 Apr is the last
    # working day before it).
    assert next_run == datetime(2026, 4, 3, 9, 0, tzinfo=TZ)
    async with harness.deps.db.read() as session:
        item = await session.scalar(select(Item))
        receipts = (await session.scalars(select(Receipt))).all()
    assert item is not None and item.title == "春节廉政提醒"
    assert item.body == holidays.DEFAULT_REMINDER_TEXTS[holidays.Holiday.SPRING_FESTIVAL]["zh"]
    assert len(receipts) == 2


async def test_holiday_reminder_command(harness: Harness) -> None:
    await setup(harness)
    reply = await harness.say(SECRETARY, "/remind 节前3天 09:00")
    assert "节前 3 个工作日 09:00" in reply
    assert "节前天数" in await harness.say(SECRETARY, "/remind 节前99天 09:00")


async def test_holiday_texts_are_editable_per_branch(harness: Harness) -> None:
    await setup(harness)
    listing = await harness.say(SECRETARY, "/holidaytext")
    assert "春节" in listing and "（默认）" in listing
    assert "未知节日「圣诞节」" in await harness.say(SECRETARY, "/holidaytext 圣诞节 | 文本")
    assert "用法：/holidaytext" in await harness.say(SECRETARY, "/holidaytext 春节")
    assert "已更新春节的提醒内容" in await harness.say(
        SECRETARY, "/holidaytext 春节 | 本支部<春节>提醒：不收红包。"
    )
    listing = await harness.say(SECRETARY, "/holidaytext")
    assert "（本支部）：本支部&lt;春节&gt;提醒：不收红包。" in listing
    assert "没有使用此命令的权限" in await harness.say(ZHANG, "/holidaytext 春节 | 我来改")

    # The branch's reminder uses the branch's text; the organisation's still the default.
    settings = harness.deps.push
    async with harness.deps.db.read() as session:
        secretary = await session.scalar(select(Member).where(Member.telegram_user_id == SECRETARY))
        assert secretary is not None
        text, source = await reminders.holiday_text(
            session, settings.org_id, secretary.branch_id, holidays.Holiday.SPRING_FESTIVAL, "zh"
        )
        org_text, org_source = await reminders.holiday_text(
            session, settings.org_id, None, holidays.Holiday.SPRING_FESTIVAL, "zh"
        )
    assert (text, source) == ("本支部<春节>提醒：不收红包。", "branch")
    assert org_source == "default"
    assert org_text == holidays.DEFAULT_REMINDER_TEXTS[holidays.Holiday.SPRING_FESTIVAL]["zh"]
    assert "已恢复春节的默认提醒内容" in await harness.say(SECRETARY, "/holidaytext 春节 | 默认")
    assert "（本支部）" not in await harness.say(SECRETARY, "/holidaytext")
