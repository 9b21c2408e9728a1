"""The State Council's holiday notice as an admin loads it: read, shown for confirmation, stored,
and from then on the dates holiday reminders and working days follow for its year; what is in
force for a year and where each date comes from; and the November/December reminder to admins
while next year's arrangement is missing.

In chat a notice is staged (pending) until its admin presses 确认; on the command line it is
stored at once after the prompt (or `--yes`). Either way the holiday reminders already scheduled
move to the dates the notice gives, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, authorize
from bot.config import Config, parse_hhmm
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, ensure_standing_job
from bot.services import audit, reminders
from bot.services.holiday_calendar import ACTIVE, load_calendar, missing_years
from bot.services.holiday_notice import NoticeError, ParsedNotice, parse_notice
from bot.services.holidays import (
    BUILT_IN,
    Calendar,
    Holiday,
    HolidayBreak,
    Source,
    holiday_name,
    official_range,
)
from bot.services.items import PushSettings
from bot.texts import Raw, t
from storage.models import HolidayNotice, HolidayNoticeAlert, HolidayNoticeDay, Member, Role

IMPORT_COMMAND: Final = "holidays_import"
JOB_ALERT: Final = "holiday_notice_alert"
DAILY: Final = "FREQ=DAILY"
PENDING: Final = "pending"
REPLACED: Final = "replaced"
CANCELLED: Final = "cancelled"
# The months in which admins hear that next year's arrangement is missing.
ALERT_MONTHS: Final = (11, 12)


def read_notice(text: str) -> ParsedNotice:
    """The notice parsed; an unreadable one is the service's Invalid, with the reason's text."""
    try:
        return parse_notice(text)
    except NoticeError as exc:
        raise Invalid(f"holidays.err.{exc.reason}", value=exc.value) from None


# ------------------------------------------------------------------ importing


@dataclass(frozen=True)
class NoticePreview:
    """What confirming a notice would do."""

    parsed: ParsedNotice
    # The staged notice's id (for the buttons); None on the command line, before it is stored.
    notice_id: int | None
    # What the notice takes the place of for its year, and when that notice was confirmed.
    instead: Source | None
    replaces_confirmed_at: datetime | None
    # Days that differ from the installed calendar's copy of the year (None: it has none).
    differs: int | None


def differences(parsed: ParsedNotice) -> int | None:
    """On how many days of its year the notice and the installed calendar's copy of it disagree
    about working or not (weekends inside a holiday span are days off either way); None when
    the installed calendar does not have the year."""
    if BUILT_IN.source(parsed.year) is not Source.OFFICIAL:
        return None
    noticed = Calendar([parsed.arrangement()])
    day = date(parsed.year, 1, 1)
    differ = 0
    while day.year == parsed.year:
        differ += noticed.is_working_day(day) != BUILT_IN.is_working_day(day)
        day += timedelta(days=1)
    return differ


async def _in_force(session: AsyncSession, org_id: int, year: int) -> HolidayNotice | None:
    return await session.scalar(
        select(HolidayNotice)
        .where(
            HolidayNotice.organisation_id == org_id,
            HolidayNotice.year == year,
            HolidayNotice.status == ACTIVE,
        )
        .order_by(HolidayNotice.confirmed_at.desc(), HolidayNotice.id.desc())
        .limit(1)
    )


async def _preview(
    session: AsyncSession, org_id: int, parsed: ParsedNotice, notice_id: int | None
) -> NoticePreview:
    current = await _in_force(session, org_id, parsed.year)
    instead = Source.NOTICE if current is not None else BUILT_IN.source(parsed.year)
    return NoticePreview(
        parsed,
        notice_id,
        instead,
        current.confirmed_at if current is not None else None,
        differences(parsed),
    )


def _add_notice(
    session: AsyncSession,
    org_id: int,
    parsed: ParsedNotice,
    text: str,
    *,
    status: str,
    source: str,
    member_id: int | None,
    now: datetime,
) -> HolidayNotice:
    notice = HolidayNotice(
        organisation_id=org_id,
        year=parsed.year,
        title=parsed.title[:200],
        text=text,
        status=status,
        source=source,
        created_by_member_id=member_id,
        created_at=now,
    )
    session.add(notice)
    return notice


async def _add_days(session: AsyncSession, notice: HolidayNotice, parsed: ParsedNotice) -> None:
    await session.flush()
    session.add_all(
        [
            *(
                HolidayNoticeDay(notice_id=notice.id, day=d, working=False, holiday=h.value)
                for d, h in parsed.days_off.items()
            ),
            *(
                HolidayNoticeDay(notice_id=notice.id, day=d, working=True, holiday=h.value)
                for d, h in parsed.workdays.items()
            ),
        ]
    )
    await session.flush()


async def stage_notice(
    session: AsyncSession, org_id: int, actor: Actor, text: str, *, now: datetime
) -> NoticePreview:
    """Read a notice pasted in chat and keep it for its admin's 确认 (the role is checked here
    too, as for every command). Commits."""
    authorize(actor, IMPORT_COMMAND)
    parsed = read_notice(text)
    notice = _add_notice(
        session,
        org_id,
        parsed,
        text,
        status=PENDING,
        source="bot",
        member_id=actor.member_id,
        now=now,
    )
    await _add_days(session, notice, parsed)
    preview = await _preview(session, org_id, parsed, notice.id)
    await session.commit()
    return preview


async def preview_notice(session: AsyncSession, org_id: int, text: str) -> NoticePreview:
    """The command line's preview: nothing is stored."""
    return await _preview(session, org_id, read_notice(text), None)


