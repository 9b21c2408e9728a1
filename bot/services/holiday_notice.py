"""Reading the State Council's holiday notice (国务院办公厅关于20XX年部分节假日安排的通知).

The notice gives one numbered item per holiday:

    一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。
    2月14日（周六）、2月28日（周六）上班。

A clause (between 。，；) with 放假 (or 补休) names days off, one day or a span with 至, whose end
may leave out the month (23日) or carry its own (2月4日) or even a year (2023年1月2日); a clause
with 上班 names adjusted working days (调休上班), separated by 、. Everything in brackets (the
weekday, the lunar date) is ignored, and so is every other clause (安排职工在除夕（2月9日）休息 is
advice, not a day off). Full-width and half-width punctuation and digits are the same (NFKC).
"共N天" and "放假N天" are checked against the span.

Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from bot.services.holidays import Arrangement, Holiday, statutory_days
from bot.services.periods import MAX_YEAR, MIN_YEAR

# A notice is a page of text; anything longer is something else.
MAX_NOTICE_CHARS: Final = 20_000
# The years the bot knows at all (/holidays YEAR takes the same).
FIRST_YEAR: Final = MIN_YEAR
LAST_YEAR: Final = MAX_YEAR

# Names as notices write them (after NFKC), longest first where one contains another.
_NAMES: Final[dict[str, Holiday]] = {
    "元旦": Holiday.NEW_YEAR,
    "春节": Holiday.SPRING_FESTIVAL,
    "清明节": Holiday.QINGMING,
    "清明": Holiday.QINGMING,
    "劳动节": Holiday.LABOUR_DAY,
    "国际劳动节": Holiday.LABOUR_DAY,
    "五一劳动节": Holiday.LABOUR_DAY,
    "端午节": Holiday.DRAGON_BOAT,
    "端午": Holiday.DRAGON_BOAT,
    "中秋节": Holiday.MID_AUTUMN,
    "中秋": Holiday.MID_AUTUMN,
    "国庆节": Holiday.NATIONAL_DAY,
    "国庆": Holiday.NATIONAL_DAY,
}

_TITLE = re.compile(r"关于\s*(\d{4})\s*年[^\n]{0,12}?节假日安排的通知")
# Without the title: "现将2026年元旦、春节……的具体安排通知如下".
_YEAR_IN_TEXT = re.compile(r"(\d{4})\s*年\s*(?:元旦|春节|部分节假日)")
# An item's heading: a Chinese numeral, 、 and the holidays' names up to the colon, at the start
# of a line or (text pasted as one paragraph) right after the previous item's 。.
_ITEM = re.compile(
    r"(?m)(?:^|(?<=[。.]))[ \t]*([一二三四五六七八九十]{1,3})\s*[、.]\s*([^:。\n]{1,30}?)\s*:"
)
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕")
_CLAUSE_SPLIT = re.compile(r"[。.,;\n]")
_NAME_SPLIT = re.compile(r"\s*[、,和与及]\s*")
_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日")
_RANGE = re.compile(r"\s*(?:至|到|~|—|–|-)\s*")
_COUNT = re.compile(r"(?:共|放假)\s*(\d{1,2})\s*天")
_OFF_WORDS: Final = ("放假", "补休")
_WORK_WORD: Final = "上班"


class NoticeError(Exception):
    """The text cannot be read as a notice; `reason` is a text-catalog key (holidays.err.*)."""

    def __init__(self, reason: str, value: str = "") -> None:
        super().__init__(reason, value)
        self.reason = reason
        self.value = value


@dataclass(frozen=True)
class NoticeItem:
    """One numbered item: the holidays its heading names, its days off and working days."""

    holidays: tuple[Holiday, ...]
    days_off: tuple[date, ...]
    workdays: tuple[date, ...]


@dataclass(frozen=True)
class ParsedNotice:
    year: int
    title: str
    items: tuple[NoticeItem, ...]
    # Every day off and adjusted working day, each with its holiday (for a heading that names
    # two, the holiday whose statutory day it is, else the one with more statutory days).
    days_off: Mapping[date, Holiday] = field(default_factory=dict)
    workdays: Mapping[date, Holiday] = field(default_factory=dict)

    def arrangement(self) -> Arrangement:
        return Arrangement(self.year, dict(self.days_off), dict(self.workdays))


def normalise(text: str) -> str:
    """NFKC (full-width ：（）， and digits become ASCII), one kind of line break."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ")


def _year_of(text: str) -> tuple[int, str]:
    title = _TITLE.search(text)
    if title is not None:
        line = text[text.rfind("\n", 0, title.start()) + 1 : title.end()].strip()
        return int(title[1]), line
    found = _YEAR_IN_TEXT.search(text)
    if found is not None:
        year = int(found[1])
        return year, f"国务院办公厅关于{year}年部分节假日安排的通知"
    raise NoticeError("no_year")


def _holidays_named(heading: str) -> tuple[Holiday, ...]:
    found: list[Holiday] = []
    for name in _NAME_SPLIT.split(heading.strip()):
        if not name:
            continue
        holiday = _NAMES.get(name.replace(" ", ""))
        if holiday is None:
            raise NoticeError("unknown_holiday", name)
        if holiday not in found:
            found.append(holiday)
    if not found:
        raise NoticeError("unknown_holiday", heading)
    return tuple(found)


