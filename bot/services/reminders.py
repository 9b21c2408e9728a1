"""Integrity reminders (廉政提醒): one-off, recurring, and N working days before each holiday."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.config import parse_hhmm
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, holidays
from bot.services.audience import Audience, may_manage
from bot.services.holiday_calendar import load_calendar, missing_years
from bot.services.items import KIND_REMINDER, Draft, PushSettings, create_item
from bot.services.recurrence import ScheduleError, describe, parse_schedule
from storage.models import Group, HolidayText, Job, Role

MAX_TEXT = 1000
JOB_REMINDER = "reminder"
JOB_HOLIDAY = "holiday_reminder"
_HOLIDAY_RE = re.compile(
    r"^(?:节前|节日前|before\s+holidays?)\s*(\d{1,2})\s*(?:个工作日|天|日|working\s+days?|days?)?"
    r"\s+(\S+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReminderView:
    job_id: int
    schedule: str
    next_run_at: datetime | None
    text: str
    audience_kind: str
    audience_id: int | None
    # A holiday reminder: years whose breaks it comes before that only have estimated dates (the
    # official arrangement is neither installed nor imported) and are needed already.
    estimated_years: tuple[int, ...] = ()


def _title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:40] + ("…" if len(first) > 40 else "")


def _holiday_spec(schedule_text: str) -> tuple[int, time] | None:
    match = _HOLIDAY_RE.match(schedule_text.strip())
    if match is None:
        return None
    days = int(match[1])
    at = parse_hhmm(match[2].replace("：", ":"))
    if at is None:
        raise Invalid("schedule.bad_time", value=match[2])
    if not 1 <= days <= 30:
        raise Invalid("remind.bad_days")
    return days, at


def next_holiday_run(
    settings: PushSettings,
    days_before: int,
    at: time,
    after: datetime,
    calendar: holidays.Calendar = holidays.BUILT_IN,
) -> datetime | None:
    """The first holiday reminder moment strictly after `after`."""
    local_after = after.astimezone(settings.tz)
    for _brk, day in calendar.upcoming_reminders(local_after.date(), days_before):
        moment = datetime.combine(day, at, tzinfo=settings.tz)
        if moment > local_after:
            return moment
    return None


def _audience_payload(audience: Audience) -> dict[str, Any]:
    return {"audience_kind": audience.kind, "audience_id": audience.id, "audience": audience.label}


async def create_reminder(
    session: AsyncSession,
    settings: PushSettings,
    actor: Actor,
    schedule_text: str,
    text: str,
    audience: Audience,
    *,
    urgent: bool,
    now: datetime,
) -> ReminderView:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise Invalid("item.body_too_long", limit=MAX_TEXT)
    holiday = _holiday_spec(schedule_text)
    payload = {"text": text, "urgent": urgent, **_audience_payload(audience)}
    estimated: tuple[int, ...] = ()
    if holiday is not None:
        days, at = holiday
        calendar = await load_calendar(session, settings.org_id)
        first = next_holiday_run(settings, days, at, now, calendar)
        if first is None:
            raise Invalid("remind.no_holidays")
        # Years the preview should warn about: needed now (this year; next year once its notice
        # is due in November) and estimated, among the breaks this reminder will come before.
        local_today = now.astimezone(settings.tz).date()
        missing = set(missing_years(calendar, local_today))
        estimated = tuple(
            sorted(
                {
                    brk.start.year
                    for brk, _day in calendar.upcoming_reminders(local_today, days)
                    if not brk.official and brk.start.year in missing
                }
            )
        )
        payload.update(days_before=days, time=at.strftime("%H:%M"))
        job = add_job(
            session,
            organisation_id=settings.org_id,
            kind=JOB_HOLIDAY,
            payload=payload,
            first=first,
            created_by=actor.member_id,
        )
    else:
        if not text:
            raise Invalid("remind.no_text")
        try:
            schedule = parse_schedule(schedule_text, settings.tz, now)
        except ScheduleError as exc:
            raise Invalid(f"schedule.{exc.reason}", value=exc.value) from None
        job = add_job(
            session,
            organisation_id=settings.org_id,
            kind=JOB_REMINDER,
            payload=payload,
            first=schedule.first,
            anchor=schedule.anchor,
            rule=schedule.rule,
            created_by=actor.member_id,
        )
    await session.flush()
    audit.record(
        session,
        action="reminder.created",
        entity="job",
        entity_id=job.id,
        actor_member_id=actor.member_id,
        schedule=schedule_text,
        text=text,
    )
    await session.commit()
    return replace(_view(job, actor.language, settings), estimated_years=estimated)


def _view(job: Job, language: str, settings: PushSettings) -> ReminderView:
    payload = json.loads(job.payload)
    if job.kind == JOB_HOLIDAY:
        schedule = (
            f"节前 {payload['days_before']} 个工作日 {payload['time']}"
            if language == "zh"
            else f"{payload['days_before']} working days before holidays, {payload['time']}"
        )
    else:
        schedule = describe(job.rule, job.anchor.astimezone(settings.tz), language)
    return ReminderView(
        job.id,
        schedule,
        job.next_run_at,
        payload.get("text", ""),
        payload["audience_kind"],
        payload.get("audience_id"),
    )


async def list_reminders(
    session: AsyncSession, settings: PushSettings, actor: Actor
) -> list[ReminderView]:
    jobs = (
        await session.scalars(
            select(Job)
            .where(
                Job.organisation_id == settings.org_id,
                Job.active.is_(True),
                Job.kind.in_((JOB_REMINDER, JOB_HOLIDAY)),
            )
            .order_by(Job.next_run_at)
        )
    ).all()
    views = []
    for job in jobs:
        view = _view(job, actor.language, settings)
        if await may_manage(session, actor, view.audience_kind, view.audience_id):
            views.append(view)
    return views


async def cancel_reminder(
    session: AsyncSession, settings: PushSettings, actor: Actor, job_id: int
) -> ReminderView:
    job = await session.get(Job, job_id)
    if job is None or job.kind not in (JOB_REMINDER, JOB_HOLIDAY) or not job.active:
        raise NotFound("remind.unknown", id=job_id)
    view = _view(job, actor.language, settings)
    if not await may_manage(session, actor, view.audience_kind, view.audience_id):
        raise NotFound("remind.unknown", id=job_id)
    job.active = False
    job.next_run_at = None
    audit.record(
        session,
        action="reminder.cancelled",
        entity="job",
        entity_id=job.id,
        actor_member_id=actor.member_id,
    )
    await session.commit()
    return view


async def _audience_branch(session: AsyncSession, payload: dict[str, Any]) -> int | None:
    """The branch whose own holiday texts apply to this audience, if any."""
    kind, audience_id = payload["audience_kind"], payload.get("audience_id")
    if kind == "branch":
        return int(audience_id) if audience_id is not None else None
    if kind == "group" and audience_id is not None:
        group = await session.get(Group, audience_id)
        return group.branch_id if group else None
    return None


def _audience_from(payload: dict[str, Any]) -> Audience:
    return Audience(
        payload["audience_kind"], payload.get("audience_id"), payload.get("audience", "")
    )


async def fire_reminder(session: AsyncSession, settings: PushSettings, firing: Firing) -> None:
    text = firing.payload["text"]
    draft = Draft(
        KIND_REMINDER,
        _title(text),
        text,
        _audience_from(firing.payload),
        urgent=bool(firing.payload.get("urgent")),
    )
    await create_item(
        session, settings, firing.created_by_member_id, draft, now=firing.now, job_id=firing.job_id
    )


async def fire_holiday_reminder(
    session: AsyncSession, settings: PushSettings, firing: Firing
) -> datetime | None:
    payload = firing.payload
    days = int(payload["days_before"])
    at = parse_hhmm(payload["time"])
    assert at is not None
    local_day = firing.scheduled_for.astimezone(settings.tz).date()
    calendar = await load_calendar(session, settings.org_id)
    for brk, day in calendar.upcoming_reminders(local_day, days):
        if day == local_day:
            name = holidays.holiday_name(brk.holiday, settings.default_language)
            body = (
                payload.get("text")
                or (
                    await holiday_text(
                        session,
                        settings.org_id,
                        await _audience_branch(session, payload),
                        brk.holiday,
                        settings.default_language,
                    )
                )[0]
            )
            title = (
                f"{name}廉政提醒"
                if settings.default_language == "zh"
                else f"{name}: integrity reminder"
            )
            draft = Draft(
                KIND_REMINDER,
                title,
                body,
                _audience_from(payload),
                urgent=bool(payload.get("urgent")),
            )
            await create_item(
                session,
                settings,
                firing.created_by_member_id,
                draft,
                now=firing.now,
                job_id=firing.job_id,
            )
            break
    return next_holiday_run(settings, days, at, firing.now, calendar)


async def reschedule_holiday_reminders(
    session: AsyncSession, settings: PushSettings, calendar: holidays.Calendar, now: datetime
) -> int:
    """Move every active holiday reminder to its next run by `calendar` (a notice was imported:
    a break may start sooner or later than the estimate said). One not yet due is moved; one due
    now fires as it is and finds its next run itself. Returns how many moved; the caller
    commits."""
    jobs = (
        await session.scalars(
            select(Job).where(
                Job.organisation_id == settings.org_id,
                Job.kind == JOB_HOLIDAY,
                Job.active.is_(True),
            )
        )
    ).all()
    moved = 0
    for job in jobs:
        if job.next_run_at is not None and job.next_run_at <= now:
            continue
        payload = json.loads(job.payload)
        at = parse_hhmm(payload["time"])
        assert at is not None
        next_at = next_holiday_run(settings, int(payload["days_before"]), at, now, calendar)
        if next_at is not None and next_at != job.next_run_at:
            job.next_run_at = next_at
            moved += 1
    return moved


_RESET_WORDS = {"默认", "default"}


def parse_holiday(ref: str) -> holidays.Holiday:
    """A holiday by key (spring_festival), Chinese (春节) or English (Spring Festival) name."""
    wanted = ref.strip().lower()
    for holiday in holidays.Holiday:
        names = {
            holiday.value,
            *(holidays.holiday_name(holiday, lang).lower() for lang in ("zh", "en")),
        }
        if wanted in names:
            return holiday
    raise Invalid("holidaytext.unknown", value=ref.strip())


def _text_scope(actor: Actor) -> int | None:
    """Admins edit the organisation's text; a secretary edits their branch's."""
    if actor.role is Role.ADMIN:
        return None
    if actor.role is Role.SECRETARY and actor.branch_id is not None:
        return actor.branch_id
    raise Denied("no_permission")


async def set_holiday_text(
    session: AsyncSession, settings: PushSettings, actor: Actor, holiday_ref: str, text: str
) -> tuple[holidays.Holiday, bool]:
    """Store (or with 默认/default, remove) the actor's own text; returns (holiday, reset)."""
    holiday = parse_holiday(holiday_ref)
    branch_id = _text_scope(actor)
    text = text.strip()
    if not text:
        raise Invalid("remind.no_text")
    if len(text) > MAX_TEXT:
        raise Invalid("item.body_too_long", limit=MAX_TEXT)
    row = await session.scalar(
        select(HolidayText).where(
            HolidayText.organisation_id == settings.org_id,
            HolidayText.branch_id.is_(None)
            if branch_id is None
            else HolidayText.branch_id == branch_id,
            HolidayText.holiday == holiday.value,
        )
    )
    reset = text.lower() in _RESET_WORDS
    if reset:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(
            HolidayText(
                organisation_id=settings.org_id,
                branch_id=branch_id,
                holiday=holiday.value,
                text=text,
                updated_by_member_id=actor.member_id,
            )
        )
    else:
        row.text = text
        row.updated_by_member_id = actor.member_id
    audit.record(
        session,
        action="holiday_text.reset" if reset else "holiday_text.set",
        entity="holiday_text",
        entity_id=branch_id,
        actor_member_id=actor.member_id,
        holiday=holiday.value,
        text="" if reset else text,
    )
    await session.commit()
    return holiday, reset


async def holiday_text(
    session: AsyncSession,
    org_id: int,
    branch_id: int | None,
    holiday: holidays.Holiday,
    language: str,
) -> tuple[str, str]:
    """The text to send and where it came from: "branch", "organisation" or "default"."""
    rows = (
        await session.scalars(
            select(HolidayText).where(
                HolidayText.organisation_id == org_id, HolidayText.holiday == holiday.value
            )
        )
    ).all()
    by_branch = {row.branch_id: row.text for row in rows}
    if branch_id is not None and branch_id in by_branch:
        return by_branch[branch_id], "branch"
    if None in by_branch:
        return by_branch[None], "organisation"
    return holidays.DEFAULT_REMINDER_TEXTS[holiday][language], "default"


async def holiday_texts(
    session: AsyncSession, settings: PushSettings, actor: Actor
) -> list[tuple[holidays.Holiday, str, str]]:
    branch_id = _text_scope(actor)
    return [
        (h, *await holiday_text(session, settings.org_id, branch_id, h, actor.language))
        for h in holidays.Holiday
    ]
