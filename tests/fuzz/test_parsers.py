"""Hypothesis properties for everything that reads what people type or upload: any input gives
a clear, catalogued refusal or a well-formed result, never an exception that escapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import DomainError
from bot.services import (
    compliance,
    ledger,
    meeting_kinds,
    money,
    recurrence,
    reminders,
    roster_csv,
    timepolls,
    volunteer_hours,
)
from bot.texts import CATALOGS
from handlers import common, meetings, study, tasks, volunteer_records, volunteers
from handlers import timepolls as poll_handlers

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
CALL: Any = SimpleNamespace(
    deps=SimpleNamespace(config=SimpleNamespace(organisation=SimpleNamespace(tz=TZ)))
)
# Text as people type it: digits, separators and Chinese mixed with anything at all.
TYPED = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("0123456789-:/. 年月日号周每天节前后QqHh|｜#@截止元¥")),
    st.from_regex(r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}(-\d{1,2}:\d{2})?", fullmatch=True),
)
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refused_clearly(error: Exception) -> bool:
    """A refusal the user can read: a domain error whose text exists in the catalog."""
    if isinstance(error, DomainError):
        return error.key in CATALOGS["zh"]
    return isinstance(error, recurrence.ScheduleError | roster_csv.RosterFileError)


def check(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except Exception as error:
        assert refused_clearly(error), f"{parse}({text!r}) raised {error!r}"
        return None


@QUICK
@given(TYPED)
def test_dates_and_times(text: str) -> None:
    when = check(lambda s: meetings.parse_when(s, CALL), text)
    assert when is None or when.tzinfo is TZ
    span = check(lambda s: volunteers.parse_range(s, CALL), text)
    assert span is None or span[0].date() == span[1].date()
    due = check(lambda s: tasks.parse_date(s, TODAY), text)
    assert due is None or due.year <= TODAY.year + tasks.MAX_YEARS_AHEAD
    check(lambda s: study.parse_deadline(s, TODAY, TZ), text)
    check(lambda s: study.parse_publish_time(s, TZ, NOW), text)
    slot = check(lambda s: timepolls.parse_slot(s, TZ, NOW), text)
    # Without a year the next such date is meant; a year typed out may be a past one.
    assert slot is None or slot > NOW or str(slot.astimezone(TZ).year) in text


@QUICK
@given(TYPED)
def test_periods(text: str) -> None:
    period = check(lambda s: ledger.parse_report_period(s, TODAY), text)
    assert period is None or period.start < period.end
    view = check(lambda s: compliance.parse_period(s, TODAY), text)
    assert view is None or view.start < view.end
    span = check(lambda s: volunteer_records.parse_hours_period(s, TODAY), text)
    assert span is None or span[0] < span[1]


@QUICK
@given(TYPED)
def test_numbers(text: str) -> None:
    cents = check(money.parse_amount, text)
    assert cents is None or 0 <= cents <= 10_000_000
    minutes = check(volunteer_hours.parse_hours, text)
    assert minutes is None or 0 <= minutes <= 24 * 60
    places = check(volunteers.parse_capacity, text)
    assert places is None or places >= 0
    number = common.parse_id(text)
    assert number is None or 0 <= number <= 999_999_999


@QUICK
@given(TYPED)
def test_schedules_kinds_and_holidays(text: str) -> None:
    schedule = check(lambda s: recurrence.parse_schedule(s, TZ, NOW), text)
    assert schedule is None or schedule.first > NOW
    check(reminders.parse_holiday, text)
    assert meeting_kinds.parse_kind(text) in (None, "general", "committee", "group", "lecture")
    first, _ = common.split_word(text)
    assert not first.strip() or first == first.strip()
    check(poll_handlers.parse_request, text)


ROW = st.lists(st.text(max_size=12), min_size=0, max_size=7)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.lists(ROW, max_size=8).map(
            lambda rows: "\n".join(
                ",".join(r) for r in [["姓名", "支部", "党小组", "党费"], *rows]
            ).encode("utf-8")
        ),
    )
)
def test_roster_csv(data: bytes) -> None:
    try:
        parsed = roster_csv.parse_roster(roster_csv.decode(data), default_branch="第一支部")
    except roster_csv.RosterFileError:
        return
    lines = {row.line for row in parsed.rows} | {error.line for error in parsed.errors}
    # Every row is either read or refused with its line; none vanishes into an exception.
    assert all(line >= 2 for line in lines)
    for row in parsed.rows:
        assert row.name and row.branch
        assert row.dues_cents is None or row.dues_cents >= 0
