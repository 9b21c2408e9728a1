"""Schedules typed in chat: readable presets to RFC 5545 rules, occurrences, and descriptions.

A secretary types something like ``每周五 17:00``, ``monthly last 9:00`` or
``2026-12-01 09:00``; :func:`parse_schedule` turns it into a :class:`Schedule` whose ``rule`` is
an RRULE body (``None`` for a one-off) and whose ``anchor`` is the local DTSTART.

Time zones: every rule is evaluated on naive wall-clock times in the organisation's zone, and
each result is then given that zone with ``fold=0``. So a 17:00 meeting stays at 17:00 local on
both sides of a DST change. On the rare wall times that a DST change makes ambiguous or
skips, ``fold=0`` picks the offset that was in force before the change: an ambiguous 02:30 is
the first (summer-time) one, and a skipped 02:30 lands one hour later in the new offset
(03:30), which is when a person whose clock jumped would expect it.

Monthly rules on day 29–31 follow plain RFC 5545 ``BYMONTHDAY`` semantics: a month without that
day is skipped, not moved to its last day. ``每月最后一天`` / ``monthly last`` exists for that.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot.services.periods import check_year

__all__ = [
    "Schedule",
    "ScheduleError",
    "describe",
    "next_occurrence",
    "occurrences_between",
    "parse_schedule",
]

REASONS = frozenset(
    {
        "empty",
        "unknown_form",
        "bad_time",
        "bad_weekday",
        "bad_day",
        "bad_date",
        "in_past",
        "bad_rule",
    }
)


class ScheduleError(ValueError):
    """Why a typed schedule was refused; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, value: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown schedule error reason {reason!r}")
        super().__init__(f"{reason}: {value!r}" if value else reason)
        self.reason = reason
        self.value = value


@dataclass(frozen=True)
class Schedule:
    rule: str | None
    """An RRULE body without ``RRULE:`` or DTSTART, or ``None`` for a one-off."""
    first: datetime
    """Aware UTC: the first occurrence strictly after the ``now`` it was parsed at."""
    anchor: datetime
    """Aware, in the organisation's zone: the local DTSTART (for a one-off, the moment itself)."""


