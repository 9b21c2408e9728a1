"""Reports in chat: /export (the ledger as XLSX), /stats (rates and a chart), /summary (a draft
half-year or annual report).

The request is checked here (role, period, branch) and answered at once; the files are made in
the background (bot/background.py) and arrive when ready. /stats answers its figures at once
(they are running tallies); only its chart is drawn in the background."""

from __future__ import annotations

from telegram.ext import CommandHandler, filters

from bot.services import ledger, stats, summary
from bot.texts import Raw
from handlers.common import App, Call, Deps, guarded
from handlers.queued import UPLOAD_DOCUMENT, UPLOAD_PHOTO, acknowledge, queue

SHOW_OVERDUE = 10


def _period_and_branch(call: Call) -> tuple[str | None, str | None] | None:
    """`[period] [#branch]` in either order; None when there is more than that."""
    branch = [w for w in call.args if w.startswith("#")]
    period = [w for w in call.args if not w.startswith("#")]
    if len(branch) > 1 or len(period) > 1:
        return None
    return (period[0] if period else None), (branch[0] if branch else None)


async def export(call: Call) -> None:
    assert call.actor is not None
    parsed = _period_and_branch(call)
    if parsed is None:
        await call.reply(call.t("export.usage"))
        return
    scope, period = await _checked(call, *parsed)
    queued = await queue(call, "export", _params(period, parsed[1]), period.key, scope.label)
    text = call.t(
        "export.queued",
        scope=scope.label or call.t("export.everyone"),
        period=period.label(call.lang),
    )
    await acknowledge(call, queued, "export", text, UPLOAD_DOCUMENT)


async def _checked(
    call: Call, period_text: str | None, branch_name: str | None
) -> tuple[ledger.Scope, ledger.ReportPeriod]:
    """The request refused here as the report would refuse it, before anything is queued."""
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        return await ledger.resolve_request(
            session,
            deps.org_id,
            deps.config.organisation.tz,
            call.actor,
            period_text,
            branch_name,
            now=deps.now(),
        )


def _params(period: ledger.ReportPeriod, branch_name: str | None) -> dict[str, str | None]:
    # The period as resolved now ("this quarter" stays the quarter it was asked in); the branch
    # as named, resolved again (with the requester's role) when the work is done.
    return {"period": period.key, "branch": branch_name}


def rate_text(call: Call, rate: stats.Rate) -> Raw:
    if rate.percent is None:
        return call.t("stats.rate_none")
    return call.t("stats.rate", done=rate.done, total=rate.total, percent=rate.percent)


def stats_lines(call: Call, s: stats.Stats) -> list[str]:
    scope = s.scope.label or call.t("export.everyone")
    lines: list[str] = [
        call.t("stats.head", scope=scope, period=s.period.label(call.lang)),
        call.t("stats.awareness", rate=rate_text(call, s.total("awareness"))),
        call.t(
            "stats.awareness_parts",
            study=rate_text(call, s.total("study")),
            reminders=rate_text(call, s.total("reminders")),
        ),
    ]
    for kind, rate in s.by_kind.items():
        lines.append(call.t("stats.attendance", kind=kind, rate=rate_text(call, rate)))
    if not s.by_kind:
        lines.append(call.t("stats.no_meetings"))
    c = s.compliance
    lines.append(call.t("stats.compliance", required=c.required, held=c.held))
    if c.overdue:
        shown = "、".join(c.overdue[:SHOW_OVERDUE])
        more = f"…(+{len(c.overdue) - SHOW_OVERDUE})" if len(c.overdue) > SHOW_OVERDUE else ""
        lines.append(call.t("stats.overdue", items=shown + more))
    lines.append(
        call.t("stats.volunteers", activities=s.activities, people=s.volunteers, hours=s.hours)
    )
    units = s.units
    if units:
        lines.append(call.t("stats.units"))
        for unit in units:
            lines.append(
                call.t(
                    "stats.unit",
                    name=unit.name,
                    awareness=rate_text(call, unit.awareness),
                    attendance=rate_text(call, unit.attendance),
                    hours=unit.hours,
                )
            )
    return lines


async def stats_command(call: Call) -> None:
    assert call.actor is not None
    parsed = _period_and_branch(call)
    if parsed is None:
        await call.reply(call.t("stats.usage"))
        return
    deps = call.deps
    async with deps.db.read() as session:
        result = await stats.build(session, deps.meetings, call.actor, *parsed, now=deps.now())
    await call.reply_long(stats_lines(call, result))
    # The chart follows from the background; a repeat while one is on its way adds none.
    params = _params(result.period, parsed[1])
    if await queue(call, "stats_chart", params, result.period.key, result.scope.label):
        chat = call.update.effective_chat
        assert chat is not None
        await call.context.bot.send_chat_action(chat.id, UPLOAD_PHOTO)


async def summary_command(call: Call) -> None:
    assert call.actor is not None
    parsed = _period_and_branch(call)
    if parsed is None or parsed[0] is None:
        await call.reply(call.t("summary.usage"))
        return
    scope, period = await _checked(call, *parsed)
    summary.check_period(period)
    queued = await queue(call, "summary", _params(period, parsed[1]), period.key, scope.label)
    text = call.t(
        "summary.queued",
        scope=scope.label or call.t("export.everyone"),
        period=period.label(call.lang),
    )
    await acknowledge(call, queued, "summary", text, UPLOAD_DOCUMENT)


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("export", guarded(deps, "export", export), filters=private))
    app.add_handler(CommandHandler("stats", guarded(deps, "stats", stats_command), filters=private))
    app.add_handler(
        CommandHandler("summary", guarded(deps, "summary", summary_command), filters=private)
    )