class _Dates:
    """Reads the dates of one item in order: a date without a year takes the last one named (at
    first the notice's), without a month the last month named."""

    def __init__(self, year: int, label: str, new_year: bool) -> None:
        self.year = year
        self.month: int | None = None
        self.label = label
        # 元旦's working days may fall in the December before (2011年12月31日 for 2012).
        self.new_year = new_year

    def read(self, match: re.Match[str], after: date | None = None) -> date:
        year_text, month_text, day_text = match.groups()
        month = int(month_text) if month_text else self.month
        if month is None:
            raise NoticeError("no_month", f"{self.label}：{match[0]}")
        year = int(year_text) if year_text else self.year
        if not year_text and self.new_year and month == 12 and after is None:
            year -= 1
        try:
            day = date(year, month, int(day_text))
        except ValueError:
            raise NoticeError("bad_date", f"{self.label}：{match[0]}") from None
        if after is not None and day < after and not year_text:
            # "12月31日至1月2日": the span runs into the next year.
            try:
                day = date(year + 1, month, int(day_text))
            except ValueError:
                raise NoticeError("bad_date", f"{self.label}：{match[0]}") from None
        if year_text:
            self.year = year
        self.month = month
        return day


def _off_days(clause: str, dates: _Dates) -> list[date]:
    """The days off a clause names before its 放假/补休: single days, or a span with 至."""
    parts = _RANGE.split(clause, maxsplit=1)
    first = list(_DATE.finditer(parts[0]))
    found = [dates.read(m) for m in first]
    if len(parts) == 2 and found:
        rest = list(_DATE.finditer(parts[1]))
        if not rest:
            raise NoticeError("bad_range", f"{dates.label}：{clause}")
        start = found[-1]
        end = dates.read(rest[0], after=start)
        if end < start or (end - start).days > 40:
            raise NoticeError("bad_range", f"{dates.label}：{clause}")
        found += [start + timedelta(days=n) for n in range(1, (end - start).days + 1)]
        found += [dates.read(m) for m in rest[1:]]
    return found


def _read_item(year: int, holidays: tuple[Holiday, ...], body: str, label: str) -> NoticeItem:
    dates = _Dates(year, label, Holiday.NEW_YEAR in holidays)
    days_off: list[date] = []
    workdays: list[date] = []
    for clause in _CLAUSE_SPLIT.split(_BRACKETS.sub("", body)):
        off_at = min((clause.find(w) for w in _OFF_WORDS if w in clause), default=-1)
        work_at = clause.find(_WORK_WORD)
        if off_at >= 0 and (work_at < 0 or off_at < work_at):
            days_off += _off_days(clause[:off_at], dates)
        elif work_at >= 0:
            workdays += [dates.read(m) for m in _DATE.finditer(clause[:work_at])]
    if not days_off:
        raise NoticeError("no_days_off", label)
    if len(set(days_off)) != len(days_off):
        raise NoticeError("overlap", label)
    counted = _COUNT.search(body)
    if counted is not None and int(counted[1]) != len(days_off):
        raise NoticeError("count", f"{label}：{counted[0]} / {len(days_off)}")
    if set(days_off) & set(workdays):
        raise NoticeError("overlap", label)
    return NoticeItem(holidays, tuple(sorted(days_off)), tuple(sorted(workdays)))


def _owner(item: NoticeItem) -> tuple[dict[date, Holiday], Holiday]:
    """For a heading naming two holidays (中秋节、国庆节), which day is whose: a holiday's own
    statutory day is its, every other day (and every working day) the one with more statutory
    days in the span, as chinese_calendar files them."""
    if len(item.holidays) == 1:
        return {}, item.holidays[0]
    statutory: dict[date, Holiday] = {}
    for year in {d.year for d in item.days_off}:
        statutory.update(statutory_days(year))
    own = {d: statutory[d] for d in item.days_off if statutory.get(d) in item.holidays}
    counts = Counter(own.values())
    main = max(item.holidays, key=lambda h: (counts[h], -item.holidays.index(h)))
    return own, main


def parse_notice(text: str) -> ParsedNotice:
    """The notice's year, its items, and every day off and adjusted working day; NoticeError when
    it cannot be read (no year, an unknown holiday, a date that does not exist, a count that
    does not match its span, a day named twice)."""
    if len(text) > MAX_NOTICE_CHARS:
        raise NoticeError("too_long", str(MAX_NOTICE_CHARS))
    text = normalise(text)
    year, title = _year_of(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NoticeError("year_range", str(year))
    headings = list(_ITEM.finditer(text))
    if not headings:
        raise NoticeError("no_items")
    items: list[NoticeItem] = []
    days_off: dict[date, Holiday] = {}
    workdays: dict[date, Holiday] = {}
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        # The last item ends with its paragraph: what follows is the closing and the signature.
        body = text[heading.end() : end]
        if index + 1 == len(headings):
            body = re.split(r"\n\s*\n", body, maxsplit=1)[0]
        label = heading[2].strip()
        item = _read_item(year, _holidays_named(heading[2]), body, label)
        own, main = _owner(item)
        for day in item.days_off:
            if day in days_off or day in workdays:
                raise NoticeError("overlap", f"{label}：{day.isoformat()}")
            days_off[day] = own.get(day, main)
        for day in item.workdays:
            if day in days_off or day in workdays:
                raise NoticeError("overlap", f"{label}：{day.isoformat()}")
            workdays[day] = main
        items.append(item)
    for day in (*days_off, *workdays):
        if abs(day.year - year) > 1:
            raise NoticeError("bad_date", day.isoformat())
    return ParsedNotice(
        year=year,
        title=title,
        items=tuple(items),
        days_off=dict(sorted(days_off.items())),
        workdays=dict(sorted(workdays.items())),
    )