@dataclass(frozen=True)
class Imported:
    year: int
    days_off: int
    workdays: int
    # Holiday reminders moved to the notice's dates.
    moved: int


async def _put_in_force(
    session: AsyncSession,
    settings: PushSettings,
    notice: HolidayNotice,
    parsed_counts: tuple[int, int],
    *,
    actor_member_id: int | None,
    source: str,
    now: datetime,
) -> Imported:
    """The notice replaces the one in force for its year (if any); the holiday reminders move
    to its dates; an audit entry records it. The caller commits."""
    await session.execute(
        update(HolidayNotice)
        .where(
            HolidayNotice.organisation_id == notice.organisation_id,
            HolidayNotice.year == notice.year,
            HolidayNotice.status == ACTIVE,
            HolidayNotice.id != notice.id,
        )
        .values(status=REPLACED)
    )
    notice.status = ACTIVE
    notice.confirmed_at = now
    await session.flush()
    calendar = await load_calendar(session, notice.organisation_id)
    moved = await reminders.reschedule_holiday_reminders(session, settings, calendar, now)
    off, work = parsed_counts
    audit.record(
        session,
        action="holidays.imported",
        entity="holiday_notice",
        entity_id=notice.id,
        actor_member_id=actor_member_id,
        source=source,
        year=notice.year,
        days_off=off,
        workdays=work,
        reminders_moved=moved,
    )
    return Imported(notice.year, off, work, moved)


async def _counts(session: AsyncSession, notice_id: int) -> tuple[int, int]:
    rows = (
        await session.scalars(
            select(HolidayNoticeDay.working).where(HolidayNoticeDay.notice_id == notice_id)
        )
    ).all()
    return sum(1 for w in rows if not w), sum(1 for w in rows if w)


async def _claim(session: AsyncSession, org_id: int, notice_id: int, actor: Actor) -> HolidayNotice:
    """The staged notice, locked, checked to be the presser's own and still pending."""
    authorize(actor, IMPORT_COMMAND)
    notice = await session.scalar(
        select(HolidayNotice).where(HolidayNotice.id == notice_id).with_for_update()
    )
    if notice is None or notice.organisation_id != org_id:
        raise NotFound("holidays.unknown")
    if notice.created_by_member_id != actor.member_id:
        raise Denied("not_your_button")
    if notice.status != PENDING:
        status = t(actor.language, f"holidays.status.{notice.status}")
        raise Denied("holidays.settled", status=status)
    return notice


async def confirm_notice(
    session: AsyncSession, settings: PushSettings, notice_id: int, actor: Actor, *, now: datetime
) -> Imported:
    """The 确认 button: the staged notice is in force from now on. Pressed twice, refused."""
    notice = await _claim(session, settings.org_id, notice_id, actor)
    imported = await _put_in_force(
        session,
        settings,
        notice,
        await _counts(session, notice.id),
        actor_member_id=actor.member_id,
        source="bot",
        now=now,
    )
    await session.commit()
    return imported


async def cancel_notice(session: AsyncSession, org_id: int, notice_id: int, actor: Actor) -> None:
    notice = await _claim(session, org_id, notice_id, actor)
    notice.status = CANCELLED
    await session.commit()


