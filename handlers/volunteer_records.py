"""Around a volunteer activity: /activities, /roster, the organiser's code screen and marks by
hand, corrected hours (/sethours) and the hours ranking (/hours)."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from telegram.ext import CommandHandler, filters

from bot.errors import Invalid
from bot.services import compliance, periods, volunteer_checkin, volunteer_hours, volunteers
from bot.texts import Raw, join_names
from handlers.checkin import ACTIVITY_IN, ACTIVITY_OUT, Screen, send_screen
from handlers.common import App, Call, Deps, buttons, guarded, id_arg, split_word

_NAMES = re.compile(r"[\s,，、;；]+")
_OUT_WORDS = frozenset({"out", "签退", "checkout"})
_CURRENT_YEAR = frozenset({"year", "本年", "今年", "年"})
SHOW_NAMES = 60
MAX_SIGNUP_BUTTONS = 8
TOP_MEMBERS = 30


async def activities_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        upcoming, recent = await volunteers.list_activities(
            session, deps.volunteers, call.actor, now=deps.now()
        )
    if not upcoming and not recent:
        await call.reply(call.t("activities.empty"))
        return
    tz = deps.config.organisation.tz
    lines: list[str] = []
    joinable: list[volunteers.ActivitySummary] = []
    if upcoming:
        lines.append(call.t("activities.open"))
        for a in upcoming:
            line = call.t(
                "activities.row",
                id=a.id,
                when=volunteers.when_text(call.lang, a.starts_at, a.ends_at, tz),
                title=a.title,
                taken=a.taken,
                capacity=a.capacity,
                waiting=a.waiting,
            )
            if a.mine in ("confirmed", "waiting", "offered"):
                line = Raw(line + " " + call.t(f"activities.mine_{a.mine}"))
            if a.joinable:
                joinable.append(a)
            lines.append(line)
    if recent:
        lines.append(call.t("activities.recent"))
        for a in recent:
            lines.append(
                call.t(
                    "activities.row_closed",
                    id=a.id,
                    when=volunteers.when_text(call.lang, a.starts_at, a.ends_at, tz),
                    title=a.title,
                    status=call.t(f"activity.status_{a.status}"),
                )
            )
    await call.reply_long(lines)
    if joinable:
        rows = [
            [(f"{call.t('activity.btn_signup')} #{a.id} {a.title}"[:60], f"va:su:{a.id}")]
            for a in joinable[:MAX_SIGNUP_BUTTONS]
        ]
        await call.reply(call.t("activities.buttons_hint"), buttons(rows))


async def roster_command(call: Call) -> None:
    activity_id = id_arg(call)
    if activity_id is None or len(call.args) != 1:
        await call.reply(call.t("roster.usage"))
        return
    await show_roster(call, activity_id)


async def show_roster(call: Call, activity_id: int) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        view = await volunteers.roster(session, call.actor, activity_id)
    a = view.activity
    tz = call.deps.config.organisation.tz
    taken = len(view.confirmed) + len(view.offered)
    lines: list[str] = [
        call.t(
            "roster.head",
            id=a.id,
            title=a.title,
            when=volunteers.when_text(call.lang, a.starts_at, a.ends_at, tz),
            taken=taken,
            capacity=a.capacity,
        ),
        call.t("roster.confirmed"),
    ]
    lines += [_confirmed_line(call, row) for row in view.confirmed] or [call.t("roster.none")]
    if view.offered:
        lines.append(call.t("roster.offered"))
        for row in view.offered:
            assert row.offer_expires_at is not None
            lines.append(
                call.t(
                    "roster.row_offered",
                    name=row.name,
                    until=call.local(row.offer_expires_at, "%m-%d %H:%M"),
                )
            )
    if view.waiting:
        lines.append(call.t("roster.waiting"))
        lines += [
            call.t("roster.row_waiting", position=i, name=row.name)
            for i, row in enumerate(view.waiting, 1)
        ]
    if view.cancelled:
        lines.append(call.t("roster.cancelled", count=view.cancelled))
    await call.reply_long(lines)


def _confirmed_line(call: Call, row: volunteers.RosterRow) -> Raw:
    hours = volunteers.hours_text(row.minutes or 0)
    if row.outcome == "no_show" and not row.minutes:
        return call.t("roster.row_no_show", name=row.name)
    if row.checked_in_at is None:
        if row.outcome == "served":
            # No check-in, but hours given by hand.
            return call.t("roster.row_served", name=row.name, hours=hours)
        return call.t("roster.row_signed", name=row.name)
    checked_in = call.local(row.checked_in_at, "%H:%M")
    if row.checked_out_at is None:
        return call.t("roster.row_in", name=row.name, checked_in=checked_in)
    if row.checkout_method == "auto":
        return call.t("roster.row_auto", name=row.name, checked_in=checked_in, hours=hours)
    return call.t(
        "roster.row_out",
        name=row.name,
        checked_in=checked_in,
        checked_out=call.local(row.checked_out_at, "%H:%M"),
        hours=hours,
    )


async def activitycode(call: Call) -> None:
    activity_id = id_arg(call)
    extra = [a.lower() for a in call.args[1:]]
    if activity_id is None or len(extra) > 1 or (extra and extra[0] not in _OUT_WORDS):
        await call.reply(call.t("activitycode.usage"))
        return
    await send_screen(call, Screen(ACTIVITY_OUT if extra else ACTIVITY_IN, activity_id))


async def _mark(call: Call, direction: str, command: str) -> None:
    assert call.actor is not None
    activity_id = id_arg(call)
    names = [n for n in _NAMES.split(" ".join(call.args[1:])) if n]
    if activity_id is None or not names:
        await call.reply(call.t("vmark.usage", command=command))
        return
    deps = call.deps
    async with deps.db.write() as session:
        result = await volunteer_checkin.mark(
            session, deps.volunteers, call.actor, activity_id, direction, names, now=deps.now()
        )
    lines = [call.t(f"vmark.title_{direction}", title=result.title)]
    for key, group in (
        ("vmark.marked", result.marked),
        ("vmark.already", result.already),
        ("vmark.refused", result.refused),
        ("vmark.ambiguous", result.ambiguous),
    ):
        if group:
            lines.append(call.t(key, names=join_names(group, SHOW_NAMES, call.lang)))
    await call.reply("\n".join(lines))


async def vcheckin(call: Call) -> None:
    await _mark(call, "in", "vcheckin")


async def vcheckout(call: Call) -> None:
    await _mark(call, "out", "vcheckout")


async def sethours(call: Call) -> None:
    assert call.actor is not None
    activity_id = id_arg(call)
    if activity_id is None or len(call.args) < 4:
        await call.reply(call.t("sethours.usage"))
        return
    name, hours = call.args[1], call.args[2]
    # The reason is everything after the hours, as typed.
    reason = split_word(split_word(split_word(call.rest)[1])[1])[1]
    minutes = volunteer_hours.parse_hours(hours)
    deps = call.deps
    async with deps.db.write() as session:
        done = await volunteer_hours.adjust_hours(
            session, deps.volunteers, call.actor, activity_id, name, minutes, reason
        )
    await call.reply(
        call.t(
            "sethours.done",
            name=done.name,
            title=done.title,
            before=volunteers.hours_text(done.before),
            after=volunteers.hours_text(done.after),
        )
    )


def parse_hours_period(text: str, today: date) -> tuple[date, date, str]:
    """A month, a quarter (as /compliance reads them) or a year; nothing means this quarter.
    Returns the first day, the day after the last, and the label's year for a year."""
    word = text.strip().lower()
    if word in _CURRENT_YEAR:
        return date(today.year, 1, 1), date(today.year + 1, 1, 1), str(today.year)
    if (year := periods.parse_span(word, (periods.YEAR,))) is not None:
        return year.start, year.end, str(year.year)
    try:
        period = compliance.parse_period(text, today)
    except Invalid as exc:
        if exc.key == "date.year_range":
            raise
        raise Invalid("hours.usage", value=text.strip()) from None
    return period.start, period.end, ""


