"""党费 in chat: /dues (a month per group, or a quarter per branch), /setdues, the member's
「已缴纳」 and the secretary's confirm buttons."""

from __future__ import annotations

import re
from datetime import date

from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import authorize
from bot.errors import Denied, Invalid
from bot.services import compliance, dues, money
from bot.texts import Raw, join_names
from handlers.common import (
    App,
    Call,
    Deps,
    buttons,
    callback_id,
    guarded,
    guarded_button,
    mark_buttons,
)

MAX_CONFIRM_BUTTONS = 10
SHOW_NAMES = 40


_CONFIRM_ALL = re.compile(r"^a([0-9]{6})\.([0-9]{1,9})$")


async def dues_command(call: Call) -> None:
    """`/dues [本月|YYYY-MM|本季度|YYYY-Qn] [#branch]`: this month by default."""
    assert call.actor is not None
    deps = call.deps
    words = call.args
    branch = next((w for w in words if w.startswith("#")), None)
    rest = [w for w in words if not w.startswith("#")]
    if len(rest) > 1:
        await call.reply(call.t("dues.usage"))
        return
    today = deps.now().astimezone(deps.config.organisation.tz).date()
    try:
        period = compliance.parse_period(rest[0] if rest else "本月", today)
    except Invalid:
        await call.reply(call.t("dues.usage"))
        return
    if period.every == compliance.QUARTER:
        await _quarter(call, period, branch)
        return
    async with deps.db.read() as session:
        view = await dues.month_view(session, deps.dues, call.actor, period.start, branch)
    await _show_month(call, view)


async def _show_month(call: Call, view: dues.MonthView) -> None:
    if not view.groups:
        await call.reply(call.t("dues.nothing"))
        return
    lines: list[str] = [
        call.t(
            "dues.month_head",
            month=dues.month_label(call.lang, view.month),
            confirmed_count=view.count("confirmed"),
            confirmed=money.amount_text(view.total("confirmed")),
            reported_count=view.count("reported"),
            reported=money.amount_text(view.total("reported")),
            outstanding_count=view.count("outstanding"),
            outstanding=money.amount_text(view.total("outstanding")),
        )
    ]
    if view.no_amount:
        lines.append(call.t("dues.no_amount_count", count=view.no_amount))
    for group in view.groups:
        lines.append(call.t("dues.group", name=group.name))
        # One member a line: a long list is split between lines, and every name is shown.
        for key, entries in (
            ("dues.part_confirmed", group.confirmed),
            ("dues.part_reported", [(name, cents) for _, name, cents in group.reported]),
            ("dues.part_outstanding", group.outstanding),
        ):
            if entries:
                lines.append(call.t(key, count=len(entries)))
                lines += [
                    call.t("dues.entry", name=name, amount=money.amount_text(cents))
                    for name, cents in entries
                ]
    await call.reply_long(lines)
    reported = [entry for group in view.groups for entry in group.reported]
    if reported:
        rows = [
            [
                (
                    call.t("dues.btn_confirm", name=name, amount=money.amount_text(cents)),
                    f"du:ok:{payment_id}",
                )
            ]
            for payment_id, name, cents in reported[:MAX_CONFIRM_BUTTONS]
        ]
        per_branch = view.reported_by_branch()
        for branch_id, ids in per_branch.items():
            label = call.t("dues.btn_confirm_all", count=len(ids))
            if len(per_branch) > 1:
                branch = next(g.name for g in view.groups if g.branch_id == branch_id)
                label = call.t(
                    "dues.btn_confirm_all_in", branch=branch.split("/")[0], count=len(ids)
                )
            data = f"du:a{dues.month_key(view.month)}.{branch_id}:{max(ids)}"
            rows.append([(label, data)])
        await call.reply(call.t("dues.confirm_hint"), buttons(rows))


async def _quarter(call: Call, period: compliance.Period, branch: str | None) -> None:
    assert call.actor is not None
    deps = call.deps
    months = []
    day = period.start
    while day < period.end:
        months.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    async with deps.db.read() as session:
        totals = await dues.quarter_totals(session, deps.dues, call.actor, months, branch)
    lines: list[str] = [call.t("dues.quarter_head", quarter=period.label(call.lang))]
    for row in totals:
        lines.append(
            call.t("dues.quarter_branch", name=row.name, total=money.amount_text(row.confirmed))
        )
        for month, confirmed, reported, outstanding in row.months:
            lines.append(
                call.t(
                    "dues.quarter_month",
                    month=dues.month_label(call.lang, month),
                    confirmed=money.amount_text(confirmed),
                    reported=money.amount_text(reported),
                    outstanding=outstanding,
                )
            )
    await call.reply_long(lines)


async def setdues(call: Call) -> None:
    assert call.actor is not None
    # The amount is the last word: a name may have spaces in it (Zhang Wei).
    words = call.rest.rsplit(maxsplit=1)
    if len(words) != 2:
        await call.reply(call.t("dues.set_usage"))
        return
    ref, amount = words
    cents = money.parse_amount(amount)
    deps = call.deps
    async with deps.db.write() as session:
        done = await dues.set_amount(session, deps.dues, call.actor, ref, cents)
    before = money.amount_text(done.before) if done.before is not None else call.t("dues.not_set")
    await call.reply(
        call.t("dues.set_done", name=done.name, before=before, after=money.amount_text(done.after))
    )


async def dues_button(call: Call) -> str | None:
    """「已缴纳」 for the member themselves; 「确认」 and 「全部确认」 for their secretary."""
    assert call.actor is not None
    verb, value = callback_id(call, "du")
    deps = call.deps
    if verb == "rp":
        async with deps.db.write() as session:
            result = await dues.report_paid(session, deps.dues, call.actor, value, now=deps.now())
        month = dues.month_label(call.lang, result.month)
        if result.already:
            key = (
                "dues.already_confirmed"
                if result.status == "confirmed"
                else "dues.already_reported"
            )
            return call.t(key, month=month)
        await mark_buttons(call, {"inline_keyboard": []})
        await call.reply(
            call.t("dues.reported", month=month, amount=money.amount_text(result.amount))
        )
        return None
    authorize(call.actor, "dues")
    every = _CONFIRM_ALL.match(verb)
    if verb != "ok" and every is None:
        raise Denied("not_your_button")
    async with deps.db.write() as session:
        if every is not None:
            confirmed = await dues.confirm_all(
                session,
                deps.dues,
                call.actor,
                int(every[1]),
                int(every[2]),
                value,
                now=deps.now(),
            )
        else:
            confirmed = await dues.confirm_one(
                session, deps.dues, call.actor, value, now=deps.now()
            )
    deps.outbox_ready.set()
    lines: list[str] = []
    if confirmed.names:
        lines.append(
            call.t(
                "dues.confirm_done",
                names=join_names(confirmed.names, SHOW_NAMES, call.lang),
                total=money.amount_text(confirmed.total),
            )
        )
    if confirmed.already:
        lines.append(
            call.t(
                "dues.confirm_already", names=join_names(confirmed.already, SHOW_NAMES, call.lang)
            )
        )
    await call.reply("\n".join(lines) if lines else Raw(call.t("dues.confirm_none")))
    return None


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("dues", guarded(deps, "dues", dues_command), filters=private))
    app.add_handler(CommandHandler("setdues", guarded(deps, "setdues", setdues), filters=private))
    # Members report with member rights; the secretary's buttons re-check inside.
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "todo", dues_button), pattern=r"^du:")
    )
