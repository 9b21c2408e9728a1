"""Cross-cutting handlers: dropping redelivered updates, fallbacks, and the error handler."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.errors import Denied
from bot.services import updates
from bot.services.members import get_actor
from bot.texts import t
from handlers.common import App, Call, Context, Deps, guarded, guarded_button

log = logging.getLogger(__name__)

# Runs before every feature handler (group -1), so a repeat stops here.
DEDUPE_GROUP = -1
PRUNE_EVERY = 500


def dedupe(deps: Deps) -> TypeHandler[Update, Context, None]:
    async def callback(update: Update, context: Context) -> None:
        async with deps.db.write() as session:
            user = update.effective_user
            user_id = user.id if user is not None else None
            if not await updates.first_time(session, update.update_id, user_id):
                log.info("dropping redelivered update %s", update.update_id)
                raise ApplicationHandlerStop
            # The caller, read in the same transaction, for the handler that runs next: one
            # round trip to the database fewer for every update.
            if user_id is not None:
                deps.callers.remember(
                    update.update_id, await get_actor(session, user_id, deps.default_language)
                )
            await session.commit()
            if update.update_id % PRUNE_EVERY == 0:
                await updates.prune(session)

    return TypeHandler(Update, callback)


async def unknown_command(call: Call) -> None:
    await call.reply(call.t("unknown_command" if call.actor else "not_registered"))


async def plain_text(call: Call) -> None:
    """A message that is no command and answers no dialog: point the way instead of silence."""
    if call.actor is None:
        await call.reply(call.t("start.stranger", org=call.deps.config.organisation.name))
    else:
        await call.reply(call.t("hint.help"))


async def stale_button(call: Call) -> str | None:
    raise Denied("not_your_button")


def error_handler(deps: Deps) -> Callable[[object, Context], Coroutine[Any, Any, None]]:
    async def on_error(update: object, context: Context) -> None:
        """Log first with a reference, then tell the user briefly; never show them the trace."""
        ref = secrets.token_hex(4)
        log.error(
            "update %s failed (ref %s): %r",
            getattr(update, "update_id", "?"),
            ref,
            update.to_dict() if isinstance(update, Update) else update,
            exc_info=context.error,
        )
        if isinstance(update, Update) and update.effective_chat is not None:
            text = t(deps.default_language, "error.internal", ref=ref)
            try:
                await context.bot.send_message(update.effective_chat.id, text)
            except Exception:
                log.exception("could not tell the user about error %s", ref)

    return on_error


def register_first(app: App, deps: Deps) -> None:
    app.add_handler(dedupe(deps), group=DEDUPE_GROUP)
    app.add_error_handler(error_handler(deps))


def register_last(app: App, deps: Deps) -> None:
    """Fallbacks: in the same group as the features, so they only see what nobody matched."""
    private = filters.ChatType.PRIVATE
    app.add_handler(
        MessageHandler(filters.COMMAND & private, guarded(deps, "help", unknown_command))
    )
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & private, guarded(deps, "help", plain_text))
    )
    app.add_handler(CallbackQueryHandler(guarded_button(deps, "help", stale_button)))
