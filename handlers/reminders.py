"""Integrity reminders (廉政提醒): /remind, /reminders, /unremind."""

from __future__ import annotations

from datetime import datetime

from telegram.ext import CommandHandler, filters

from bot.services import holiday_notices, holidays, reminders
from bot.services.audience import resolve_audience
from handlers.common import App, Call, Deps, guarded, parse_id

_URGENT = {"紧急", "urgent"}


def _when(call: Call, moment: datetime | None) -> str:
    if moment is None:
        return call.t("none")
    return call.local(moment)


async def remind(call: Call) -> None:
    assert call.actor is not None
    parts = [p.strip() for p in call.rest.split("|")] if call.rest else []
    if not parts or not parts[0]:
        await call.reply(call.t("remind.usage"))
        return
    schedule_text, text = parts[0], parts[1] if len(parts) > 1 else ""
    audience_ref = None
    urgent = False
    for part in parts[2:]:
        if part.startswith("#"):
            audience_ref = part
        elif part.lower() in _URGENT:
            urgent = True
        else:
            await call.reply(call.t("study.bad_part", part=part) + "\n" + call.t("remind.usage"))
            return
    deps = call.deps
    async with deps.db.write() as session:
        audience = await resolve_audience(session, deps.org_id, call.actor, audience_ref)
        view = await reminders.create_reminder(
            session,
            deps.push,
            call.actor,
            schedule_text,
            text,
            audience,
            urgent=urgent,
            now=deps.now(),
        )
    text = call.t(
        "remind.created",
        id=view.job_id,
        schedule=view.schedule,
        next=_when(call, view.next_run_at),
    )
    if view.estimated_years:
        # Before each holiday: say which years' dates are estimates (no official arrangement).
        text += "\n\n" + holiday_notices.estimate_warning(call.lang, view.estimated_years)
    await call.reply(text)


async def list_reminders(call: Call) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        views = await reminders.list_reminders(session, call.deps.push, call.actor)
    if not views:
        await call.reply(call.t("remind.none"))
        return
    lines = [
        call.t(
            "remind.row",
            id=v.job_id,
            schedule=v.schedule,
            next=_when(call, v.next_run_at),
            audience="",
            text=v.text[:80] or "—",
        )
        for v in views
    ]
    await call.reply_long(lines, header=call.t("remind.list_title"))


async def unremind(call: Call) -> None:
    assert call.actor is not None
    job_id = parse_id(call.args[0]) if len(call.args) == 1 else None
    if job_id is None:
        await call.reply(call.t("unremind.usage"))
        return
    async with call.deps.db.write() as session:
        await reminders.cancel_reminder(session, call.deps.push, call.actor, job_id)
    await call.reply(call.t("remind.cancelled", id=job_id))


async def holidaytext(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    if not call.rest:
        async with deps.db.read() as session:
            texts = await reminders.holiday_texts(session, deps.push, call.actor)
        lines = [
            call.t(
                "holidaytext.row",
                name=holidays.holiday_name(h, call.lang),
                source=call.t(f"holidaytext.source_{source}"),
                text=text,
            )
            for h, text, source in texts
        ]
        await call.reply_long(lines, header=call.t("holidaytext.title"))
        return
    holiday_ref, _, text = call.rest.partition("|")
    if not text.strip():
        await call.reply(call.t("holidaytext.usage"))
        return
    async with deps.db.write() as session:
        holiday, reset = await reminders.set_holiday_text(
            session, deps.push, call.actor, holiday_ref, text
        )
    name = holidays.holiday_name(holiday, call.lang)
    await call.reply(call.t("holidaytext.reset" if reset else "holidaytext.set", name=name))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (
        ("remind", remind),
        ("reminders", list_reminders),
        ("unremind", unremind),
        ("holidaytext", holidaytext),
    ):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
