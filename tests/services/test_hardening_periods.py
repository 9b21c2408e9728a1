"""One period and date parser with a year range (2000–2100) for chat, the command line and the
API ("Hardening" issue, item 4): a year out of range is refused with a clear message, never an
internal error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.errors import Invalid
from bot.services import compliance, ledger, periods, recurrence
from bot.texts import plain, t
from handlers import volunteer_records

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 5)
NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


# ---------------------------------------------------------------- 4. years out of range


def assert_year_refused(error: Invalid, typed: str) -> None:
    assert error.key == "date.year_range"
    message = plain(t("zh", error.key, **error.params))
    assert typed in message and "2000" in message and "2100" in message, message


@pytest.mark.parametrize(
    "text", ["0000", "9999", "9999-12", "9999-Q4", "9999-H2", "1999", "2101-01", "0001-01"]
)
def test_a_report_period_out_of_range_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        ledger.parse_report_period(text, TODAY)
    assert_year_refused(refused.value, text)


@pytest.mark.parametrize("text", ["9999-12", "0000-Q1", "2101年1月", "1999-q4"])
def test_compliance_and_dues_periods_keep_the_same_range(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        compliance.parse_period(text, TODAY)
    assert_year_refused(refused.value, text)


def test_the_hours_period_keeps_the_same_range() -> None:
    for text in ("9999", "0000年", "9999-12"):
        with pytest.raises(Invalid) as refused:
            volunteer_records.parse_hours_period(text, TODAY)
        assert_year_refused(refused.value, text)
    assert volunteer_records.parse_hours_period("2026年", TODAY) == (
        date(2026, 1, 1),
        date(2027, 1, 1),
        "2026",
    )


def test_the_edges_of_the_range_and_every_form_are_read() -> None:
    for text, key, start, end in (
        ("2000-01", "2000-01", date(2000, 1, 1), date(2000, 2, 1)),
        ("2100-12", "2100-12", date(2100, 12, 1), date(2101, 1, 1)),
        ("2100-Q4", "2100-Q4", date(2100, 10, 1), date(2101, 1, 1)),
        ("2100-H2", "2100-H2", date(2100, 7, 1), date(2101, 1, 1)),
        ("2100", "2100", date(2100, 1, 1), date(2101, 1, 1)),
        ("2026年3月", "2026-03", date(2026, 3, 1), date(2026, 4, 1)),
        ("2026/3", "2026-03", date(2026, 3, 1), date(2026, 4, 1)),
        ("2026年第1季度", "2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026/h1", "2026-H1", date(2026, 1, 1), date(2026, 7, 1)),
    ):
        period = ledger.parse_report_period(text, TODAY)
        assert (period.key, period.start, period.end) == (key, start, end), text
    assert compliance.parse_period("2100-12", TODAY).end == date(2101, 1, 1)
    # The unreadable is still the usage, not the range.
    for bad in ("2026-13", "2026-Q5", "明年"):
        with pytest.raises(Invalid) as refused:
            ledger.parse_report_period(bad, TODAY)
        assert refused.value.key == "period.usage"
    assert periods.parse_span("2026", (periods.MONTH, periods.QUARTER)) is None


@pytest.mark.parametrize("text", ["0001-01-01 00:00", "9999-12-31 23:59", "1999-12-31 09:00"])
def test_a_one_off_schedule_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        recurrence.parse_schedule(text, TZ, NOW)
    assert_year_refused(refused.value, text.split()[0])


def test_the_command_line_refuses_a_year_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "branchbot.toml"
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config.write_text(
        f'[organisation]\nname = "测试局机关党委"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    common = ["--config", str(config), "--period"]
    out = str(tmp_path / "out")
    assert main(["export", *common, "0000", "--format", "csv", "--out", out]) == 2
    assert "年份须在 2000 至 2100 年之间" in capsys.readouterr().err
    assert main(["export", *common, "9999-12", "--format", "csv", "--out", out]) == 2
    assert "年份须在 2000 至 2100 年之间" in capsys.readouterr().err
    docx = str(tmp_path / "s.docx")
    assert main(["summary", *common, "9999-H2", "--out", docx]) == 2
    assert "年份须在 2000 至 2100 年之间" in capsys.readouterr().err