async def hours_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    tz = deps.config.organisation.tz
    today = deps.now().astimezone(tz).date()
    text = " ".join(call.args)
    start, end, year = parse_hours_period(text, today)
    if year:
        label = call.t("hours.year_label", year=year)
    else:
        label = compliance.parse_period(text, today).label(call.lang)
    async with deps.db.read() as session:
        report = await volunteer_hours.hours_report(
            session,
            deps.volunteers,
            call.actor,
            datetime.combine(start, time(0), tzinfo=tz),
            datetime.combine(end, time(0), tzinfo=tz),
        )
    lines: list[str] = [
        call.t("hours.head", period=label, hours=volunteers.hours_text(report.total_minutes))
    ]
    if not report.members:
        lines.append(call.t("hours.empty"))
    else:
        lines.append(call.t("hours.members"))
        lines += _ranked(call, report.members[:TOP_MEMBERS])
        if report.groups:
            lines.append(call.t("hours.groups"))
            lines += _ranked(call, report.groups)
    await call.reply_long(lines)


def _ranked(call: Call, rows: list[volunteer_hours.HoursRow]) -> list[str]:
    return [
        call.t(
            "hours.row",
            rank=i,
            name=row.name,
            hours=volunteers.hours_text(row.minutes),
            count=row.activities,
        )
        for i, row in enumerate(rows, 1)
    ]


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (
        ("activities", activities_command),
        ("roster", roster_command),
        ("activitycode", activitycode),
        ("vcheckin", vcheckin),
        ("vcheckout", vcheckout),
        ("sethours", sethours),
        ("hours", hours_command),
    ):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
