"""Reports in chat: /export (the ledger as XLSX), /stats (rates and a chart), /summary (a draft
half-year or annual report)."""

from __future__ import annotations

from telegram import InputFile
from telegram.ext import CommandHandler, filters

from bot.services import export_files, ledger
from handlers.common import App, Call, Deps, guarded


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
        scope, period, tables = await ledger.build(
            session, deps.org_id, deps.config.organisation.tz, call.actor, *parsed, now=deps.now()
        )
    chat = call.update.effective_chat
    assert chat is not None
    rows = sum(len(table.rows) for table in tables)
    await call.context.bot.send_document(
        chat.id,
        InputFile(
            export_files.xlsx_bytes(tables), filename=f"{ledger.file_stem(scope, period)}.xlsx"
        ),
        caption=call.t(
            "export.caption",
            scope=scope.label or call.t("export.everyone"),
            period=period.label(call.lang),
            rows=rows,
        ),
    )


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("export", guarded(deps, "export", export), filters=private))