# Weekday codes in Monday-first order, the order rules and descriptions list them in.
_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WORKDAYS = ("MO", "TU", "WE", "TH", "FR")
# 日 and 天 both name Sunday (星期日, 星期天); describe() writes 日.
_ZH_DAYS = {
    "一": "MO",
    "二": "TU",
    "三": "WE",
    "四": "TH",
    "五": "FR",
    "六": "SA",
    "日": "SU",
    "天": "SU",
}
_ZH_NAMES = dict(zip(_CODES, "一二三四五六日", strict=True))
_EN_NAMES = dict(
    zip(
        _CODES,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
_EN_DAYS = {name.lower(): code for code, name in _EN_NAMES.items()}
_EN_DAYS |= {name.lower()[:3]: code for code, name in _EN_NAMES.items()}
_EN_DAYS |= {"tues": "TU", "thur": "TH", "thurs": "TH"}

_SUB_DAILY = frozenset({"HOURLY", "MINUTELY", "SECONDLY"})
_FREQS = frozenset({"YEARLY", "MONTHLY", "WEEKLY", "DAILY"}) | _SUB_DAILY

# Wall-clock and UTC order can disagree by up to the size of an offset change (a whole day when
# Samoa crossed the date line), so searches start this far early and look this far past a hit.
_SLACK = timedelta(days=2)
# dateutil walks to year 9999 looking for a rule that can never fire (UNTIL stops it only once
# something fires), which takes seconds. The Gregorian calendar, weekdays included, repeats
# every 400 years, so a raw rule is tried from its anchor moved on by whole cycles to just
# before 9999, leaving at least _PROBE_YEARS to walk: the same pattern on a short road.
_PROBE_YEARS = 100
_CYCLE_YEARS = 400

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_TRAILING_TIME = re.compile(r"\s*[0-9]+\s*:\s*[0-9]*$")
_RAW = re.compile(r"(?:rrule\s*:|freq\s*=)")
_DATE = re.compile(r"([0-9]+)([-/])([0-9]+)\2([0-9]+)")
_RELATIVE = re.compile(r"(今天|明天|today|tomorrow)(?![a-z])")
_DAILY = re.compile(r"(?:每天|每日|daily|every\s?day)(?![a-z])")
_WORKDAY = re.compile(r"(?:每个工作日|工作日|weekdays|every weekday)(?![a-z])")
_ZH_WEEKLY = re.compile(r"每个?(?:周|星期|礼拜)([^0-9:]*)")
_ZH_MONTHLY = re.compile(r"每个?月")
_ZH_MONTH_DAY = re.compile(r"\s*(?:([0-9]+)\s*[日号]|(最后一天))")
_EN_MONTHLY = re.compile(r"(?:monthly|every month)(?![a-z])")
_EN_MONTH_DAY = re.compile(
    r"\s*(?:on\s+)?(?:the\s+)?(?:([0-9]+)(?:st|nd|rd|th)?(?![0-9:])|(last)(?:\s+day)?(?![a-z]))"
)
_EN_WEEKLY = re.compile(r"(weekly|every)(?![a-z])\s*(?:on\s+)?([^0-9]*)")
_EN_SEPARATORS = re.compile(r"[\s,&/]+|\band\b")
_ZH_SEPARATORS = re.compile(r"[\s,、和及]+")

_RULE_TEXT = re.compile(r"[A-Z0-9=;,+\-]+")
_UNTIL = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")
_POSITIVE = re.compile(r"[0-9]+")


# --- parsing -----------------------------------------------------------------------------------


def parse_schedule(text: str, tz: ZoneInfo, now: datetime) -> Schedule:
    """Read a schedule typed in chat; raise :class:`ScheduleError` saying what was wrong.

    Presets get an anchor of today's local date (in ``tz``) at the typed time, and their rules
    carry BYHOUR/BYMINUTE/BYSECOND so that the time does not depend on the anchor. A raw rule
    (``RRULE:…`` or ``FREQ=…``) is anchored at the current local minute, so one that names no
    time repeats at the minute it was entered. Without COUNT or UNTIL a raw rule may fire at most
    once a day (no HOURLY/MINUTELY/SECONDLY, no several BYHOUR/BYMINUTE/BYSECOND values); a
    rule that can never fire is refused as ``bad_rule``, one that has already ended as
    ``in_past``. A UTC UNTIL (``…Z``) means that instant; a bare-date UNTIL includes that day.
    A one-off date with a year outside 2000–2100 is refused as the domain's ``Invalid``
    (``date.year_range``), like every date and period typed anywhere.
    """
    now_utc = _as_utc(now)
    # NFKC folds full-width digits, letters, colons and spaces to ASCII.
    normal = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    if not normal:
        raise ScheduleError("empty")
    if _RAW.match(normal):
        return _parse_raw(text, tz, now_utc)

    today = now_utc.astimezone(tz).date()
    if match := _DATE.match(normal):
        day = _date(match.group(1), match.group(3), match.group(4), match.group(0))
        return _one_off(day, _time(normal[match.end() :]), tz, now_utc)
    if match := _RELATIVE.match(normal):
        offset = 1 if match.group(1) in ("明天", "tomorrow") else 0
        return _one_off(today + timedelta(days=offset), _time(normal[match.end() :]), tz, now_utc)

    head = _recurring_head(normal)
    if head is None:
        raise ScheduleError("unknown_form", text.strip())
    rule_head, rest = head
    at = _time(rest)
    rule = f"{rule_head};BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND=0"
    anchor = datetime.combine(today, at, tzinfo=tz)
    first = next_occurrence(rule, anchor, now_utc, tz)
    if first is None:  # every preset fires again within two months
        raise ScheduleError("bad_rule", rule)
    return Schedule(rule=rule, first=first, anchor=anchor)


def _recurring_head(normal: str) -> tuple[str, str] | None:
    """The rule without its time, and the text left for the time; None if no preset matches."""
    if match := _DAILY.match(normal):
        return "FREQ=DAILY", normal[match.end() :]
    if match := _WORKDAY.match(normal):
        return _weekly(_WORKDAYS), normal[match.end() :]
    if match := _ZH_WEEKLY.match(normal):
        days = match.group(1).strip()
        chars = _ZH_SEPARATORS.sub("", days)
        if not chars or any(char not in _ZH_DAYS for char in chars):
            raise ScheduleError("bad_weekday", days)
        return _weekly(_ZH_DAYS[char] for char in chars), normal[match.end() :]
    if match := _ZH_MONTHLY.match(normal):
        return _monthly(normal[match.end() :], _ZH_MONTH_DAY)
    if match := _EN_MONTHLY.match(normal):
        return _monthly(normal[match.end() :], _EN_MONTH_DAY)
    if match := _EN_WEEKLY.match(normal):
        names = match.group(2).strip()
        tokens = [token for token in _EN_SEPARATORS.split(names) if token]
        if not tokens and match.group(1) == "every":
            # "every 2 weeks 9:00" and the like: not a weekday list gone wrong.
            return None
        unknown = next((token for token in tokens if token not in _EN_DAYS), None)
        if unknown is not None or not tokens:
            raise ScheduleError("bad_weekday", unknown or names)
        return _weekly(_EN_DAYS[token] for token in tokens), normal[match.end() :]
    return None


def _weekly(codes: Iterable[str]) -> str:
    chosen = set(codes)
    return "FREQ=WEEKLY;BYDAY=" + ",".join(code for code in _CODES if code in chosen)


def _monthly(rest: str, pattern: re.Pattern[str]) -> tuple[str, str]:
    match = pattern.match(rest)
    if match is None:
        raise ScheduleError("bad_day", _TRAILING_TIME.sub("", rest).strip())
    number, last = match.group(1), match.group(2)
    if last:
        day = -1
    elif 1 <= int(number) <= 31:
        day = int(number)
    else:
        raise ScheduleError("bad_day", number)
    return f"FREQ=MONTHLY;BYMONTHDAY={day}", rest[match.end() :]


def _time(text: str) -> time:
    value = text.strip()
    # Spaces around the colon are typing noise, not a different time.
    match = _TIME.fullmatch(re.sub(r"\s*:\s*", ":", value))
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleError("bad_time", value)
    return time(int(match.group(1)), int(match.group(2)))


def _date(year: str, month: str, day: str, typed: str) -> date:
    if len(year) != 4 or len(month) > 2 or len(day) > 2:
        raise ScheduleError("bad_date", typed)
    # The year range every typed date keeps (Invalid `date.year_range`): 0001-01-01 00:00 in
    # the organisation's zone is no UTC instant at all.
    check_year(int(year), typed)
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ScheduleError("bad_date", typed) from None


def _one_off(day: date, at: time, tz: ZoneInfo, now: datetime) -> Schedule:
    anchor = datetime.combine(day, at, tzinfo=tz)
    first = anchor.astimezone(UTC)
    if first <= now:
        raise ScheduleError("in_past", f"{day.isoformat()} {at:%H:%M}")
    return Schedule(rule=None, first=first, anchor=anchor)


# The most occurrences a more-than-daily raw rule may have (with COUNT).
MAX_BURST = 10


def _parse_raw(text: str, tz: ZoneInfo, now: datetime) -> Schedule:
    rule = _canonical_rule(text)
    parts = _rule_parts(rule)
    freq = parts.get("FREQ", "")
    if freq not in _FREQS:
        raise ScheduleError("bad_rule", rule)
    for key in ("INTERVAL", "COUNT"):
        if key in parts and not (_POSITIVE.fullmatch(parts[key]) and int(parts[key]) > 0):
            raise ScheduleError("bad_rule", rule)
    if "COUNT" in parts and "UNTIL" in parts:  # RFC 5545 allows one or the other
        raise ScheduleError("bad_rule", rule)
    # More often than daily is not a reminder, it is spam, whether by FREQ or by several times
    # a day. Only a short counted burst is allowed: an UNTIL can lie decades away.
    bounded = "COUNT" in parts and int(parts["COUNT"]) <= MAX_BURST
    if not bounded and (freq in _SUB_DAILY or _times_per_day(parts) > 1):
        raise ScheduleError("bad_rule", rule)
    if freq in _SUB_DAILY and "BYSETPOS" in parts:
        # A sub-daily BYSETPOS past its set size never fires, and dateutil would try every
        # hour, minute or second of centuries to find that out.
        raise ScheduleError("bad_rule", rule)

    local_now = now.astimezone(tz)
    anchor = local_now.replace(second=0, microsecond=0)
    wall = anchor.replace(tzinfo=None)
    if "UNTIL" in parts and _until_wall(parts["UNTIL"], tz, rule) <= local_now.replace(tzinfo=None):
        raise ScheduleError("in_past", rule)
    _compile(rule, wall, tz)  # rrulestr's own validation
    if not _ever_fires(parts, wall, tz):
        raise ScheduleError("bad_rule", rule)
    first = next_occurrence(rule, anchor, now, tz)
    if first is None:
        raise ScheduleError("in_past", rule)
    return Schedule(rule=rule, first=first, anchor=anchor)


def _ever_fires(parts: dict[str, str], wall: datetime, tz: ZoneInfo) -> bool:
    """Whether the rule, without COUNT or UNTIL, fires within a century or more of ``wall``."""
    cycles = max(0, (datetime.max.year - _PROBE_YEARS - wall.year) // _CYCLE_YEARS)
    shifted = wall.replace(year=wall.year + cycles * _CYCLE_YEARS)
    unbounded = {key: value for key, value in parts.items() if key not in ("COUNT", "UNTIL")}
    try:
        return _compile(_join(unbounded), shifted, tz).after(shifted, inc=True) is not None
    except (ValueError, OverflowError):
        return False


def _canonical_rule(text: str) -> str:
    rule = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()
    return rule.removeprefix("RRULE:")


def _rule_parts(rule: str) -> dict[str, str]:
    """KEY=VALUE pairs of an RRULE body, refusing anything that could smuggle in other lines."""
    if not _RULE_TEXT.fullmatch(rule):
        raise ScheduleError("bad_rule", rule)
    parts: dict[str, str] = {}
    for item in filter(None, rule.split(";")):
        key, _, value = item.partition("=")
        if not key or not value or key in parts:
            raise ScheduleError("bad_rule", rule)
        parts[key] = value
    return parts


def _join(parts: dict[str, str]) -> str:
    return ";".join(f"{key}={value}" for key, value in parts.items())


def _times_per_day(parts: dict[str, str]) -> int:
    count = 1
    for key in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        if key in parts:
            count *= len(set(parts[key].split(",")))
    return count


def _until_wall(value: str, tz: ZoneInfo, rule: str) -> datetime:
    """UNTIL as a local wall-clock time, to compare with naive local occurrences."""
    match = _UNTIL.fullmatch(value)
    if match is None:
        raise ScheduleError("bad_rule", rule)
    day_text, time_text, utc = match.groups()
    try:
        if time_text is None:
            # A bare date means "through that day", not "until its midnight".
            return datetime.strptime(day_text, "%Y%m%d").replace(hour=23, minute=59, second=59)
        moment = datetime.strptime(day_text + time_text, "%Y%m%d%H%M%S")
    except ValueError:
        raise ScheduleError("bad_rule", rule) from None
    if utc:
        return moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    return moment


# --- evaluation --------------------------------------------------------------------------------


def _compile(rule: str, wall: datetime, tz: ZoneInfo) -> rrule:
    """The rule on naive local wall-clock times starting at ``wall``."""
    parts = _rule_parts(_canonical_rule(rule))
    if "UNTIL" in parts:
        # dateutil refuses a UTC UNTIL with a naive DTSTART; the same instant as local wall time
        # keeps the rule's meaning.
        parts["UNTIL"] = _until_wall(parts["UNTIL"], tz, rule).strftime("%Y%m%dT%H%M%S")
    try:
        compiled = rrulestr(_join(parts), dtstart=wall)
    except (ValueError, TypeError, OverflowError):
        raise ScheduleError("bad_rule", rule) from None
    if not isinstance(compiled, rrule):  # one RRULE line gives one rrule
        raise ScheduleError("bad_rule", rule)
    return compiled


def next_occurrence(rule: str, anchor: datetime, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after ``after`` (aware, any zone), as aware UTC.

    None once the rule has ended (COUNT or UNTIL).
    """
    after_utc = _as_utc(after)
    after_wall = _wall(after_utc, tz)
    compiled = _compile(rule, _anchor_wall(anchor, tz), tz)
    best: datetime | None = None
    first_hit: datetime | None = None
    for wall in compiled.xafter(_minus(after_wall, _SLACK), inc=True):
        if first_hit is not None and wall > first_hit + _SLACK:
            break
        moment = _localize(wall, tz)
        if moment > after_utc:
            # A time skipped by DST lands after later wall times of that night; keep looking.
            first_hit = first_hit or wall
            best = moment if best is None else min(best, moment)
    return best


def occurrences_between(
    rule: str, anchor: datetime, start: datetime, end: datetime, tz: ZoneInfo
) -> list[datetime]:
    """Occurrences ``t`` with ``start < t <= end``, as sorted aware UTC datetimes."""
    start_utc, end_utc = _as_utc(start), _as_utc(end)
    if end_utc <= start_utc:
        return []
    low = _minus(_wall(start_utc, tz), _SLACK)
    high = _plus(_wall(end_utc, tz), _SLACK)
    compiled = _compile(rule, _anchor_wall(anchor, tz), tz)
    moments = {_localize(wall, tz) for wall in compiled.between(low, high, inc=True)}
    return sorted(moment for moment in moments if start_utc < moment <= end_utc)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("recurrence needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _anchor_wall(anchor: datetime, tz: ZoneInfo) -> datetime:
    # Converting an anchor already in tz could move a DST-skipped wall time; only convert one
    # that came back in another zone (say UTC from the database).
    same_zone = anchor.tzinfo is tz or (
        tz.key is not None and getattr(anchor.tzinfo, "key", None) == tz.key
    )
    if anchor.tzinfo is None or same_zone:
        return anchor.replace(tzinfo=None)
    return _wall(anchor, tz)


def _localize(wall: datetime, tz: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _plus(moment: datetime, delta: timedelta) -> datetime:
    return min(moment, datetime.max - delta) + delta


def _minus(moment: datetime, delta: timedelta) -> datetime:
    return max(moment, datetime.min + delta) - delta


# --- description -------------------------------------------------------------------------------


def describe(schedule_rule: str | None, anchor: datetime, language: str) -> str:
    """A rule in words, e.g. ``每周五 17:00`` or ``every Friday 17:00``.

    ``anchor`` should be in the organisation's zone: its wall clock is what is shown. A rule the
    presets could not have produced is shown as itself.
    """
    if language not in ("zh", "en"):
        raise ValueError(f"unsupported language {language!r}")
    if schedule_rule is None:
        return f"{anchor:%Y-%m-%d %H:%M}"
    zh = language == "zh"
    shape = _shape(schedule_rule, anchor)
    if shape is None:
        start = f"{anchor:%Y-%m-%d %H:%M}"
        rule = _canonical_rule(schedule_rule)
        return f"自定义规则 {rule}（自 {start} 起）" if zh else f"custom rule {rule} from {start}"
    words, at = shape
    return f"{(_zh_words if zh else _en_words)(words)} {at}"


_Shape = tuple[tuple[str, ...], str]
_PRESET_KEYS = frozenset(
    {"FREQ", "INTERVAL", "WKST", "BYDAY", "BYMONTHDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}
)


def _shape(rule: str, anchor: datetime) -> _Shape | None:
    """(("daily",) | ("weekly", codes…) | ("monthly", day), "HH:MM"), or None if not a preset."""
    try:
        parts = _rule_parts(_canonical_rule(rule))
    except ScheduleError:
        return None
    if not set(parts) <= _PRESET_KEYS:
        return None
    if parts.get("INTERVAL", "1") != "1" or parts.get("BYSECOND", "0") != "0":
        return None
    hour = _single(parts.get("BYHOUR"), anchor.hour, 0, 23)
    minute = _single(parts.get("BYMINUTE"), anchor.minute, 0, 59)
    if hour is None or minute is None:
        return None
    at = f"{hour:02d}:{minute:02d}"
    freq = parts.get("FREQ")
    if freq in ("DAILY", "WEEKLY") and "BYMONTHDAY" not in parts:
        if "BYDAY" not in parts:
            codes = list(_CODES) if freq == "DAILY" else [_CODES[anchor.weekday()]]
        else:
            codes = parts["BYDAY"].split(",")
        if not set(codes) <= set(_CODES):
            return None
        ordered = tuple(code for code in _CODES if code in codes)
        return (("daily",) if ordered == _CODES else ("weekly", *ordered)), at
    if freq == "MONTHLY" and "BYDAY" not in parts:
        day = _single(parts.get("BYMONTHDAY"), anchor.day, -1, 31)
        if day is None or day == 0:
            return None
        return ("monthly", str(day)), at
    return None


def _single(value: str | None, default: int, low: int, high: int) -> int | None:
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", value) or not low <= int(value) <= high:
        return None
    return int(value)


def _zh_words(words: tuple[str, ...]) -> str:
    kind, *rest = words
    if kind == "daily":
        return "每天"
    if kind == "weekly":
        if tuple(rest) == _WORKDAYS:
            return "每个工作日"
        return "每周" + "、".join(_ZH_NAMES[code] for code in rest)
    return "每月最后一天" if rest[0] == "-1" else f"每月{rest[0]}日"


def _en_words(words: tuple[str, ...]) -> str:
    kind, *rest = words
    if kind == "daily":
        return "every day"
    if kind == "weekly":
        if tuple(rest) == _WORKDAYS:
            return "every weekday"
        names = [_EN_NAMES[code] for code in rest]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"every {listed}"
    if rest[0] == "-1":
        return "every month on the last day"
    return f"every month on the {_ordinal(int(rest[0]))}"


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 11 <= number % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"
