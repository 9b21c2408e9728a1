"""Reports in chat: /export (the ledger as XLSX), /stats (rates and a chart), /summary (a draft
half-year or annual report)."""

from __future__ import annotations

import asyncio

from telegram import InputFile
from telegram.ext import CommandHandler, filters

from bot.services import charts, export_files, ledger, stats, summary
from bot.texts import Raw
from handlers.common import App, Call, Deps, guarded

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
    deps = call.deps
    async with deps.db.read() as session:
        found = await ledger.open_ledger(
            session, deps.org_id, deps.config.organisation.tz, call.actor, *parsed, now=deps.now()
        )
        data, rows = await export_files.xlsx_from(found.sheets)
    chat = call.update.effective_chat
    assert chat is not None
    await call.context.bot.send_document(
        chat.id,
        InputFile(data, filename=f"{ledger.file_stem(found.scope, found.period)}.xlsx"),
        caption=call.t(
            "export.caption",
            scope=found.scope.label or call.t("export.everyone"),
            period=found.period.label(call.lang),
            rows=rows,
        ),
    )


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
    chat = call.update.effective_chat
    assert chat is not None
    titles = charts.titles_for(call.lang, result.period.key)
    await call.context.bot.send_photo(
        chat.id, await asyncio.to_thread(charts.stats_png, result, titles)
    )


async def summary_command(call: Call) -> None:
    assert call.actor is not None
    parsed = _period_and_branch(call)
    if parsed is None or parsed[0] is None:
        await call.reply(call.t("summary.usage"))
        return
    deps = call.deps
    async with deps.db.read() as session:
        scope, period, draft = await summary.summary_for(
            session,
            deps.meetings,
            call.actor,
            *parsed,
            deps.config.organisation.name,
            now=deps.now(),
        )
    chat = call.update.effective_chat
    assert chat is not None
    stem = summary.file_stem(scope, period)
    await call.context.bot.send_document(
        chat.id,
        InputFile(await asyncio.to_thread(summary.docx_bytes, draft), filename=f"{stem}.docx"),
        caption=call.t("summary.caption", title=draft.title),
    )
    await call.context.bot.send_document(
        chat.id, InputFile(summary.markdown(draft).encode(), filename=f"{stem}.md")
    )


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("export", guarded(deps, "export", export), filters=private))
    app.add_handler(CommandHandler("stats", guarded(deps, "stats", stats_command), filters=private))
    app.add_handler(
        CommandHandler("summary", guarded(deps, "summary", summary_command), filters=private)
    )