async def import_notice(
    session: AsyncSession, settings: PushSettings, text: str, *, now: datetime
) -> Imported:
    """The command line's import, after its prompt: stored and in force at once."""
    parsed = read_notice(text)
    notice = _add_notice(
        session,
        settings.org_id,
        parsed,
        text,
        status=PENDING,
        source="cli",
        member_id=None,
        now=now,
    )
    await _add_days(session, notice, parsed)
    imported = await _put_in_force(
        session,
        settings,
        notice,
        (len(parsed.days_off), len(parsed.workdays)),
        actor_member_id=None,
        source="cli",
        now=now,
    )
    await session.commit()
    return imported


# ------------------------------------------------------------------ what is in force


@dataclass(frozen=True)
class YearView:
    year: int
    # None: nothing is known of the year (before 2004, after 2100).
    source: Source | None
    # Breaks with a day in the year (a New Year break from 31 December included), by start.
    breaks: tuple[HolidayBreak, ...]
    notice_confirmed_at: datetime | None = None
    # "cli", or the name of the admin who confirmed it.
    notice_by: str | None = None


async def year_view(session: AsyncSession, org_id: int, year: int) -> YearView:
    calendar = await load_calendar(session, org_id)
    source = calendar.source(year)
    if source is None:
        return YearView(year, None, ())
    breaks = [
        brk
        for y in (year - 1, year)
        if calendar.has_data(y)
        for brk in calendar.holiday_breaks(y)
        if brk.end.year >= year
    ]
    confirmed_at: datetime | None = None
    by: str | None = None
    if source is Source.NOTICE:
        notice = await _in_force(session, org_id, year)
        if notice is not None:
            confirmed_at = notice.confirmed_at
            member = (
                await session.get(Member, notice.created_by_member_id)
                if notice.created_by_member_id is not None
                else None
            )
            by = member.name if member is not None else notice.source
    return YearView(year, source, tuple(breaks), confirmed_at, by)


# ------------------------------------------------------------------ rendering


def day_label(lang: str, day: date, *, with_year: bool = False) -> str:
    weekday = t(lang, "holidays.weekdays").split(",")[day.weekday()]
    month = t(lang, "holidays.months").split(",")[day.month - 1]
    key = "holidays.day_in_year" if with_year else "holidays.day"
    return t(lang, key, year=day.year, month=month, day=day.day, weekday=weekday)


def days_label(lang: str, days: Sequence[date], year: int) -> str:
    """A span (first to last) when the days follow one another, else the days one by one."""
    if not days:
        return ""
    ordered = sorted(days)

    def one(d: date) -> str:
        return day_label(lang, d, with_year=d.year != year)

    consecutive = all((b - a).days == 1 for a, b in pairwise(ordered))
    if len(ordered) > 1 and consecutive:
        return t(lang, "holidays.span", start=Raw(one(ordered[0])), end=Raw(one(ordered[-1])))
    return t(lang, "holidays.list_sep").join(one(d) for d in ordered)


def _names(lang: str, holidays: Sequence[Holiday]) -> str:
    return t(lang, "holidays.list_sep").join(holiday_name(h, lang) for h in holidays)


def _when(moment: datetime | None, tz: ZoneInfo | None) -> str:
    if moment is None:
        return "—"
    return (moment.astimezone(tz) if tz is not None else moment).strftime("%Y-%m-%d %H:%M")


def preview_lines(lang: str, preview: NoticePreview, tz: ZoneInfo | None = None) -> list[str]:
    parsed = preview.parsed
    lines: list[str] = [t(lang, "holidays.preview_title", title=parsed.title, year=parsed.year)]
    for item in parsed.items:
        makeup = (
            t(lang, "holidays.makeup", days=Raw(days_label(lang, item.workdays, parsed.year)))
            if item.workdays
            else ""
        )
        lines.append(
            t(
                lang,
                "holidays.item_row",
                name=_names(lang, item.holidays),
                days=Raw(days_label(lang, item.days_off, parsed.year)),
                count=len(item.days_off),
                makeup=Raw(makeup),
            )
        )
    lines.append(
        t(
            lang,
            "holidays.preview_totals",
            items=len(parsed.items),
            off=len(parsed.days_off),
            work=len(parsed.workdays),
        )
    )
    if preview.differs == 0:
        lines.append(t(lang, "holidays.same_as_installed"))
    elif preview.differs is not None:
        lines.append(t(lang, "holidays.differs", count=preview.differs))
    if preview.instead is Source.NOTICE:
        instead = t(lang, "holidays.instead.notice", when=_when(preview.replaces_confirmed_at, tz))
    elif preview.instead is Source.OFFICIAL:
        instead = t(lang, "holidays.instead.official")
    else:
        instead = t(lang, "holidays.instead.estimate")
    lines.append(t(lang, "holidays.preview_effect", year=parsed.year, instead=instead))
    return lines


