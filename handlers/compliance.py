"""/compliance: 三会一课 required vs held, per branch, group and kind, for a month or quarter."""

from __future__ import annotations

from telegram.ext import CommandHandler, filters

from bot.services import compliance
from handlers.common import App, Call, Deps, guarded


async def compliance_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        result = await compliance.report(
            session, deps.meetings, call.actor, call.rest or None, now=deps.now()
        )
    await call.reply_long(compliance.render(call.lang, result))


def register(app: App, deps: Deps) -> None:
    app.add_handler(
        CommandHandler(
            "compliance",
            guarded(deps, "compliance", compliance_command),
            filters=filters.ChatType.PRIVATE,
        )
    )
