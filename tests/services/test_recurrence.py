"""Schedules typed in chat: every preset in both languages, every refusal, and DST-proof times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.recurrence import (
    Schedule,
    ScheduleError,
    describe,
    next_occurrence,
    occurrences_between,
    parse_schedule,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
WORKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0"
FRIDAY_1700 = "FREQ=WEEKLY;BYDAY=FR;BYHOUR=17;BYMINUTE=0;BYSECOND=0"


def parse(text: str, now: datetime = NOW, tz: ZoneInfo = SHANGHAI) -> Schedule:
    return parse_schedule(text, tz, now)


def refusal(text: str, now: datetime = NOW) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        parse(text, now)
    return caught.value


def rule_of(schedule: Schedule) -> str:
    assert schedule.rule is not None
    return schedule.rule


def local(moment: datetime, tz: ZoneInfo = SHANGHAI) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


# --- one-offs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-12-01 09:00", "2026/12/01 09:00", "2026-12-1 9:00"])
def test_dated_one_off_has_no_rule_and_fires_at_that_local_time(text: str) -> None:
    schedule = parse(text)
    assert schedule.rule is None
    assert schedule.first == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert schedule.anchor == datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)


def test_first_is_aware_utc() -> None:
    assert parse("2026-12-01 09:00").first.tzinfo is UTC


@pytest.mark.parametrize("text", ["明天 08:00", "tomorrow 8:00", "Tomorrow 08:00"])
def test_tomorrow_is_the_next_local_date(text: str) -> None:
    assert local(parse(text).first) == datetime(2026, 11, 26, 8, 0)


@pytest.mark.parametrize("text", ["今天 11:30", "today 11:30", "TODAY 11:30"])
def test_today_later_is_accepted(text: str) -> None:
    assert local(parse(text).first) == datetime(2026, 11, 25, 11, 30)


def test_tomorrow_is_the_local_date_not_the_utc_one() -> None:
    # 00:30 in Shanghai is still the previous day in UTC.
    now = datetime(2026, 11, 25, 0, 30, tzinfo=SHANGHAI)
    assert local(parse("明天 08:00", now).first) == datetime(2026, 11, 26, 8, 0)


@pytest.mark.parametrize(
    "text", ["2026-11-24 09:00", "today 09:00", "今天 9:59", "2026-11-25 10:00", "2020/01/01 00:00"]
)
def test_one_off_at_or_before_now_is_in_past(text: str) -> None:
    assert refusal(text).reason == "in_past"


def test_one_off_in_a_dst_gap_lands_an_hour_later() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29; fold=0 reads it with the winter offset.
    now = datetime(2026, 3, 1, tzinfo=BERLIN)
    schedule = parse("2026-03-29 02:30", now, BERLIN)
    assert schedule.first == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert schedule.first.astimezone(BERLIN).hour == 3


# --- daily and workdays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["每天 09:00", "每日 9:00", "daily 9:00", "every day 09:00", "Everyday 9:00"]
)
def test_daily_forms(text: str) -> None:
    assert parse(text).rule == "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0"


def test_first_is_today_when_the_time_is_still_ahead() -> None:
    assert local(parse("每天 11:00").first) == datetime(2026, 11, 25, 11, 0)


def test_first_is_tomorrow_when_the_time_has_passed() -> None:
    assert local(parse("每天 09:00").first) == datetime(2026, 11, 26, 9, 0)


def test_first_is_tomorrow_when_the_time_is_exactly_now() -> None:
    assert local(parse("daily 10:00").first) == datetime(2026, 11, 26, 10, 0)


def test_recurring_anchor_is_today_at_the_typed_local_time() -> None:
    assert parse("每天 09:00").anchor == datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "text", ["每个工作日 09:00", "工作日 9:00", "weekdays 9:00", "every weekday 09:00"]
)
def test_workday_forms_are_monday_to_friday(text: str) -> None:
    assert parse(text).rule == WORKDAYS


def test_workdays_skip_the_weekend() -> None:
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI)
    assert local(parse("工作日 09:00", friday_evening).first) == datetime(2026, 11, 30, 9, 0)


# --- weekly ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "每周五 17:00",
        "每星期五 17:00",
        "每周五17:00",
        "weekly fri 17:00",
        "every friday 17:00",
        "every Fri 17:00",
        "weekly on Friday 17:00",
    ],
)
def test_weekly_single_day_forms(text: str) -> None:
    assert parse(text).rule == FRIDAY_1700


@pytest.mark.parametrize("text", ["每周日 9:00", "每周天 9:00", "每星期天 9:00", "every sun 9:00"])
def test_sunday_is_ri_or_tian(text: str) -> None:
    assert parse(text).rule == "FREQ=WEEKLY;BYDAY=SU;BYHOUR=9;BYMINUTE=0;BYSECOND=0"


@pytest.mark.parametrize(
    "text",
    [
        "每周一三五 9:00",
        "每周五一三 9:00",
        "每周一、三、五 9:00",
        "every mon,wed,fri 9:00",
        "every Monday, Wednesday and Friday 9:00",
        "weekly mon wed fri 9:00",
    ],
)
def test_weekly_several_days_in_weekday_order(text: str) -> None:
    assert parse(text).rule == "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0"


def test_weekly_first_is_the_next_matching_day() -> None:
    assert local(parse("每周一三五 9:00").first) == datetime(2026, 11, 27, 9, 0)


def test_weekly_several_days_fire_on_each_of_them() -> None:
    schedule = parse("every mon,wed 8:30")
    got = occurrences_between(
        rule_of(schedule), schedule.anchor, NOW, NOW + timedelta(days=14), SHANGHAI
    )
    assert [local(t) for t in got] == [
        datetime(2026, 11, 30, 8, 30),
        datetime(2026, 12, 2, 8, 30),
        datetime(2026, 12, 7, 8, 30),
        datetime(2026, 12, 9, 8, 30),
    ]


def test_weekly_today_later_fires_today() -> None:
    assert local(parse("每周三 17:00").first) == datetime(2026, 11, 25, 17, 0)


# --- monthly -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "每月15日 09:00",
        "每月15号 9:00",
        "每个月15日 9:00",
        "monthly 15 9:00",
        "monthly on the 15th 9:00",
        "every month on the 15th 09:00",
    ],
)
def test_monthly_day_forms(text: str) -> None:
    assert parse(text).rule == "FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0;BYSECOND=0"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("every month on the 1st 9:00", 1),
        ("every month on the 2nd 9:00", 2),
        ("every month on the 3rd 9:00", 3),
        ("monthly 31 9:00", 31),
        ("每月1日 9:00", 1),
    ],
)
def test_monthly_day_numbers_are_read(text: str, day: int) -> None:
    assert parse(text).rule == f"FREQ=MONTHLY;BYMONTHDAY={day};BYHOUR=9;BYMINUTE=0;BYSECOND=0"


def test_monthly_31_skips_months_without_a_31st() -> None:
    schedule = parse("每月31日 09:00")
    year = occurrences_between(
        rule_of(schedule),
        schedule.anchor,
        datetime(2027, 1, 1, tzinfo=SHANGHAI),
        datetime(2028, 1, 1, tzinfo=SHANGHAI),
        SHANGHAI,
    )
    assert [local(t).month for t in year] == [1, 3, 5, 7, 8, 10, 12]
    assert {local(t).day for t in year} == {31}


@pytest.mark.parametrize(
    "text",
    [
        "每月最后一天 18:00",
        "每个月最后一天 18:00",
        "monthly last 18:00",
        "every month on the last day 18:00",
    ],
)
def test_last_day_of_month_forms(text: str) -> None:
    assert parse(text).rule == "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0;BYSECOND=0"


def test_last_day_follows_each_months_length() -> None:
    schedule = parse("monthly last 18:00")
    got = occurrences_between(
        rule_of(schedule),
        schedule.anchor,
        datetime(2028, 1, 1, tzinfo=SHANGHAI),
        datetime(2028, 5, 1, tzinfo=SHANGHAI),
        SHANGHAI,
    )
    assert [local(t).date().isoformat() for t in got] == [
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
    ]


# --- input tolerance ---------------------------------------------------------------------------


def test_full_width_digits_colon_and_space_are_read() -> None:
    assert parse("每周五\u3000１７：００").rule == FRIDAY_1700


def test_full_width_one_off_is_read() -> None:
    assert parse("２０２６－１２－０１　０９：００").first == datetime(
        2026, 12, 1, 1, 0, tzinfo=UTC
    )


def test_extra_whitespace_is_ignored() -> None:
    assert parse("  every   friday    17 : 00  ").rule == FRIDAY_1700


def test_english_is_case_insensitive() -> None:
    assert parse("EVERY FRIDAY 17:00").rule == FRIDAY_1700


# --- raw rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "RRULE:FREQ=WEEKLY;BYDAY=FR;BYHOUR=17;BYMINUTE=0;BYSECOND=0",
        "FREQ=WEEKLY;BYDAY=FR;BYHOUR=17;BYMINUTE=0;BYSECOND=0",
        "rrule: freq=weekly; byday=fr; byhour=17; byminute=0; bysecond=0",
    ],
)
def test_raw_rule_is_stored_without_prefix_in_upper_case(text: str) -> None:
    schedule = parse(text)
    assert schedule.rule == FRIDAY_1700
    assert local(schedule.first) == datetime(2026, 11, 27, 17, 0)


def test_raw_rule_without_a_time_repeats_at_the_minute_it_was_entered() -> None:
    schedule = parse("FREQ=DAILY", NOW + timedelta(minutes=7, seconds=42))
    assert schedule.anchor == datetime(2026, 11, 25, 10, 7, tzinfo=SHANGHAI)
    assert local(schedule.first) == datetime(2026, 11, 26, 10, 7)


def test_raw_sub_daily_burst_with_count_is_allowed() -> None:
    schedule = parse("FREQ=HOURLY;COUNT=3")
    got = occurrences_between(
        rule_of(schedule), schedule.anchor, NOW, NOW + timedelta(days=1), SHANGHAI
    )
    assert [local(t).hour for t in got] == [11, 12]


def test_raw_utc_until_is_the_same_instant_in_local_time() -> None:
    # 01:00Z on the 28th is 09:00 in Shanghai, so the 09:00 reminder that day is the last.
    schedule = parse("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0;UNTIL=20261128T010000Z")
    got = occurrences_between(
        rule_of(schedule), schedule.anchor, NOW, NOW + timedelta(days=30), SHANGHAI
    )
    assert [local(t).day for t in got] == [26, 27, 28]


def test_raw_date_until_includes_that_whole_day() -> None:
    schedule = parse("FREQ=DAILY;BYHOUR=17;BYMINUTE=0;UNTIL=20261127")
    assert local(schedule.first) == datetime(2026, 11, 25, 17, 0)
    got = occurrences_between(
        rule_of(schedule), schedule.anchor, NOW, NOW + timedelta(days=30), SHANGHAI
    )
    assert [local(t).day for t in got] == [25, 26, 27]


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=FOO",
        "RRULE:BYDAY=MO",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;BYHOUR=25",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=tomorrow",
        "FREQ=DAILY;BYDAY=MO;BYDAY=TU",
        "FREQ=DAILY\nDTSTART:20260101T000000",
        "FREQ=DAILY;BYHOUR=9:00",
    ],
)
def test_malformed_raw_rule_is_bad_rule(text: str) -> None:
    assert refusal(text).reason == "bad_rule"


@pytest.mark.parametrize("freq", ["HOURLY", "MINUTELY", "SECONDLY"])
def test_unbounded_raw_rule_more_often_than_daily_is_bad_rule(freq: str) -> None:
    assert refusal(f"FREQ={freq}").reason == "bad_rule"


def test_unbounded_raw_rule_several_times_a_day_is_bad_rule() -> None:
    assert refusal("FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0").reason == "bad_rule"


def test_raw_rule_that_can_never_fire_is_bad_rule_and_refused_quickly() -> None:
    started = datetime.now(UTC)
    assert refusal("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30").reason == "bad_rule"
    assert datetime.now(UTC) - started < timedelta(seconds=3)


def test_raw_rule_that_has_ended_is_in_past() -> None:
    assert refusal("FREQ=DAILY;UNTIL=20200101T000000Z").reason == "in_past"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\u3000\n"])
def test_blank_text_is_empty(text: str) -> None:
    assert refusal(text).reason == "empty"


@pytest.mark.parametrize(
    "text", ["hello", "every 2 weeks 9:00", "下周五 17:00", "DTSTART:20260101T000000"]
)
def test_unrecognised_text_is_unknown_form(text: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("unknown_form", text)


@pytest.mark.parametrize("text", ["每天", "daily", "明天", "2026-12-01", "每周五", "monthly 15"])
def test_missing_time_is_bad_time(text: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("bad_time", "")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("每天 24:00", "24:00"),
        ("daily 9:60", "9:60"),
        ("每天 9点", "9点"),
        ("every day 9:5", "9:5"),
        ("tomorrow 123:00", "123:00"),
        ("每天 17:00:00", "17:00:00"),
    ],
)
def test_bad_time_names_the_offending_text(text: str, value: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("bad_time", value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("每周八 9:00", "八"),
        ("每周 9:00", ""),
        ("weekly funday 9:00", "funday"),
        ("every friday, caturday 9:00", "caturday"),
        ("weekly 9:00", ""),
    ],
)
def test_unknown_weekday_is_bad_weekday(text: str, value: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("bad_weekday", value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("每月32日 9:00", "32"),
        ("每月0号 9:00", "0"),
        ("monthly 0 9:00", "0"),
        ("every month on the 32nd 9:00", "32"),
        ("monthly 9:00", ""),
        ("每月第一天 9:00", "第一天"),
    ],
)
def test_month_day_outside_1_to_31_is_bad_day(text: str, value: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("bad_day", value)


@pytest.mark.parametrize("text", ["2026-02-30 09:00", "2026-13-01 09:00", "26-12-01 09:00"])
def test_impossible_date_is_bad_date(text: str) -> None:
    error = refusal(text)
    assert (error.reason, error.value) == ("bad_date", text.split()[0])


def test_schedule_error_is_a_value_error_with_reason_and_value() -> None:
    error = ScheduleError("bad_time", "25:00")
    assert isinstance(error, ValueError)
    assert (error.reason, error.value) == ("bad_time", "25:00")


def test_schedule_error_refuses_an_unknown_reason() -> None:
    with pytest.raises(ValueError, match="unknown schedule error reason"):
        ScheduleError("nope")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule("每天 9:00", SHANGHAI, datetime(2026, 11, 25, 10, 0))


# --- next_occurrence and occurrences_between ---------------------------------------------------


def test_next_occurrence_stays_at_1700_in_shanghai_for_a_year_of_weeks() -> None:
    anchor = datetime(2026, 11, 25, 17, 0, tzinfo=SHANGHAI)
    moment: datetime | None = NOW
    fridays = []
    for _ in range(52):
        assert moment is not None
        moment = next_occurrence(FRIDAY_1700, anchor, moment, SHANGHAI)
        assert moment is not None
        fridays.append(moment)
    assert {local(t).strftime("%a %H:%M") for t in fridays} == {"Fri 17:00"}
    assert {t.strftime("%H:%M") for t in fridays} == {"09:00"}
    assert fridays[-1] - fridays[0] == timedelta(weeks=51)


def test_next_occurrence_keeps_the_wall_clock_across_dst_in_berlin() -> None:
    anchor = datetime(2026, 3, 1, 17, 0, tzinfo=BERLIN)
    before = next_occurrence(FRIDAY_1700, anchor, datetime(2026, 3, 21, tzinfo=BERLIN), BERLIN)
    after = next_occurrence(FRIDAY_1700, anchor, datetime(2026, 3, 28, tzinfo=BERLIN), BERLIN)
    autumn = next_occurrence(FRIDAY_1700, anchor, datetime(2026, 10, 26, tzinfo=BERLIN), BERLIN)
    assert before == datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # CET, UTC+1
    assert after == datetime(2026, 4, 3, 15, 0, tzinfo=UTC)  # CEST, UTC+2
    assert autumn == datetime(2026, 10, 30, 16, 0, tzinfo=UTC)  # CET again
    assert {t.astimezone(BERLIN).hour for t in (before, after, autumn) if t} == {17}


def test_next_occurrence_is_strictly_after() -> None:
    anchor = datetime(2026, 11, 25, 17, 0, tzinfo=SHANGHAI)
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)
    got = next_occurrence(FRIDAY_1700, anchor, friday, SHANGHAI)
    assert got == friday + timedelta(weeks=1)


def test_next_occurrence_accepts_after_in_any_zone() -> None:
    anchor = datetime(2026, 11, 25, 17, 0, tzinfo=SHANGHAI)
    in_berlin = next_occurrence(FRIDAY_1700, anchor, NOW.astimezone(BERLIN), SHANGHAI)
    assert in_berlin == next_occurrence(FRIDAY_1700, anchor, NOW, SHANGHAI)


def test_next_occurrence_accepts_an_anchor_read_back_in_utc() -> None:
    anchor = datetime(2026, 11, 25, 17, 0, tzinfo=SHANGHAI)
    from_db = next_occurrence(FRIDAY_1700, anchor.astimezone(UTC), NOW, SHANGHAI)
    assert from_db == next_occurrence(FRIDAY_1700, anchor, NOW, SHANGHAI)


def test_next_occurrence_is_none_once_the_rule_has_ended() -> None:
    anchor = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    assert next_occurrence("FREQ=DAILY;COUNT=2", anchor, NOW + timedelta(days=2), SHANGHAI) is None


def test_next_occurrence_refuses_a_bad_rule() -> None:
    with pytest.raises(ScheduleError) as caught:
        next_occurrence("FREQ=NEVER", NOW, NOW, SHANGHAI)
    assert caught.value.reason == "bad_rule"


def test_daily_time_skipped_by_dst_fires_once_an_hour_later() -> None:
    anchor = datetime(2026, 3, 1, 2, 30, tzinfo=BERLIN)
    rule = "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0"
    got = occurrences_between(
        rule,
        anchor,
        datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
        datetime(2026, 3, 30, 12, 0, tzinfo=BERLIN),
        BERLIN,
    )
    assert [t.astimezone(BERLIN).strftime("%d %H:%M") for t in got] == ["29 03:30", "30 02:30"]


def test_daily_time_repeated_by_dst_fires_once_at_the_first_one() -> None:
    anchor = datetime(2026, 10, 1, 2, 30, tzinfo=BERLIN)
    rule = "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0"
    after = datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)
    assert next_occurrence(rule, anchor, after, BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    got = occurrences_between(rule, anchor, after, after + timedelta(days=1), BERLIN)
    assert len(got) == 1


def test_occurrences_between_counts_two_weeks_of_workdays() -> None:
    anchor = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    got = occurrences_between(WORKDAYS, anchor, NOW, NOW + timedelta(weeks=2), SHANGHAI)
    assert len(got) == 10
    assert got == sorted(got)
    assert all(t.tzinfo is UTC for t in got)


def test_occurrences_between_excludes_start_and_includes_end() -> None:
    anchor = datetime(2026, 11, 25, 17, 0, tzinfo=SHANGHAI)
    first = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)
    third = first + timedelta(weeks=2)
    got = occurrences_between(FRIDAY_1700, anchor, first, third, SHANGHAI)
    assert got == [first + timedelta(weeks=1), third]


def test_occurrences_between_is_empty_when_end_is_not_after_start() -> None:
    assert occurrences_between(WORKDAYS, NOW, NOW, NOW, SHANGHAI) == []


# --- describe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("每周五 17:00", "每周五 17:00", "every Friday 17:00"),
        (
            "every mon,wed,fri 9:00",
            "每周一、三、五 09:00",
            "every Monday, Wednesday and Friday 09:00",
        ),
        ("每周一三 8:30", "每周一、三 08:30", "every Monday and Wednesday 08:30"),
        ("每周日 9:00", "每周日 09:00", "every Sunday 09:00"),
        ("daily 7:05", "每天 07:05", "every day 07:05"),
        ("weekdays 9:00", "每个工作日 09:00", "every weekday 09:00"),
        ("每月15号 9:00", "每月15日 09:00", "every month on the 15th 09:00"),
        ("monthly 1 9:00", "每月1日 09:00", "every month on the 1st 09:00"),
        ("monthly 22 9:00", "每月22日 09:00", "every month on the 22nd 09:00"),
        ("monthly 23 9:00", "每月23日 09:00", "every month on the 23rd 09:00"),
        ("monthly 11 9:00", "每月11日 09:00", "every month on the 11th 09:00"),
        ("每月最后一天 18:00", "每月最后一天 18:00", "every month on the last day 18:00"),
        ("2026-12-01 09:00", "2026-12-01 09:00", "2026-12-01 09:00"),
    ],
)
def test_describe_in_both_languages(text: str, zh: str, en: str) -> None:
    schedule = parse(text)
    assert describe(schedule.rule, schedule.anchor, "zh") == zh
    assert describe(schedule.rule, schedule.anchor, "en") == en


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(
    "text",
    ["每周一三五 9:00", "daily 7:05", "工作日 9:00", "monthly 31 9:00", "monthly last 18:00"],
)
def test_description_parses_back_to_the_same_rule(text: str, language: str) -> None:
    schedule = parse(text)
    assert parse(describe(schedule.rule, schedule.anchor, language)).rule == schedule.rule


def test_describe_reads_a_raw_rule_that_matches_a_preset() -> None:
    assert describe("FREQ=WEEKLY;BYDAY=FR", datetime(2026, 11, 25, 17, 0), "en") == (
        "every Friday 17:00"
    )


def test_describe_shows_any_other_rule_as_itself() -> None:
    anchor = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    rule = "FREQ=HOURLY;COUNT=3"
    assert describe(rule, anchor, "en") == "custom rule FREQ=HOURLY;COUNT=3 from 2026-11-25 10:00"
    assert (
        describe(rule, anchor, "zh") == "自定义规则 FREQ=HOURLY;COUNT=3（自 2026-11-25 10:00 起）"
    )


def test_describe_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="language"):
        describe(None, NOW, "fr")


def test_sub_daily_rule_with_a_far_until_is_refused() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule("FREQ=MINUTELY;UNTIL=20991231", SHANGHAI, NOW)
    assert info.value.reason == "bad_rule"