def imported_text(lang: str, imported: Imported) -> str:
    text: str = t(
        lang,
        "holidays.imported",
        year=imported.year,
        off=imported.days_off,
        work=imported.workdays,
    )
    if imported.moved:
        text += "\n" + t(lang, "holidays.moved", count=imported.moved)
    return text


def year_lines(lang: str, view: YearView, tz: ZoneInfo | None = None) -> tuple[str, list[str]]:
    """The title, then the source and one line per break."""
    title: str = t(lang, "holidays.title", year=view.year)
    if view.source is None:
        return title, [t(lang, "holidays.no_data", year=view.year)]
    if view.source is Source.NOTICE:
        who = view.notice_by if view.notice_by not in (None, "cli") else t(lang, "holidays.by_cli")
        head = t(lang, "holidays.from_notice", when=_when(view.notice_confirmed_at, tz), who=who)
    elif view.source is Source.OFFICIAL:
        head = t(lang, "holidays.from_official")
    else:
        head = t(lang, "holidays.from_estimate", last=official_range()[1])
    lines: list[str] = [head]
    for brk in view.breaks:
        span = [date.fromordinal(n) for n in range(brk.start.toordinal(), brk.end.toordinal() + 1)]
        makeup = (
            t(lang, "holidays.makeup", days=Raw(days_label(lang, brk.makeup_workdays, view.year)))
            if brk.makeup_workdays
            else ""
        )
        lines.append(
            t(
                lang,
                "holidays.break_row",
                name=holiday_name(brk.holiday, lang),
                days=Raw(days_label(lang, span, view.year)),
                count=len(span),
                makeup=Raw(makeup),
                source=t(lang, f"holidays.source.{brk.source.value}"),
            )
        )
    return title, lines


def estimate_warning(lang: str, years: Sequence[int]) -> str:
    return t(
        lang,
        "holidays.estimate_warning",
        years=t(lang, "holidays.list_sep").join(str(y) for y in years),
        last=official_range()[1],
    )


# ------------------------------------------------------------------ the admins' reminder


async def ensure_job(session: AsyncSession, org_id: int, config: Config, *, now: datetime) -> None:
    """One daily check at `holidays.notice_reminder_time` (none when turned off); it says
    something only in November and December. Commits."""
    cfg = config.holidays
    at = parse_hhmm(cfg.notice_reminder_time) or time(9, 0)
    await ensure_standing_job(
        session,
        organisation_id=org_id,
        kind=JOB_ALERT,
        rule=DAILY if cfg.notice_reminder else None,
        at=at,
        tz=config.organisation.tz,
        now=now,
    )
    await session.commit()


async def fire_alert(session: AsyncSession, settings: PushSettings, firing: Firing) -> None:
    """In November and December, while next year's arrangement is missing (neither installed
    nor imported), tell the bound admins once a month; a month in which nobody could be told is
    not marked, so an admin who binds later still hears. The scheduler commits."""
    today = firing.now.astimezone(settings.tz).date()
    if today.month not in ALERT_MONTHS:
        return
    year = today.year + 1
    calendar: Calendar = await load_calendar(session, settings.org_id)
    if year not in missing_years(calendar, today):
        return
    sent = await session.scalar(
        select(HolidayNoticeAlert.id).where(
            HolidayNoticeAlert.organisation_id == settings.org_id,
            HolidayNoticeAlert.year == year,
            HolidayNoticeAlert.month == today.month,
        )
    )
    if sent is not None:
        return
    admins = (
        await session.scalars(
            select(Member)
            .where(
                Member.organisation_id == settings.org_id,
                Member.role == Role.ADMIN,
                Member.active.is_(True),
                Member.chat_id.is_not(None),
                Member.unreachable_at.is_(None),
            )
            .order_by(Member.id)
        )
    ).all()
    if not admins:
        return
    last = official_range()[1]
    outgoing = []
    for admin in admins:
        assert admin.chat_id is not None
        lang = settings.language_of(admin)
        text = t(lang, "holidays.alert", year=year, last=last)
        outgoing.append(Outgoing(admin.chat_id, admin.id, text, "notice"))
    await enqueue(session, outgoing, now=firing.now, quiet=settings.quiet)
    session.add(
        HolidayNoticeAlert(
            organisation_id=settings.org_id, year=year, month=today.month, sent_at=firing.now
        )
    )
    await session.flush()
