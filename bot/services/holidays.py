"""Chinese public-holiday breaks, working days, and when integrity reminders go out before them.

The State Council announces each year's arrangement (放假安排, including 调休 working days) in
the autumn before, so data comes in three grades (`Source`):

* Official: years covered by the `chinese_calendar` package, which transcribes those notices
  day by day, adjusted working days included.
* Notice: a year whose notice an admin imported (bot.services.holiday_notice reads it); it takes
  the place of whatever the packages have for that year.
* Estimate: later years, built from the statutory days (plus a weekday 补假 for one that falls
  on a weekend) that `holidays.China` derives from the law and the lunar calendar. They know
  nothing of 调休, so the real break may be longer and may bring working weekends. Breaks say
  so with `official=False`, and `is_official()` answers per year.

A `Calendar` is the packages plus an organisation's imported notices; the module functions use
`BUILT_IN`, the packages alone. Importing a notice, or upgrading `chinese-calendar` once it ships
a new year, turns that year's estimate into the official arrangement, so reminder dates are meant
to be computed when needed, not stored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Final

# Untyped package; only its two data tables are read, through the typed copies below.
import chinese_calendar  # type: ignore[import-untyped, unused-ignore]
from holidays import country_holidays
from holidays.countries.china import China


class Holiday(StrEnum):
    NEW_YEAR = "new_year"
    SPRING_FESTIVAL = "spring_festival"
    QINGMING = "qingming"
    LABOUR_DAY = "labour_day"
    DRAGON_BOAT = "dragon_boat"
    MID_AUTUMN = "mid_autumn"
    NATIONAL_DAY = "national_day"


class Source(StrEnum):
    """Where a year's (or a date's) arrangement comes from."""

    # The installed chinese_calendar package: the State Council's notices, transcribed.
    OFFICIAL = "official"
    # A notice an admin imported (`branchbot holidays import`, `/holidays import`).
    NOTICE = "notice"
    # Derived from the statutory days alone: no 调休, no adjusted working days.
    ESTIMATE = "estimate"


@dataclass(frozen=True)
class HolidayBreak:
    holiday: Holiday
    start: date
    end: date
    makeup_workdays: tuple[date, ...]
    official: bool
    # The weakest source among the break's named days (an estimate, else a notice).
    source: Source = Source.OFFICIAL


@dataclass(frozen=True)
class Arrangement:
    """A year's arrangement as the State Council's notice gives it: every day off of each
    holiday (weekends inside a span included) and every adjusted working day (调休上班), each
    with its holiday. A notice may name days of the neighbouring years (a New Year break that
    starts on 31 December)."""

    year: int
    days_off: Mapping[date, Holiday]
    workdays: Mapping[date, Holiday]


_CC_NAMES: Final[dict[str, Holiday]] = {
    chinese_calendar.Holiday.new_years_day.value: Holiday.NEW_YEAR,
    chinese_calendar.Holiday.spring_festival.value: Holiday.SPRING_FESTIVAL,
    chinese_calendar.Holiday.tomb_sweeping_day.value: Holiday.QINGMING,
    chinese_calendar.Holiday.labour_day.value: Holiday.LABOUR_DAY,
    chinese_calendar.Holiday.dragon_boat_festival.value: Holiday.DRAGON_BOAT,
    chinese_calendar.Holiday.mid_autumn_festival.value: Holiday.MID_AUTUMN,
    chinese_calendar.Holiday.national_day.value: Holiday.NATIONAL_DAY,
}
_CC_DAYS_OFF: Final[dict[date, str]] = dict(chinese_calendar.holidays)
_CC_WORKDAYS: Final[dict[date, str]] = dict(chinese_calendar.workdays)

# The official grade is exactly the span of chinese_calendar's tables (it refuses other years).
_OFFICIAL_FIRST: Final[int] = min(_CC_DAYS_OFF).year
_OFFICIAL_LAST: Final[int] = max(_CC_DAYS_OFF).year
# Beyond this holidays.China has no lunar dates, so there is nothing left to estimate from.
_ESTIMATE_LAST: Final[int] = China.end_year

# holidays.China's own (Chinese) labels, requested explicitly because without `language` the
# names follow the process locale.
_ESTIMATE_LANGUAGE: Final = "zh_CN"
_ESTIMATE_NAMES: Final[dict[str, Holiday]] = {
    "元旦": Holiday.NEW_YEAR,
    "农历除夕": Holiday.SPRING_FESTIVAL,
    "春节": Holiday.SPRING_FESTIVAL,
    "清明节": Holiday.QINGMING,
    "劳动节": Holiday.LABOUR_DAY,
    "端午节": Holiday.DRAGON_BOAT,
    "中秋节": Holiday.MID_AUTUMN,
    "国庆节": Holiday.NATIONAL_DAY,
}
# Weekend statutory days are compensated on the next weekday (补假), as the notices do;
# "推定" marks lunar dates holidays had to compute rather than look up.
_ESTIMATE_QUALIFIER: Final = re.compile(r"（(?:补假|推定|补假，推定)）$")

# Make-up working days are tagged only with the holiday's name, which recurs every year; they
# always sit within a few weeks of their own break.
_MAKEUP_REACH: Final = timedelta(days=31)

_ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class _YearData:
    source: Source
    # None marks a day off that belongs to none of the seven holidays (e.g. 2015-09-03).
    days_off: Mapping[date, Holiday | None]
    makeup_workdays: Mapping[date, Holiday | None]
    # Days an imported notice of another year decides (a New Year break from 31 December).
    noticed: frozenset[date] = frozenset()

    @property
    def official(self) -> bool:
        return self.source is not Source.ESTIMATE

    def source_of(self, day: date) -> Source:
        return Source.NOTICE if day in self.noticed else self.source


def _package_has(year: int) -> bool:
    return _OFFICIAL_FIRST <= year <= _ESTIMATE_LAST


@cache
def statutory_days(year: int) -> Mapping[date, Holiday]:
    """The statutory days off (and the weekday 补假 for one on a weekend) that `holidays.China`
    derives from the law and the lunar calendar: what an estimate is made of."""
    # Only statutory days (and their 补假) are kept. Swapped days off (休息日（由…调休）) would
    # only show up if holidays packaged a notice before chinese_calendar did, and taking half of
    # that notice would make the year neither official nor a plain estimate.
    estimated = country_holidays("CN", years=year, language=_ESTIMATE_LANGUAGE)
    days_off: dict[date, Holiday] = {}
    for day in sorted(estimated):
        for name in estimated.get_list(day):
            holiday = _ESTIMATE_NAMES.get(_ESTIMATE_QUALIFIER.sub("", name))
            if holiday is not None:
                days_off.setdefault(day, holiday)
    return MappingProxyType(days_off)


@cache
def _package_year(year: int) -> _YearData:
    """A year as the installed packages know it: official (chinese_calendar) or estimated."""
    if not _package_has(year):
        raise ValueError(
            f"No holiday data for {year}: official arrangements cover "
            f"{_OFFICIAL_FIRST}-{_OFFICIAL_LAST}, estimates reach {_ESTIMATE_LAST}."
        )
    if _OFFICIAL_FIRST <= year <= _OFFICIAL_LAST:
        return _YearData(
            source=Source.OFFICIAL,
            days_off=MappingProxyType(
                {d: _CC_NAMES.get(name) for d, name in _CC_DAYS_OFF.items() if d.year == year}
            ),
            makeup_workdays=MappingProxyType(
                {d: _CC_NAMES.get(name) for d, name in _CC_WORKDAYS.items() if d.year == year}
            ),
        )
    return _YearData(
        source=Source.ESTIMATE,
        days_off=MappingProxyType(dict(statutory_days(year))),
        makeup_workdays=MappingProxyType({}),
    )


class Calendar:
    """Holiday breaks and working days: the installed calendar, with the arrangements of
    imported notices taking the place of whatever it has for their years (an estimate, or the
    package's own copy). Immutable; it remembers what it has worked out."""

    def __init__(self, notices: Iterable[Arrangement] = ()) -> None:
        self._notices: dict[int, Arrangement] = {a.year: a for a in notices}
        self._years: dict[int, _YearData] = {}
        self._breaks: dict[int, tuple[HolidayBreak, ...]] = {}

    @property
    def notice_years(self) -> frozenset[int]:
        return frozenset(self._notices)

    def has_data(self, year: int) -> bool:
        return year in self._notices or _package_has(year)

    def source(self, year: int) -> Source | None:
        """Where `year` as a whole comes from; None when nothing is known of it."""
        if year in self._notices:
            return Source.NOTICE
        if _OFFICIAL_FIRST <= year <= _OFFICIAL_LAST:
            return Source.OFFICIAL
        if _package_has(year):
            return Source.ESTIMATE
        return None

    def is_official(self, year: int) -> bool:
        """Whether `year` follows the State Council's published arrangement (the installed
        calendar's copy or an imported notice) rather than an estimate."""
        return self.source(year) in (Source.OFFICIAL, Source.NOTICE)

    def _year(self, year: int) -> _YearData:
        found = self._years.get(year)
        if found is not None:
            return found
        notice = self._notices.get(year)
        if notice is not None:
            base = _YearData(
                source=Source.NOTICE,
                days_off={d: h for d, h in notice.days_off.items() if d.year == year},
                makeup_workdays={d: h for d, h in notice.workdays.items() if d.year == year},
            )
        else:
            base = _package_year(year)
        days_off = dict(base.days_off)
        workdays = dict(base.makeup_workdays)
        noticed: set[date] = set()
        for other in self._notices.values():
            if other.year == year:
                continue
            for day, holiday in other.days_off.items():
                if day.year == year:
                    days_off[day] = holiday
                    workdays.pop(day, None)
                    noticed.add(day)
            for day, holiday in other.workdays.items():
                if day.year == year:
                    workdays[day] = holiday
                    days_off.pop(day, None)
                    noticed.add(day)
        data = _YearData(
            source=base.source,
            days_off=MappingProxyType(days_off),
            makeup_workdays=MappingProxyType(workdays),
            noticed=frozenset(noticed),
        )
        self._years[year] = data
        return data

    def is_working_day(self, day: date) -> bool:
        """Working day per the arrangement: 调休 weekends count as working, weekday holidays do
        not."""
        data = self._year(day.year)
        if day in data.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in data.days_off

    def _is_day_off(self, day: date) -> bool:
        # A break is never extended into a year without data; at worst the first break of 2004
        # comes out a weekend short.
        return self.has_data(day.year) and not self.is_working_day(day)

    def _break_around(self, day: date) -> HolidayBreak | None:
        start = day
        while self._is_day_off(start - _ONE_DAY):
            start -= _ONE_DAY
        end = day
        while self._is_day_off(end + _ONE_DAY):
            end += _ONE_DAY

        named: list[tuple[date, Holiday]] = []
        for offset in range((end - start).days + 1):
            current = start + timedelta(days=offset)
            holiday = self._year(current.year).days_off.get(current)
            if holiday is not None:
                named.append((current, holiday))
        if not named:
            return None
        # A merged break (2025: National Day with Mid-Autumn) is named for the holiday owning
        # most of its days, so it yields one reminder, not two for the same days.
        names = [holiday for _, holiday in named]
        holiday = Counter(names).most_common(1)[0][0]

        makeup: list[date] = []
        for year in range(start.year - 1, end.year + 2):
            if not self.has_data(year):
                continue
            for workday, tag in self._year(year).makeup_workdays.items():
                near = start - _MAKEUP_REACH <= workday <= end + _MAKEUP_REACH
                if near and tag in names:
                    makeup.append(workday)

        sources = {self._year(d.year).source_of(d) for d, _ in named}
        source = next(s for s in (Source.ESTIMATE, Source.NOTICE, Source.OFFICIAL) if s in sources)
        return HolidayBreak(
            holiday=holiday,
            start=start,
            end=end,
            makeup_workdays=tuple(sorted(makeup)),
            official=source is not Source.ESTIMATE,
            source=source,
        )

    def _breaks_starting_in(self, year: int) -> tuple[HolidayBreak, ...]:
        cached = self._breaks.get(year)
        if cached is not None:
            return cached
        seeds: list[date] = []
        # A New Year break can start in late December, so next year's days are searched too.
        for source_year in (year, year + 1):
            if self.has_data(source_year):
                seeds.extend(
                    d
                    for d, holiday in self._year(source_year).days_off.items()
                    if holiday is not None
                )
        found: dict[date, HolidayBreak] = {}
        for seed in sorted(seeds):
            if any(brk.start <= seed <= brk.end for brk in found.values()):
                continue
            brk = self._break_around(seed)
            if brk is not None:
                found[brk.start] = brk
        breaks = tuple(brk for start, brk in sorted(found.items()) if start.year == year)
        self._breaks[year] = breaks
        return breaks

    def holiday_breaks(self, year: int) -> list[HolidayBreak]:
        """Breaks whose first day off falls in `year`, ordered by start.

        A New Year break that starts on 30 or 31 December belongs to the year it starts in.
        """
        self._year(year)
        return list(self._breaks_starting_in(year))

    def reminder_day(self, brk: HolidayBreak, days_before: int) -> date:
        """The working day `days_before` working days before the break (1: the last one
        before it)."""
        if days_before < 1:
            raise ValueError(f"days_before must be at least 1, got {days_before}")
        day = brk.start
        remaining = days_before
        while remaining:
            day -= _ONE_DAY
            if self.is_working_day(day):
                remaining -= 1
        return day

    def upcoming_reminders(
        self, today: date, days_before: int, horizon_days: int = 400
    ) -> list[tuple[HolidayBreak, date]]:
        """(break, reminder date) pairs with today <= reminder < today + horizon, soonest
        first."""
        if days_before < 1:
            raise ValueError(f"days_before must be at least 1, got {days_before}")
        if horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
        until = today + timedelta(days=horizon_days)
        found: list[tuple[HolidayBreak, date]] = []
        # A reminder inside the horizon can belong to a break starting just after it.
        for year in range(today.year, until.year + 2):
            if not self.has_data(year):
                continue
            for brk in self._breaks_starting_in(year):
                if brk.start <= today:
                    continue
                when = self.reminder_day(brk, days_before)
                if today <= when < until:
                    found.append((brk, when))
        found.sort(key=lambda item: (item[1], item[0].start))
        return found


# The installed calendar alone, with no imported notice: what the module functions below use.
# Services that act on an organisation's dates load its calendar (bot.services.holiday_calendar).
BUILT_IN: Final = Calendar()


def is_official(year: int) -> bool:
    """Whether `year` follows the State Council's published arrangement rather than an estimate."""
    return BUILT_IN.is_official(year)


def is_working_day(day: date) -> bool:
    """Working day per the arrangement: 调休 weekends count as working, weekday holidays do not."""
    return BUILT_IN.is_working_day(day)


def holiday_breaks(year: int) -> list[HolidayBreak]:
    """Breaks whose first day off falls in `year`, ordered by start.

    A New Year break that starts on 30 or 31 December belongs to the year it starts in.
    """
    return BUILT_IN.holiday_breaks(year)


def reminder_day(brk: HolidayBreak, days_before: int) -> date:
    """The working day `days_before` working days before the break (1: the last one before it)."""
    return BUILT_IN.reminder_day(brk, days_before)


def upcoming_reminders(
    today: date, days_before: int, horizon_days: int = 400
) -> list[tuple[HolidayBreak, date]]:
    """(break, reminder date) pairs with today <= reminder < today + horizon, soonest first."""
    return BUILT_IN.upcoming_reminders(today, days_before, horizon_days)


def official_range() -> tuple[int, int]:
    """The first and last year the installed chinese-calendar covers."""
    return _OFFICIAL_FIRST, _OFFICIAL_LAST


_NAMES: Final[dict[str, dict[Holiday, str]]] = {
    "zh": {
        Holiday.NEW_YEAR: "元旦",
        Holiday.SPRING_FESTIVAL: "春节",
        Holiday.QINGMING: "清明节",
        Holiday.LABOUR_DAY: "劳动节",
        Holiday.DRAGON_BOAT: "端午节",
        Holiday.MID_AUTUMN: "中秋节",
        Holiday.NATIONAL_DAY: "国庆节",
    },
    "en": {
        Holiday.NEW_YEAR: "New Year's Day",
        Holiday.SPRING_FESTIVAL: "Spring Festival",
        Holiday.QINGMING: "Qingming Festival",
        Holiday.LABOUR_DAY: "Labour Day",
        Holiday.DRAGON_BOAT: "Dragon Boat Festival",
        Holiday.MID_AUTUMN: "Mid-Autumn Festival",
        Holiday.NATIONAL_DAY: "National Day",
    },
}


def holiday_name(h: Holiday, language: str) -> str:
    """The holiday's name; unknown languages get Chinese, as the text catalog does."""
    return _NAMES.get(language, _NAMES["zh"])[h]


DEFAULT_REMINDER_TEXTS: dict[Holiday, dict[str, str]] = {
    Holiday.NEW_YEAR: {
        "zh": (
            "元旦将至，请全体党员干部严守中央八项规定及其实施细则精神，防止“四风”问题反弹回潮。"
            "不收送节礼和电子红包，不借辞旧迎新之机公款吃喝、违规发放津贴补贴。"
            "清清爽爽迎新年，干干净净开新局。"
        ),
        "en": (
            "New Year's Day is approaching. All Party members and cadres must strictly observe "
            "the Central Committee's eight-point rules and guard against any resurgence of the "
            '"four undesirable work styles". Do not give or accept holiday gifts or digital red '
            "envelopes, and do not use the new year as a pretext for banquets at public expense "
            "or irregular allowances. Start the new year with clean hands."
        ),
    },
    Holiday.SPRING_FESTIVAL: {
        "zh": (
            "春节临近，请全体党员干部严守中央八项规定精神，过一个廉洁、节俭、文明的春节。"
            "不收送红包礼金、购物卡和贵重年货，不借拜年之机请托办事、违规吃请。"
            "严禁公车私用，节日期间落实值班制度，遇有重要情况及时报告。"
        ),
        "en": (
            "As the Spring Festival approaches, all Party members and cadres must strictly "
            "observe the eight-point rules and celebrate with integrity and thrift. Do not give "
            "or accept red envelopes, cash gifts, shopping cards or costly New Year goods, and do "
            "not use New Year visits to seek favours or accept improper hospitality. Official "
            "vehicles are not for private use; keep to the duty roster and report important "
            "matters promptly."
        ),
    },
    Holiday.QINGMING: {
        "zh": (
            "清明节期间，请党员干部文明祭扫、绿色祭扫，带头倡导鲜花祭扫、网上祭扫等新风尚。"
            "不借祭扫之机大操大办、铺张浪费，不搞封建迷信，不动用公车公款祭扫。"
            "缅怀革命先烈，传承红色基因，以清风正气告慰英烈。"
        ),
        "en": (
            "During Qingming, Party members and cadres should honour their forebears in a "
            "civil, green way, and set an example with flowers or online remembrance. Do not "
            "use tomb-sweeping as an occasion for lavish ceremonies or superstitious practices, "
            "and never use official vehicles or public funds for it. Remember the revolutionary "
            "martyrs and honour them with integrity."
        ),
    },
    Holiday.LABOUR_DAY: {
        "zh": (
            "劳动节假期将至，请全体党员干部严守纪律规矩，坚决纠治享乐主义、奢靡之风。"
            "不接受管理服务对象安排的宴请和旅游、健身、娱乐活动，不公款旅游，不借考察调研之名游山玩水。"
            "外出注意安全，保持通讯畅通。"
        ),
        "en": (
            "The Labour Day holiday is approaching. All Party members and cadres must keep to "
            "the rules and resist hedonism and extravagance. Do not accept banquets, trips, "
            "fitness or entertainment arranged by those you oversee or serve, and do not travel "
            "at public expense or disguise sightseeing as study tours. Travel safely and stay "
            "reachable."
        ),
    },
    Holiday.DRAGON_BOAT: {
        "zh": (
            "端午佳节将至，请党员干部严守中央八项规定精神，不收送粽子等节礼和消费卡券，不违规组织公款吃喝。"
            "弘扬爱国传统，守住廉洁底线，过一个风清气正的端午节。"
        ),
        "en": (
            "The Dragon Boat Festival is approaching. Party members and cadres must strictly "
            "observe the eight-point rules: do not give or accept zongzi or other holiday gifts "
            "and vouchers, and do not organise meals at public expense. Carry on the patriotic "
            "tradition of the festival and hold the line on integrity."
        ),
    },
    Holiday.MID_AUTUMN: {
        "zh": (
            "中秋将至，请全体党员干部严守中央八项规定精神，不收受月饼等节礼和礼品卡券，"
            "不违规公款吃喝，不公车私用。"
            "自觉抵制“天价月饼”和隐形变异送礼，以清廉家风过好团圆佳节。"
        ),
        "en": (
            "The Mid-Autumn Festival is approaching. All Party members and cadres must strictly "
            "observe the eight-point rules: accept no mooncakes or other holiday gifts and gift "
            "cards, hold no banquets at public expense, and keep official vehicles for official "
            "use. Reject extravagant mooncakes and disguised gift-giving, and spend the reunion "
            "festival with a clean family ethos."
        ),
    },
    Holiday.NATIONAL_DAY: {
        "zh": (
            "国庆假期将至，请全体党员干部严守中央八项规定精神，不违规收送礼品礼金，"
            "不公款吃喝、公款旅游，不公车私用。"
            "不借节日之机操办婚丧喜庆、请托办事。"
            "假期落实值班值守，保持通讯畅通，廉洁过节、安全过节。"
        ),
        "en": (
            "The National Day holiday is approaching. All Party members and cadres must "
            "strictly observe the eight-point rules: give or accept no improper gifts or money, "
            "no banquets or travel at public expense, and no private use of official vehicles. "
            "Do not use the holiday to stage weddings or other celebrations, or to seek favours. "
            "Keep to the duty roster and stay reachable; spend the holiday cleanly and safely."
        ),
    },
}
