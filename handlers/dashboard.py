"""/dashboard: a single-use login link to the web dashboard, for the member's own role;
/logout: end every dashboard session of the member, in every browser."""

from __future__ import annotations

from telegram import LinkPreviewOptions
from telegram.ext import CommandHandler, filters

from bot.services import dashboard_links, dashboard_sessions
from handlers.common import App, Call, Deps, guarded


async def dashboard(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    cfg = deps.config.dashboard
    if not cfg.enabled:
        await call.reply(call.t("dashboard.off"))
        return
    async with deps.db.write() as session:
        token, _ = await dashboard_links.issue(
            session, call.actor, minutes=cfg.link_minutes, now=deps.now()
        )
    url = cfg.public_url.rstrip("/") + f"/dashboard/login?t={token}"
    chat = call.update.effective_chat
    assert chat is not None
    # No preview: Telegram's crawler would fetch the link (it would only see the button page,
    # but there is nothing to preview either).
    await call.context.bot.send_message(
        chat.id,
        call.t("dashboard.link", url=url, minutes=cfg.link_minutes),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def logout(call: Call) -> None:
    """Works with the dashboard off too: sessions opened while it was on end all the same."""
    assert call.actor is not None
    deps = call.deps
    async with deps.db.write() as session:
        ended = await dashboard_sessions.end_member(
            session, call.actor.member_id, by=call.actor.member_id
        )
    await call.reply(call.t("logout.done", count=ended))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("dashboard", guarded(deps, "dashboard", dashboard), filters=private)
    )
    app.add_handler(CommandHandler("logout", guarded(deps, "logout", logout), filters=private))
