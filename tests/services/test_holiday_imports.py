"""The imported notice in the store and on the command line: `branchbot holidays import|show`,
the warning of `branchbot config check`, the calendar an organisation's reminders use, and the
November/December reminder to admins (fired by the scheduler, once a month)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import cli_holidays
from bot.app import make_scheduler, prepare_database
from bot.cli import main
from bot.config import parse_config
from bot.errors import Denied, Invalid
from bot.services import holiday_notices
from bot.services.holiday_calendar import load_calendar, missing_years
from bot.services.holidays import BUILT_IN, Holiday, Source
from handlers.common import Deps
from storage.db import Database
from storage.models import Delivery, Role
from tests.conftest import OrgBuilder

TZ = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).parents[1] / "fixtures"
NOTICE_2026 = FIXTURES / "holiday_notice_2026.txt"
# Invented for the tests: no 2027 notice was known when they were written.
NOTICE_2027 = FIXTURES / "holiday_notice_2027_invented.txt"


def config_file(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n{extra}')
    return cfg


def test_cli_import_with_yes_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(tmp_path)
    assert main(["holidays", "show", "2027", "--config", str(cfg)]) == 0
    assert "来源：估算" in capsys.readouterr().out
    assert main(["holidays", "import", str(NOTICE_2027), "--config", str(cfg), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "国务院办公厅关于2027年部分节假日安排的通知" in out
    assert "春节：2月5日（周五）至2月14日（周日），共 10 天" in out
    assert "已导入 2027 年放假安排：放假 34 天，调休上班 8 天。" in out
    assert main(["holidays", "show", "2027", "--config", str(cfg)]) == 0
    shown = capsys.readouterr().out
    assert "来源：导入的国务院通知" in shown and "命令行导入" in shown
    assert "调休上班：1月31日（周日）、2月20日（周六）〔导入的通知〕" in shown
    assert main(["holidays", "show", "2026", "--config", str(cfg)]) == 0
    assert "〔官方日历〕" in capsys.readouterr().out
    assert main(["holidays", "show", "1999", "--config", str(cfg)]) == 2
    assert "年份须在 2000 至 2100 年之间" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("answer", "status", "said"),
    [("y\n", 0, "已导入 2026 年"), ("n\n", 1, "未导入。"), ("", 1, "加 --yes")],
)
def test_cli_import_asks_first(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    status: int,
    said: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    cfg = config_file(tmp_path)
    assert main(["holidays", "import", str(NOTICE_2026), "--config", str(cfg)]) == status
    captured = capsys.readouterr()
    assert "导入这份通知？[y/N]" in captured.out
    assert "与已安装的官方日历完全一致" in captured.out
    assert said in captured.out + captured.err


def test_cli_import_of_what_is_no_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path)
    broken = tmp_path / "notice.txt"
    broken.write_text(NOTICE_2027.read_text(encoding="utf-8").replace("共10天", "共8天"))
    assert main(["holidays", "import", str(broken), "--config", str(cfg), "--yes"]) == 1
    assert "天数与日期不符（春节：共8天 / 10）" in capsys.readouterr().err
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(NOTICE_2026.read_text(encoding="utf-8").encode("gbk"))
    assert main(["holidays", "import", str(gbk), "--config", str(cfg), "--yes"]) == 0
    capsys.readouterr()
    assert main(["holidays", "import", str(tmp_path / "none.txt"), "--config", str(cfg)]) == 2
    assert "找不到文件" in capsys.readouterr().err


def test_config_check_warns_of_a_missing_arrangement_until_it_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config_file(tmp_path)
    monkeypatch.setattr(cli_holidays, "today_in", lambda config: date(2026, 11, 20))
    # No database yet: checked against the installed calendar, and nothing is created.
    assert main(["config", "check", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "warning: holidays: 2027 年没有官方放假安排" in err
    assert "branchbot holidays import 通知.txt --config" in err
    assert not (tmp_path / "c.db").exists()
    assert main(["holidays", "import", str(NOTICE_2027), "--config", str(cfg), "--yes"]) == 0
    capsys.readouterr()
    assert main(["config", "check", "--config", str(cfg)]) == 0
    assert "holidays" not in capsys.readouterr().err
    # Before November next year's arrangement is not due; this year's is installed.
    monkeypatch.setattr(cli_holidays, "today_in", lambda config: date(2026, 6, 1))
    assert cli_holidays.check_warnings(parse_config({}, env={}), "b.toml") == []
    # A year past the installed calendar with nothing imported is warned of all year.
    monkeypatch.setattr(cli_holidays, "today_in", lambda config: date(2028, 3, 1))
    assert main(["config", "check", "--config", str(cfg)]) == 0
    assert "warning: holidays: 2028 年没有官方放假安排" in capsys.readouterr().err


def test_missing_years() -> None:
    assert missing_years(BUILT_IN, date(2026, 10, 31)) == []
    assert missing_years(BUILT_IN, date(2026, 11, 1)) == [2027]
    assert missing_years(BUILT_IN, date(2027, 5, 1)) == [2027]
    assert missing_years(BUILT_IN, date(2027, 12, 1)) == [2027, 2028]


async def test_a_confirmed_notice_is_the_calendar_in_force(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    admin = (await org.member("管理员", role=Role.ADMIN, telegram_id=5)).actor()
    secretary = (await org.member("书记", role=Role.SECRETARY, telegram_id=6)).actor()
    text = NOTICE_2027.read_text(encoding="utf-8")
    now = datetime(2026, 12, 5, 10, 0, tzinfo=TZ)
    async with db.write() as session:
        with pytest.raises(Denied):
            await holiday_notices.stage_notice(session, org_id, secretary, text, now=now)
    async with db.write() as session:
        with pytest.raises(Invalid) as info:
            await holiday_notices.stage_notice(
                session, org_id, admin, "一、元旦：1月1日放假", now=now
            )
    assert info.value.key == "holidays.err.no_year"
    async with db.write() as session:
        preview = await holiday_notices.stage_notice(session, org_id, admin, text, now=now)
    assert preview.instead is Source.ESTIMATE and preview.differs is None
    async with db.read() as session:
        assert (await load_calendar(session, org_id)).source(2027) is Source.ESTIMATE
    settings = Deps(parse_config({}, env={}), db, org_id).push
    assert preview.notice_id is not None
    async with db.write() as session:
        imported = await holiday_notices.confirm_notice(
            session, settings, preview.notice_id, admin, now=now
        )
    assert (imported.year, imported.days_off, imported.workdays) == (2027, 34, 8)
    async with db.read() as session:
        calendar = await load_calendar(session, org_id)
        view = await holiday_notices.year_view(session, org_id, 2027)
    assert calendar.source(2027) is Source.NOTICE and calendar.source(2026) is Source.OFFICIAL
    assert calendar.is_working_day(date(2027, 1, 31))  # a Sunday the notice makes a working day
    assert not BUILT_IN.is_working_day(date(2027, 1, 31))
    spring = next(b for b in view.breaks if b.holiday is Holiday.SPRING_FESTIVAL)
    assert (spring.start, spring.end, spring.source) == (
        date(2027, 2, 5),
        date(2027, 2, 14),
        Source.NOTICE,
    )
    assert spring.makeup_workdays == (date(2027, 1, 31), date(2027, 2, 20))
    assert view.notice_by == "管理员"
    assert missing_years(calendar, date(2026, 12, 5)) == []


async def _alerts(db: Database) -> list[tuple[int, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Delivery.chat_id, Delivery.text).where(Delivery.purpose == "notice")
        )
        return [(chat, text) for chat, text in rows if "放假安排尚未收录" in text]


async def test_admins_hear_in_november_and_december_once_a_month(db: Database) -> None:
    config = parse_config(
        {
            "organisation": {"admins": [77]},
            "meetings": {"compliance_remind_days": 0},
            "dues": {"remind_day": 0},
            "holidays": {"notice_reminder_time": "09:30"},
        },
        env={},
    )
    config = replace(config, database=replace(config.database, url=db.url))
    org_id = await prepare_database(config, db, datetime(2026, 10, 20, 12, 0, tzinfo=TZ))
    scheduler = make_scheduler(Deps(config, db, org_id))

    async def at(moment: datetime) -> list[tuple[int, str]]:
        scheduler.clock = lambda: moment
        await scheduler.run_due()
        return await _alerts(db)

    assert await at(datetime(2026, 10, 31, 9, 30, tzinfo=TZ)) == []
    [(chat, text)] = await at(datetime(2026, 11, 1, 9, 30, tzinfo=TZ))
    assert chat == 77
    assert "2027 年的放假安排尚未收录" in text and "/holidays import" in text
    # The same day again, and every other day of November: nothing more.
    assert len(await at(datetime(2026, 11, 1, 9, 30, tzinfo=TZ))) == 1
    # Nor after a restart (the start-up keeps the daily job as it is).
    await prepare_database(config, db, datetime(2026, 11, 1, 9, 31, tzinfo=TZ))
    scheduler = make_scheduler(Deps(config, db, org_id))
    assert len(await at(datetime(2026, 11, 1, 9, 32, tzinfo=TZ))) == 1
    assert len(await at(datetime(2026, 11, 2, 9, 30, tzinfo=TZ))) == 1
    assert len(await at(datetime(2026, 11, 30, 9, 30, tzinfo=TZ))) == 1
    # December: once more.
    assert len(await at(datetime(2026, 12, 1, 9, 30, tzinfo=TZ))) == 2
    assert len(await at(datetime(2026, 12, 2, 9, 30, tzinfo=TZ))) == 2


async def test_no_alert_once_the_notice_is_in_force_or_outside_the_season(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    from bot.scheduler import Firing

    settings = Deps(parse_config({}, env={}), db, org_id).push

    async def fire(moment: datetime) -> int:
        async with db.write() as session:
            await holiday_notices.fire_alert(
                session, settings, Firing(1, org_id, {}, moment, moment, None)
            )
            await session.commit()
        return len(await _alerts(db))

    # No admin to tell: nothing sent and nothing marked, so one who binds later hears.
    assert await fire(datetime(2026, 11, 3, 9, 0, tzinfo=TZ)) == 0
    await org.member("管理员", role=Role.ADMIN, telegram_id=5)
    assert await fire(datetime(2026, 11, 4, 9, 0, tzinfo=TZ)) == 1
    assert await fire(datetime(2027, 1, 4, 9, 0, tzinfo=TZ)) == 1
    async with db.write() as session:
        await holiday_notices.import_notice(
            session, settings, NOTICE_2027.read_text(encoding="utf-8"), now=datetime.now(TZ)
        )
    assert await fire(datetime(2026, 12, 1, 9, 0, tzinfo=TZ)) == 1
