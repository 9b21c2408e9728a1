"""Cross-cutting handlers: dropping redelivered and edited updates, fallbacks, the error
handler."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.errors import Denied
from bot.inbound import AlreadyApplied, current_attempt
from bot.logs import describe_update, log_redacted, member_texts
from bot.services import invites, updates
from bot.texts import t
from handlers import onboarding
from handlers.common import App, Call, Context, Deps, guarded, guarded_button

log = logging.getLogger(__name__)

# Runs before everything else (group -2), so a repeat or an edit stops here; open dialogs come
# next (group -1, handlers.dialogs), then the features (group 0).
FIRST_GROUP = -2


def first_look(deps: Deps) -> TypeHandler[Update, Context, None]:
    async def callback(update: Update, context: Context) -> None:
        if current_attempt.get() is None:
            # Fed to the application directly, not through the inbound path (the handler
            # tests do this): record the update here, so a repeat is still dropped.
            async with deps.db.write() as session:
                new = await updates.record_handled(session, update.to_dict())
                await session.commit()
            if not new:
                log.info("dropping redelivered update %s", update.update_id)
                raise ApplicationHandlerStop
        edited = update.edited_message
        if edited is not None:
            # An edit arrives as a new update: running it would repeat the command (a second
            # study item, a second meeting). Say once per edit that edits are not read.
            if edited.chat.type == ChatType.PRIVATE and (edited.text or edited.caption):
                await context.bot.send_message(
                    edited.chat.id,
                    t(deps.default_language, "edit.ignored"),
                    reply_to_message_id=edited.message_id,
                    allow_sending_without_reply=True,
                )
            raise ApplicationHandlerStop
        if update.edited_channel_post is not None or update.edited_business_message is not None:
            raise ApplicationHandlerStop

    return TypeHandler(Update, callback)


async def unknown_command(call: Call) -> None:
    await call.reply(call.t("unknown_command" if call.actor else "not_registered"))


async def plain_text(call: Call) -> None:
    """A message that is no command and answers no dialog: point the way instead of silence.
    A stranger's invite code, typed (Feishu has no deep links), joins them."""
    message = call.update.effective_message
    text = (message.text or "").strip().lower() if message else ""
    if call.actor is None and invites.looks_like_code(text):
        await onboarding.join(call, text)
    elif call.actor is None:
        await onboarding.tell_stranger(call)
    else:
        await call.reply(call.t("hint.help"))


async def stale_button(call: Call) -> str | None:
    raise Denied("not_your_button")


def error_handler(deps: Deps) -> Callable[[object, Context], Coroutine[Any, Any, None]]:
    async def on_error(update: object, context: Context) -> None:
        """Log first with a reference, then tell the user briefly; never show them the trace."""
        if isinstance(context.error, AlreadyApplied):
            # A second copy of an update that another attempt applied: nothing to tell.
            log.info("%s; this attempt was rolled back", context.error)
            return
        ref = secrets.token_hex(4)
        # What the member wrote stays out of the log (the whole update only at DEBUG): the
        # update is named by kind, chat and user, and their text is cut out of the traceback.
        update_id = getattr(update, "update_id", "?")
        log_redacted(
            log,
            logging.ERROR,
            "update %s failed (ref %s): %s",
            update_id,
            ref,
            describe_update(update),
            error=context.error,
            hide=member_texts(update),
        )
        log.debug("update %s (ref %s) was %r", update_id, ref, getattr(update, "to_dict", dict)())
        if isinstance(update, Update) and update.effective_chat is not None:
            text = t(deps.default_language, "error.internal", ref=ref)
            try:
                await context.bot.send_message(update.effective_chat.id, text)
            except Exception:
                log.exception("could not tell the user about error %s", ref)

    return on_error


def register_first(app: App, deps: Deps) -> None:
    app.add_handler(first_look(deps), group=FIRST_GROUP)
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
