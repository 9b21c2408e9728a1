"""/holidays in chat: what is in force for a year and where it comes from; an admin pasting the
State Council's notice after `/holidays import` (a dialog kept in the database), shown for
confirmation (确认/取消) and then used by holiday reminders; the role check; and the warning when
a reminder's dates are estimates.

The 2027 notice used here is invented (tests/fixtures/holiday_notice_2027_invented.txt): no
2027 notice was known when this was written. Its Spring Festival has a working Sunday, 31
January, which the estimate knows nothing of."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from bot.sandbox import SentMessage
from storage.models import AuditEntry, DialogState, HolidayNotice, Item, Job, Member, Role
from tests.handlers.conftest import ADMIN_ID, Harness
from tests.handlers.test_dialog_states import dialog_rows, restarted

TZ = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).parents[1] / "fixtures"
NOTICE_2026 = (FIXTURES / "holiday_notice_2026.txt").read_text(encoding="utf-8")
NOTICE_2027 = (FIXTURES / "holiday_notice_2027_invented.txt").read_text(encoding="utf-8")
SECRETARY, ZHANG = 1, 11


async def setup(harness: Harness) -> None:
    await harness.org.member("书记", role=Role.SECRETARY, telegram_id=SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)


def buttons(message: SentMessage) -> dict[str, str]:
    assert message.reply_markup is not None, "expected buttons"
    return {
        b["text"]: b["callback_data"]
        for row in message.reply_markup["inline_keyboard"]
        for b in row
    }


async def notices(harness: Harness) -> list[tuple[int, str]]:
    async with harness.deps.db.read() as session:
        rows = await session.execute(
            select(HolidayNotice.year, HolidayNotice.status).order_by(HolidayNotice.id)
        )
        return [(year, status) for year, status in rows]


async def test_holidays_lists_a_year_and_where_its_dates_come_from(harness: Harness) -> None:
    await setup(harness)
    harness.set_now(datetime(2026, 12, 5, 10, 0, tzinfo=TZ))
    this_year = await harness.say(SECRETARY, "/holidays")
    assert "2026 年放假安排" in this_year and "来源：已安装的官方日历" in this_year
    assert (
        "春节：2月15日（周日）至2月23日（周一），共 9 天；"
        "调休上班：2月14日（周六）、2月28日（周六）〔官方日历〕" in this_year
    )
    estimate = await harness.say(SECRETARY, "/holidays 2027")
    assert "来源：估算" in estimate and "〔估算〕" in estimate and "/holidays import" in estimate
    assert "年份须在 2000 至 2100 年之间" in await harness.say(SECRETARY, "/holidays 1999")
    assert "用法" in await harness.say(SECRETARY, "/holidays 明年")
    assert "没有使用此命令的权限" in await harness.say(ZHANG, "/holidays")


async def test_an_admin_pastes_the_notice_confirms_it_and_it_is_in_force(
    harness: Harness,
) -> None:
    await setup(harness)
    harness.set_now(datetime(2026, 12, 5, 10, 0, tzinfo=TZ))
    assert "粘贴发给我" in await harness.say(ADMIN_ID, "/holidays import")
    [shown] = await harness.send(ADMIN_ID, NOTICE_2027)
    text = shown.text or ""
    assert "国务院办公厅关于2027年部分节假日安排的通知" in text
    assert (
        "春节：2月5日（周五）至2月14日（周日），共 10 天；"
        "调休上班：1月31日（周日）、2月20日（周六）" in text
    )
    assert "共 7 项，放假 34 天，调休上班 8 天" in text
    assert "代替现在的估算日期" in text
    choices = buttons(shown)
    assert list(choices) == ["确认", "取消"]
    assert await notices(harness) == [(2027, "pending")]
    # Not in force before it is confirmed.
    assert "来源：估算" in await harness.say(SECRETARY, "/holidays 2027")

    answer, [done] = await harness.press(ADMIN_ID, shown, choices["确认"])
    assert not answer.get("show_alert")
    # The buttons are gone from the preview.
    assert shown.reply_markup is None
    assert "已导入 2027 年放假安排：放假 34 天，调休上班 8 天" in (done.text or "")
    assert await notices(harness) == [(2027, "active")]
    listing = await harness.say(SECRETARY, "/holidays 2027")
    assert "来源：导入的国务院通知" in listing and "管理员 9000" in listing
    assert (
        "春节：2月5日（周五）至2月14日（周日），共 10 天；"
        "调休上班：1月31日（周日）、2月20日（周六）〔导入的通知〕" in listing
    )
    # Pressed again: settled, nothing changes.
    answer, replies = await harness.press(ADMIN_ID, shown, choices["确认"])
    assert answer.get("show_alert") and "已处理过（已导入）" in answer["text"]
    assert replies == []
    async with harness.deps.db.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert actions.count("holidays.imported") == 1


async def test_the_notice_after_the_command_and_a_second_notice_replaces_the_first(
    harness: Harness,
) -> None:
    [shown] = await harness.send(ADMIN_ID, "/holidays import\n" + NOTICE_2026)
    assert "与已安装的官方日历完全一致" in (shown.text or "")
    await harness.press(ADMIN_ID, shown, buttons(shown)["确认"])
    [again] = await harness.send(ADMIN_ID, "/holidays import " + NOTICE_2026)
    assert "代替2026-" in (again.text or "").replace(" ", "")
    await harness.press(ADMIN_ID, again, buttons(again)["确认"])
    assert await notices(harness) == [(2026, "replaced"), (2026, "active")]


async def test_cancel_stores_nothing_in_force(harness: Harness) -> None:
    [shown] = await harness.send(ADMIN_ID, "/holidays import\n" + NOTICE_2027)
    choices = buttons(shown)
    _, [reply] = await harness.press(ADMIN_ID, shown, choices["取消"])
    assert "已取消，未导入" in (reply.text or "")
    assert await notices(harness) == [(2027, "cancelled")]
    answer, _ = await harness.press(ADMIN_ID, shown, choices["确认"])
    assert answer.get("show_alert") and "已处理过（已取消）" in answer["text"]


async def test_an_unreadable_notice_says_why_and_a_corrected_one_is_read(
    harness: Harness,
) -> None:
    broken = NOTICE_2027.replace("共10天", "共8天")
    reply = await harness.say(ADMIN_ID, "/holidays import\n" + broken)
    assert "无法读取这份通知：天数与日期不符（春节：共8天 / 10）" in reply
    assert await notices(harness) == []
    # In the dialog: whatever comes next is read as the notice, and says why it does not read;
    # the dialog waits for a corrected text.
    await harness.say(ADMIN_ID, "/holidays import")
    reply = await harness.say(ADMIN_ID, broken)
    assert "天数与日期不符（春节：共8天 / 10）" in reply and "重新粘贴" in reply
    reply = await harness.say(ADMIN_ID, "2027年放假安排：元旦1月1日至3日")
    assert "无法读取这份通知" in reply
    assert "不是文件或图片" in await harness.say(ADMIN_ID, "   ")
    assert await notices(harness) == [] and await dialog_rows(harness.deps.db) == 1
    [shown] = await harness.send(ADMIN_ID, NOTICE_2027)
    assert list(buttons(shown)) == ["确认", "取消"]
    # Read and staged, the dialog is over: the next message is an ordinary one.
    assert await notices(harness) == [(2027, "pending")]
    assert await dialog_rows(harness.deps.db) == 0
    assert "/help" in await harness.say(ADMIN_ID, NOTICE_2027)
    assert await notices(harness) == [(2027, "pending")]


async def test_the_notice_pasted_after_a_restart_is_read(harness: Harness) -> None:
    assert "粘贴发给我" in await harness.say(ADMIN_ID, "/holidays import")
    async with restarted(harness) as second:
        [shown] = await second.send(ADMIN_ID, NOTICE_2027)
    assert "国务院办公厅关于2027年部分节假日安排的通知" in (shown.text or "")
    assert await notices(harness) == [(2027, "pending")]


async def test_the_notice_after_the_command_ends_an_open_paste_dialog(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "/holidays import")
    [shown] = await harness.send(ADMIN_ID, "/holidays import " + NOTICE_2027)
    assert list(buttons(shown)) == ["确认", "取消"]
    assert await dialog_rows(harness.deps.db) == 0
    assert "/help" in await harness.say(ADMIN_ID, "你好")


async def test_cancel_ends_the_paste_dialog(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "/holidays import")
    assert "已取消" in await harness.say(ADMIN_ID, "/cancel")
    assert "/help" in await harness.say(ADMIN_ID, NOTICE_2027)
    assert await notices(harness) == []


async def test_an_admin_demoted_mid_dialog_is_refused_and_the_dialog_ends(
    harness: Harness,
) -> None:
    await harness.org.member("王管理", role=Role.ADMIN, telegram_id=3)
    await harness.say(3, "/holidays import")
    async with harness.deps.db.write() as session:
        await session.execute(
            update(Member).where(Member.telegram_user_id == 3).values(role=Role.SECRETARY)
        )
        await session.commit()
    assert "没有使用此命令的权限" in await harness.say(3, NOTICE_2027)
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(DialogState))).all() == []
    assert await notices(harness) == []


async def test_only_admins_may_import(harness: Harness) -> None:
    await setup(harness)
    assert "没有使用此命令的权限" in await harness.say(SECRETARY, "/holidays import " + NOTICE_2027)
    assert "没有使用此命令的权限" in await harness.say(SECRETARY, "/holidays import")
    assert "没有使用此命令的权限" in await harness.say(SECRETARY, "/holidays_import")
    # A secretary (or a member) pasting the notice gets the usual hint, not a preview.
    assert "/help" in await harness.say(SECRETARY, NOTICE_2027)
    assert "/help" in await harness.say(ZHANG, NOTICE_2027)
    assert await notices(harness) == []
    # An admin's staged notice: another's press is refused, by role and by owner.
    [shown] = await harness.send(ADMIN_ID, "/holidays import\n" + NOTICE_2027)
    answer, _ = await harness.press(SECRETARY, shown, buttons(shown)["确认"])
    assert answer.get("show_alert") and "没有使用此命令的权限" in answer["text"]
    await harness.org.member("另一位管理员", role=Role.ADMIN, telegram_id=2)
    answer, _ = await harness.press(2, shown, buttons(shown)["确认"])
    assert answer.get("show_alert") and "不是给您的" in answer["text"]
    answer, _ = await harness.press(ADMIN_ID, shown, "hol:ok:999999")
    assert answer.get("show_alert") and "找不到这份通知" in answer["text"]
    assert await notices(harness) == [(2027, "pending")]


async def test_holiday_reminders_follow_the_imported_notice(harness: Harness) -> None:
    await setup(harness)
    harness.set_now(datetime(2027, 1, 20, 10, 0, tzinfo=TZ))
    reply = await harness.say(SECRETARY, "/remind 节前5天 09:00")
    # The preview says the dates are estimates.
    assert "2027 年的放假安排尚未收录" in reply
    async with harness.deps.db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == "holiday_reminder"))
    assert job is not None and job.next_run_at is not None
    # Estimated: Spring Festival from Friday 5 February; five working days before: 29 January.
    assert job.next_run_at.astimezone(TZ) == datetime(2027, 1, 29, 9, 0, tzinfo=TZ)

    await harness.say(ADMIN_ID, "/holidays import")
    [shown] = await harness.send(ADMIN_ID, NOTICE_2027)
    _, [done] = await harness.press(ADMIN_ID, shown, buttons(shown)["确认"])
    assert "1 条节前提醒已按新日期重新安排" in (done.text or "")
    async with harness.deps.db.read() as session:
        moved = await session.get(Job, job.id)
    # The notice makes Sunday 31 January a working day: it is the fifth working day before.
    assert moved is not None and moved.next_run_at is not None
    assert moved.next_run_at.astimezone(TZ) == datetime(2027, 1, 31, 9, 0, tzinfo=TZ)
    # Nothing on the estimated day; the reminder on the notice's working Sunday.
    await harness.fire_jobs(datetime(2027, 1, 29, 9, 1, tzinfo=TZ))
    async with harness.deps.db.read() as session:
        assert (await session.scalars(select(Item.title))).all() == []
    await harness.fire_jobs(datetime(2027, 1, 31, 9, 0, tzinfo=TZ))
    async with harness.deps.db.read() as session:
        titles = (await session.scalars(select(Item.title))).all()
    assert titles == ["春节廉政提醒"]
    await harness.flush(datetime(2027, 1, 31, 9, 0, tzinfo=TZ))
    assert "春节" in (harness.sandbox.messages_to(ZHANG)[-1].text or "")
    # With the notice in force, a new holiday reminder's preview warns of nothing.
    assert "尚未收录" not in await harness.say(SECRETARY, "/remind 节前3天 09:00")


async def test_help_lists_the_commands_by_role(harness: Harness) -> None:
    await setup(harness)
    admin_help = await harness.say(ADMIN_ID, "/help")
    assert "/holidays [年份]" in admin_help and "/holidays import" in admin_help
    secretary_help = await harness.say(SECRETARY, "/help")
    assert "/holidays [年份]" in secretary_help and "/holidays import" not in secretary_help
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(HolidayNotice)) == 0
