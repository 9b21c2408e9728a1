"""Reading the State Council's holiday notice: the 2026 notice reproduces chinese-calendar's 2026
days exactly, and the format's variants (spans across months and years, single days, 补休,
several working days, two holidays under one heading, advice that names a date, full-width or
half-width punctuation, one paragraph) read as chinese-calendar transcribed those years.

tests/fixtures/holiday_notice_2026.txt is the notice published on 2025-11-04 (the source cited in
tests/services/test_holidays.py), typed from memory of its text: its seven items agree day for
day with chinese-calendar 1.11.0, as the first test shows, while the opening and closing
paragraphs may differ in wording from the original. The older notices below are likewise
written from memory of the published texts and checked the same way against chinese-calendar's
transcription of them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.holiday_notice import NoticeError, ParsedNotice, parse_notice
from bot.services.holidays import _CC_NAMES, BUILT_IN, Calendar, Holiday, Source

FIXTURE = Path(__file__).parents[1] / "fixtures" / "holiday_notice_2026.txt"
NOTICE_2026 = FIXTURE.read_text(encoding="utf-8")


def cc_days(table: dict[date, str], year: int) -> dict[date, Holiday]:
    return {d: _CC_NAMES[name] for d, name in table.items() if d.year == year}


def test_the_2026_notice_reproduces_chinese_calendar_exactly() -> None:
    parsed = parse_notice(NOTICE_2026)
    assert parsed.year == 2026
    assert parsed.title == "国务院办公厅关于2026年部分节假日安排的通知"
    # chinese_calendar.holidays lists every day of each span the notice gives ("1月1日至3日"),
    # the weekend days inside it included (2026-01-03 is a Saturday), and so does the parse: for
    # 2026 the two lists are the same, day for day and holiday for holiday. (For a year where a
    # notice says "与周末连休", chinese-calendar also lists the adjoining weekend, which the
    # notice does not name: see test_older_notices_read_as_chinese_calendar_has_them, which
    # compares those years by working day instead.)
    assert dict(parsed.days_off) == cc_days(chinese_calendar.holidays, 2026)
    assert dict(parsed.workdays) == cc_days(chinese_calendar.workdays, 2026)
    # The days off in lieu (调休: weekdays off paid back by the working weekends) are among them.
    in_lieu = {d for d in chinese_calendar.in_lieu_days if d.year == 2026}
    assert in_lieu == {
        date(2026, 1, 2),
        date(2026, 2, 20),
        date(2026, 2, 23),
        date(2026, 5, 5),
        date(2026, 10, 6),
        date(2026, 10, 7),
    }
    assert in_lieu <= set(parsed.days_off)
    assert [len(item.days_off) for item in parsed.items] == [3, 9, 3, 5, 3, 3, 7]
    # And so every day of 2026 is a working day or not exactly as the installed calendar says.
    noticed = Calendar([parsed.arrangement()])
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert noticed.is_working_day(day) == BUILT_IN.is_working_day(day), day
        day += timedelta(days=1)
    assert noticed.holiday_breaks(2026) == [
        replace(brk, source=Source.NOTICE) for brk in BUILT_IN.holiday_breaks(2026)
    ]


NOTICE_2025 = """国务院办公厅关于2025年部分节假日安排的通知
一、元旦：1月1日（周三）放假1天，不调休。
二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
三、清明节：4月4日（周五）至6日（周日）放假，共3天。
四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
"""

NOTICE_2024 = """国务院办公厅关于2024年部分节假日安排的通知
一、元旦：1月1日放假，与周末连休。
二、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。
三、清明节：4月4日至6日放假调休，共3天。4月7日（星期日）上班。
四、劳动节：5月1日至5日放假调休，共5天。4月28日（星期日）、5月11日（星期六）上班。
五、端午节：6月10日放假，与周末连休。
六、中秋节：9月15日至17日放假调休，共3天。9月14日（星期六）上班。
七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
"""

NOTICE_2023 = """国务院办公厅关于2023年部分节假日安排的通知
一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。
二、春节：1月21日至27日放假调休，共7天。1月28日（星期六）、1月29日（星期日）上班。
三、清明节：4月5日放假，共1天。
四、劳动节：4月29日至5月3日放假调休，共5天。4月23日（星期日）、5月6日（星期六）上班。
五、端午节：6月22日至24日放假调休，共3天。6月25日（星期日）上班。
六、中秋节、国庆节：9月29日至10月6日放假调休，共8天。10月7日（星期六）、10月8日（星期日）上班。
"""

NOTICE_2017 = """国务院办公厅关于2017年部分节假日安排的通知
一、元旦：1月1日放假，1月2日（星期一）补休。
二、春节：1月27日至2月2日放假调休，共7天。1月22日（星期日）、2月4日（星期六）上班。
三、清明节：4月2日至4日放假调休，共3天。4月1日（星期六）上班。
四、劳动节：5月1日放假，与周末连休。
五、端午节：5月28日至30日放假调休，共3天。5月27日（星期六）上班。
六、中秋节、国庆节：10月1日至8日放假调休，共8天。9月30日（星期六）上班。
"""


@pytest.mark.parametrize(
    ("text", "year"),
    [(NOTICE_2025, 2025), (NOTICE_2024, 2024), (NOTICE_2023, 2023), (NOTICE_2017, 2017)],
)
def test_older_notices_read_as_chinese_calendar_has_them(text: str, year: int) -> None:
    """Like with like: chinese-calendar also lists a weekend that a notice only says the holiday
    adjoins (2024: 「1月1日放假，与周末连休」, and it files 2023-12-30/31 as New Year's Day), so
    these years are compared by whether each day is worked, and every weekday off and every
    working weekend by its holiday (the days that differ from an ordinary week)."""
    parsed = parse_notice(text)
    assert parsed.year == year
    noticed = Calendar([parsed.arrangement()])
    day = date(year, 1, 1)
    while day.year == year:
        assert noticed.is_working_day(day) == BUILT_IN.is_working_day(day), day
        day += timedelta(days=1)
    cc_off = cc_days(chinese_calendar.holidays, year)
    weekday_off = {d: h for d, h in parsed.days_off.items() if d.weekday() < 5 and d.year == year}
    assert weekday_off == {d: h for d, h in cc_off.items() if d.weekday() < 5}
    assert dict(parsed.workdays) == cc_days(chinese_calendar.workdays, year)
    # Every day the notice names off is off in chinese-calendar too, with the same holiday.
    for d, holiday in parsed.days_off.items():
        assert _CC_NAMES[chinese_calendar.holidays[d]] is holiday, d


def test_a_span_across_months_and_single_days() -> None:
    parsed = parse_notice(NOTICE_2025)
    spring = parsed.items[1]
    assert spring.days_off[0] == date(2025, 1, 28) and spring.days_off[-1] == date(2025, 2, 4)
    assert len(spring.days_off) == 8
    assert spring.workdays == (date(2025, 1, 26), date(2025, 2, 8))
    assert parsed.items[0].days_off == (date(2025, 1, 1),)


def test_a_span_across_the_new_year_keeps_its_years() -> None:
    parsed = parse_notice(NOTICE_2023)
    assert parsed.items[0].days_off == (date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2))
    # Without the years written out, the span still runs into the next year.
    text = NOTICE_2023.replace("2022年12月31日至2023年1月2日", "12月31日至1月2日")
    assert parse_notice(text).items[0].days_off == parsed.items[0].days_off


def test_two_holidays_under_one_heading_are_filed_as_chinese_calendar_does() -> None:
    parsed = parse_notice(NOTICE_2023)
    assert parsed.items[5].holidays == (Holiday.MID_AUTUMN, Holiday.NATIONAL_DAY)
    # The Mid-Autumn Festival's own day is its; the rest, and the working days, National Day's.
    assert parsed.days_off[date(2023, 9, 29)] is Holiday.MID_AUTUMN
    assert parsed.days_off[date(2023, 9, 30)] is Holiday.NATIONAL_DAY
    assert parsed.days_off[date(2023, 10, 6)] is Holiday.NATIONAL_DAY
    assert parsed.workdays[date(2023, 10, 7)] is Holiday.NATIONAL_DAY
    later = parse_notice(NOTICE_2025)
    assert later.days_off[date(2025, 10, 6)] is Holiday.MID_AUTUMN


def test_advice_naming_a_date_is_not_a_day_off() -> None:
    parsed = parse_notice(NOTICE_2024)
    # 「安排职工在除夕（2月9日）休息」 is a recommendation, not part of the arrangement.
    assert date(2024, 2, 9) not in parsed.days_off
    assert parsed.items[1].days_off[0] == date(2024, 2, 10)


def test_a_day_off_in_lieu_named_补休_is_a_day_off() -> None:
    parsed = parse_notice(NOTICE_2017)
    assert parsed.items[0].days_off == (date(2017, 1, 1), date(2017, 1, 2))


def test_half_width_punctuation_full_width_digits_and_one_paragraph_read_the_same() -> None:
    expected = parse_notice(NOTICE_2026)
    half = (
        NOTICE_2026.replace("（", "(")
        .replace("）", ")")
        .replace("：", ":")
        .replace("，", ",")
        .replace("。", ".")
    )
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isdigit() else c for c in NOTICE_2026)
    assert "１月１日（周四）至３日" in wide
    one_line = NOTICE_2026.replace("。\n", "。")
    one_half = half.replace(".\n", ".")
    crlf = NOTICE_2026.replace("\n", "\r\n")
    for variant in (half, wide, one_line, one_half, crlf):
        parsed = parse_notice(variant)
        assert (parsed.days_off, parsed.workdays) == (expected.days_off, expected.workdays)


def test_the_body_alone_reads_with_the_year_from_its_opening() -> None:
    body = NOTICE_2026[NOTICE_2026.index("经国务院批准") :]
    assert parse_notice(body).days_off == parse_notice(NOTICE_2026).days_off


def _broken(old: str, new: str) -> str:
    assert old in NOTICE_2026
    return NOTICE_2026.replace(old, new)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("一、元旦：1月1日放假。", "no_year"),
        (
            "国务院办公厅关于2026年部分节假日安排的通知\n经国务院批准，现将安排通知如下。",
            "no_items",
        ),
        (_broken("共9天", "共8天"), "count"),
        (_broken("2月28日（周六）上班", "2月30日（周六）上班"), "bad_date"),
        (_broken("五、端午节", "五、植树节"), "unknown_holiday"),
        (_broken("1月4日（周日）上班", "1月3日（周六）上班"), "overlap"),
        (_broken("4月4日（周六）至6日", "4日（周六）至6日"), "no_month"),
        (_broken("6月19日（周五）至21日（周日）放假", "6月21日至19日放假"), "bad_range"),
        (_broken("2026年部分", "2126年部分").replace("现将2026年", "现将2126年"), "year_range"),
        (
            "国务院办公厅关于2026年部分节假日安排的通知\n" + "一、元旦：1月1日放假。" * 2000,
            "too_long",
        ),
    ],
)
def test_what_does_not_read_as_a_notice_says_why(text: str, reason: str) -> None:
    with pytest.raises(NoticeError) as info:
        parse_notice(text)
    assert info.value.reason == reason


def test_the_arrangement_lists_every_day() -> None:
    parsed: ParsedNotice = parse_notice(NOTICE_2026)
    arrangement = parsed.arrangement()
    assert arrangement.year == 2026
    assert len(arrangement.days_off) == 33 and len(arrangement.workdays) == 6


# Notice-like text: the notice's own characters, digits and punctuation in any order, and the
# real notice with a slice cut out or repeated.
_NOTICE_ALPHABET = "".join(sorted(set(NOTICE_2026))) + "0123456789()（）:：,，.。、至到~-\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=st.sampled_from(_NOTICE_ALPHABET), max_size=400),
        st.tuples(
            st.integers(0, len(NOTICE_2026)), st.integers(0, len(NOTICE_2026)), st.text()
        ).map(lambda cut: NOTICE_2026[: cut[0]] + cut[2] + NOTICE_2026[cut[1] :]),
    )
)
def test_any_text_reads_or_is_refused_with_a_reason(text: str) -> None:
    from bot.texts import CATALOGS

    try:
        parsed = parse_notice(text)
    except NoticeError as error:
        assert f"holidays.err.{error.reason}" in CATALOGS["zh"]
        return
    assert 2000 <= parsed.year <= 2100
    assert not set(parsed.days_off) & set(parsed.workdays)
    assert all(abs(d.year - parsed.year) <= 1 for d in (*parsed.days_off, *parsed.workdays))
