"""Multi-step conversations: the member's next plain message (or file) goes to their open dialog.

A dialog lives in the member's `user_data` (memory): a restart forgets it, and the member simply
starts again. Each feature defines its own dialog class.
"""

from __future__ import annotations

from typing import Any, Protocol

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.errors import Denied
from handlers.common import App, ButtonHandler, Call, Deps, callback_id, guarded

DIALOG_KEY = "dialog"


class Dialog(Protocol):
    async def on_message(self, call: Call) -> bool:
        """Handle the member's message; True when the dialog is finished."""
        ...


class ButtonDialog(Dialog, Protocol):
    async def on_button(self, call: Call, verb: str, value: int) -> str | None:
        """Handle one of the dialog's own buttons ("prefix:verb:value")."""
        ...


def dialog_buttons(kind: type[ButtonDialog], prefix: str, expired: str) -> ButtonHandler:
    """The buttons of a guided dialog act only on the presser's own open dialog of that kind: a
    button of a finished dialog, or of somebody else's, is refused with `expired`."""

    async def handler(call: Call) -> str | None:
        dialog = current_dialog(call)
        if not isinstance(dialog, kind):
            raise Denied(expired)
        verb, value = callback_id(call, prefix)
        return await dialog.on_button(call, verb, value)

    return handler


class InDialog(filters.UpdateFilter):
    """Matches updates from a member who has an open dialog."""

    def __init__(self, app: App) -> None:
        super().__init__(name="InDialog")
        self.app = app

    def filter(self, update: Update) -> bool:
        user = update.effective_user
        if user is None:
            return False
        data: Any = self.app.user_data.get(user.id)
        return bool(data) and data.get(DIALOG_KEY) is not None


def open_dialog(call: Call, dialog: Dialog) -> None:
    assert call.context.user_data is not None
    call.context.user_data[DIALOG_KEY] = dialog


def current_dialog(call: Call) -> Dialog | None:
    data = call.context.user_data
    return data.get(DIALOG_KEY) if data else None


def close_dialog(call: Call) -> None:
    if call.context.user_data is not None:
        call.context.user_data.pop(DIALOG_KEY, None)


async def on_dialog_message(call: Call) -> None:
    dialog = current_dialog(call)
    if dialog is None:
        return
    if await dialog.on_message(call):
        close_dialog(call)


async def cancel(call: Call) -> None:
    had = current_dialog(call) is not None
    close_dialog(call)
    await call.reply(call.t("dialog.cancelled" if had else "dialog.none"))


def register(app: App, deps: Deps) -> None:
    """Before the feature handlers: a member in a dialog is answering it, not starting over."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("cancel", guarded(deps, "cancel", cancel), filters=private))
    app.add_handler(
        MessageHandler(
            InDialog(app)
            & private
            & ~filters.COMMAND
            # Photos too, so a dialog that cannot use one says so instead of staying silent.
            & (filters.TEXT | filters.Document.ALL | filters.PHOTO),
            guarded(deps, "cancel", on_dialog_message),
        )
    )
