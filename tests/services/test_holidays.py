"""Holiday breaks, working days and reminder dates.

2026 dates are the State Council's arrangement (国务院办公厅关于2026年部分节假日安排的通知,
https://www.gov.cn/gongbao/2025/issue_12406/202511/content_7048922.html) as transcribed in
chinese-calendar 1.11.0's constants and, independently, in holidays 0.109's China calendar.

No packaged calendar knew the 2027 arrangement when these tests were written, so the 2027
dates below are the labelled estimate. When chinese-calendar ships 2027, those tests fail on
purpose: replace them with the official dates.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from holidays import country_holidays

from bot.services.holidays import (
    DEFAULT_REMINDER_TEXTS,
    Holiday,
    HolidayBreak,
    holiday_breaks,
    holiday_name,
    is_official,
    is_working_day,
    reminder_day,
    upcoming_reminders,
)


def _break(year: int, holiday: Holiday) -> HolidayBreak:
    (found,) = [brk for brk in holiday_breaks(year) if brk.holiday == holiday]
    return found


@pytest.mark.parametrize(
    ("holiday", "start", "end"),
    [
        (Holiday.NEW_YEAR, date(2026, 1, 1), date(2026, 1, 3)),
        (Holiday.SPRING_FESTIVAL, date(2026, 2, 15), date(2026, 2, 23)),
        (Holiday.QINGMING, date(2026, 4, 4), date(2026, 4, 6)),
        (Holiday.LABOUR_DAY, date(2026, 5, 1), date(2026, 5, 5)),
        (Holiday.DRAGON_BOAT, date(2026, 6, 19), date(2026, 6, 21)),
        (Holiday.MID_AUTUMN, date(2026, 9, 25), date(2026, 9, 27)),
        (Holiday.NATIONAL_DAY, date(2026, 10, 1), date(2026, 10, 7)),
    ],
)
def test_2026_break_follows_official_arrangement(holiday: Holiday, start: date, end: date) -> None:
    brk = _break(2026, holiday)
    assert (brk.start, brk.end, brk.official) == (start, end, True)


def test_2026_breaks_are_ordered_by_start() -> None:
    assert [brk.holiday for brk in holiday_breaks(2026)] == list(Holiday)


@pytest.mark.parametrize(
    ("holiday", "makeup"),
    [
        (Holiday.NEW_YEAR, (date(2026, 1, 4),)),
        (Holiday.SPRING_FESTIVAL, (date(2026, 2, 14), date(2026, 2, 28))),
        (Holiday.QINGMING, ()),
        (Holiday.LABOUR_DAY, (date(2026, 5, 9),)),
        (Holiday.DRAGON_BOAT, ()),
        (Holiday.MID_AUTUMN, ()),
        (Holiday.NATIONAL_DAY, (date(2026, 9, 20), date(2026, 10, 10))),
    ],
)
def test_2026_makeup_workdays_belong_to_their_break(
    holiday: Holiday, makeup: tuple[date, ...]
) -> None:
    assert _break(2026, holiday).makeup_workdays == makeup


def test_2026_is_official() -> None:
    assert is_official(2026)


def test_adjusted_working_saturday_is_a_working_day() -> None:
    assert date(2026, 2, 14).weekday() == 5
    assert is_working_day(date(2026, 2, 14))


def test_adjusted_working_sunday_is_a_working_day() -> None:
    assert date(2026, 9, 20).weekday() == 6
    assert is_working_day(date(2026, 9, 20))


def test_weekday_holiday_is_not_a_working_day() -> None:
    assert date(2026, 10, 6).weekday() == 1
    assert not is_working_day(date(2026, 10, 6))


def test_ordinary_weekend_is_not_a_working_day() -> None:
    assert not is_working_day(date(2026, 11, 28))


def test_2026_calendar_agrees_with_holidays_package() -> None:
    other = country_holidays("CN", years=2026)
    working_weekends = set(other.weekend_workdays)
    day = date(2026, 1, 1)
    while day.year == 2026:
        expected = day in working_weekends or (day.weekday() < 5 and day not in other)
        assert is_working_day(day) == expected, day
        day += timedelta(days=1)


def test_reminder_one_day_before_lands_on_adjusted_working_saturday() -> None:
    assert reminder_day(_break(2026, Holiday.SPRING_FESTIVAL), 1) == date(2026, 2, 14)


def test_reminder_lands_on_adjusted_working_sunday() -> None:
    # Thu 24, Wed 23, Tue 22, Mon 21, then the working Sunday 20 September.
    assert reminder_day(_break(2026, Holiday.MID_AUTUMN), 5) == date(2026, 9, 20)


def test_reminder_skips_weekend() -> None:
    # Dragon Boat starts Friday 19 June: Thu 18 … Mon 15, then back over the weekend.
    assert reminder_day(_break(2026, Holiday.DRAGON_BOAT), 5) == date(2026, 6, 12)


def test_reminder_skips_an_earlier_break() -> None:
    # Wed 30 … Mon 28 September, then over the Mid-Autumn break (25–27) to Thu 24, Wed 23.
    assert reminder_day(_break(2026, Holiday.NATIONAL_DAY), 5) == date(2026, 9, 23)


def test_reminder_reaches_back_into_previous_year() -> None:
    assert reminder_day(_break(2026, Holiday.NEW_YEAR), 1) == date(2025, 12, 31)


def test_reminder_needs_at_least_one_day_before() -> None:
    with pytest.raises(ValueError, match="days_before"):
        reminder_day(_break(2026, Holiday.NEW_YEAR), 0)


def test_merged_break_yields_one_break_named_for_most_days() -> None:
    # 2025: Mid-Autumn (6 October) fell inside the National Day break, 1–8 October.
    autumn = [brk for brk in holiday_breaks(2025) if brk.start.month >= 9]
    assert [(brk.holiday, brk.start, brk.end) for brk in autumn] == [
        (Holiday.NATIONAL_DAY, date(2025, 10, 1), date(2025, 10, 8))
    ]


def test_new_year_break_starting_in_december_belongs_to_that_year() -> None:
    last_2018 = holiday_breaks(2018)[-1]
    assert (last_2018.holiday, last_2018.start, last_2018.end) == (
        Holiday.NEW_YEAR,
        date(2018, 12, 30),
        date(2019, 1, 1),
    )
    assert holiday_breaks(2019)[0].holiday == Holiday.SPRING_FESTIVAL


def test_2027_is_not_official() -> None:
    assert not is_official(2027)


def test_2027_breaks_are_labelled_estimates_without_makeup_days() -> None:
    breaks = holiday_breaks(2027)
    assert [brk.holiday for brk in breaks] == list(Holiday)
    assert all(not brk.official and brk.makeup_workdays == () for brk in breaks)


@pytest.mark.parametrize(
    ("holiday", "start", "end"),
    [
        (Holiday.NEW_YEAR, date(2027, 1, 1), date(2027, 1, 3)),
        (Holiday.SPRING_FESTIVAL, date(2027, 2, 5), date(2027, 2, 10)),
        (Holiday.QINGMING, date(2027, 4, 3), date(2027, 4, 5)),
        (Holiday.LABOUR_DAY, date(2027, 5, 1), date(2027, 5, 4)),
        (Holiday.DRAGON_BOAT, date(2027, 6, 9), date(2027, 6, 9)),
        (Holiday.MID_AUTUMN, date(2027, 9, 15), date(2027, 9, 15)),
        (Holiday.NATIONAL_DAY, date(2027, 10, 1), date(2027, 10, 5)),
    ],
)
def test_2027_estimated_break_dates(holiday: Holiday, start: date, end: date) -> None:
    brk = _break(2027, holiday)
    assert (brk.start, brk.end) == (start, end)


def test_upcoming_reminders_from_2026_11_25_list_next_breaks_in_order() -> None:
    reminders = upcoming_reminders(date(2026, 11, 25), 3)
    assert [(brk.holiday, brk.start, when) for brk, when in reminders] == [
        (Holiday.NEW_YEAR, date(2027, 1, 1), date(2026, 12, 29)),
        (Holiday.SPRING_FESTIVAL, date(2027, 2, 5), date(2027, 2, 2)),
        (Holiday.QINGMING, date(2027, 4, 3), date(2027, 3, 31)),
        (Holiday.LABOUR_DAY, date(2027, 5, 1), date(2027, 4, 28)),
        (Holiday.DRAGON_BOAT, date(2027, 6, 9), date(2027, 6, 4)),
        (Holiday.MID_AUTUMN, date(2027, 9, 15), date(2027, 9, 10)),
        (Holiday.NATIONAL_DAY, date(2027, 10, 1), date(2027, 9, 28)),
        (Holiday.NEW_YEAR, date(2028, 1, 1), date(2027, 12, 29)),
    ]


def test_upcoming_reminders_horizon_end_is_exclusive() -> None:
    # 2026-11-25 + 34 days is 2026-12-29, the New Year reminder itself.
    assert upcoming_reminders(date(2026, 11, 25), 3, horizon_days=34) == []
    reminders = upcoming_reminders(date(2026, 11, 25), 3, horizon_days=35)
    assert [when for _, when in reminders] == [date(2026, 12, 29)]


def test_upcoming_reminders_include_a_reminder_due_today() -> None:
    reminders = upcoming_reminders(date(2026, 9, 28), 3, horizon_days=1)
    assert [(brk.holiday, when) for brk, when in reminders] == [
        (Holiday.NATIONAL_DAY, date(2026, 9, 28))
    ]


def test_year_without_data_raises_value_error() -> None:
    with pytest.raises(ValueError, match="No holiday data for 2003"):
        holiday_breaks(2003)


def test_working_day_without_data_raises_value_error() -> None:
    with pytest.raises(ValueError, match="No holiday data for 2101"):
        is_working_day(date(2101, 1, 3))


def test_holiday_name_in_chinese() -> None:
    assert holiday_name(Holiday.NATIONAL_DAY, "zh") == "国庆节"


def test_holiday_name_in_english() -> None:
    assert holiday_name(Holiday.NATIONAL_DAY, "en") == "National Day"


def test_holiday_name_falls_back_to_chinese() -> None:
    assert holiday_name(Holiday.QINGMING, "fr") == "清明节"


def test_every_holiday_has_default_texts_in_both_languages() -> None:
    assert set(DEFAULT_REMINDER_TEXTS) == set(Holiday)
    for texts in DEFAULT_REMINDER_TEXTS.values():
        assert set(texts) == {"zh", "en"}
        assert all(text.strip() for text in texts.values())


def test_default_texts_are_plain_final_text() -> None:
    for texts in DEFAULT_REMINDER_TEXTS.values():
        for text in texts.values():
            assert not any(mark in text for mark in "<>{}&")
