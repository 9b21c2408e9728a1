"""/holidays: the holiday arrangement in force for a year and where each date comes from; and
`/holidays import`, an admin loading the State Council's notice (国务院办公厅关于20XX年部分节假日
安排的通知), shown for confirmation with 「确认」「取消」.

The notice goes after the command, or, after `/holidays import` alone, in the admin's next
message: the command opens a dialog (handlers/dialogs.py, kept in the database), so whatever the
admin sends next is read as the notice, and a text that does not read says why. Unreadable, the
dialog stays open for a corrected text (or /cancel); read, it ends in the transaction that
stages the notice."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import allowed, authorize
from bot.errors import DomainError, Invalid
from bot.services import holiday_notices
from bot.services.periods import MAX_YEAR, MIN_YEAR
from handlers.common import (
    App,
    Call,
    Deps,
    callback_id,
    drop_buttons,
    guarded,
    guarded_button,
    keyboard,
    split_word,
)
from handlers.dialogs import close_dialog, dialog, ending, ending_if, open_dialog

IMPORT = holiday_notices.IMPORT_COMMAND
_IMPORT_WORDS = {"import", "导入"}


async def holidays_command(call: Call) -> None:
    assert call.actor is not None
    word, rest = split_word(call.rest)
    if word.lower() in _IMPORT_WORDS:
        await _import(call, rest)
        return
    deps = call.deps
    today = deps.now().astimezone(deps.config.organisation.tz).date()
    if not word:
        year = today.year
    elif word.isdigit() and MIN_YEAR <= int(word) <= MAX_YEAR and not rest:
        year = int(word)
    else:
        await call.reply(
            call.t("holidays.bad_year", value=word) + "\n\n" + call.t("holidays.usage")
            if word.isdigit()
            else call.t("holidays.usage")
        )
        return
    async with deps.db.read() as session:
        view = await holiday_notices.year_view(session, deps.org_id, year)
    title, lines = holiday_notices.year_lines(call.lang, view, deps.config.organisation.tz)
    await call.reply_long(lines, header=f"<b>{title}</b>")


async def _import(call: Call, text: str) -> None:
    # The one place: the command table says who may import (bot/auth.py); admins only.
    authorize(call.actor, IMPORT)
    if not text.strip():
        # The admin's next message is the notice.
        await open_dialog(call, NoticeDialog())
        await call.reply(call.t("holidays.paste"))
        return
    await _preview(call, text)


async def import_command(call: Call) -> None:
    await _import(call, call.rest)


@dialog("holiday_notice")
@dataclass
class NoticeDialog:
    """After `/holidays import` alone: the next message is the notice's text."""

    async def on_message(self, call: Call) -> bool:
        if not allowed(call.actor, IMPORT):
            # No longer an admin: the dialog ends rather than refusing every later message.
            await close_dialog(call)
            authorize(call.actor, IMPORT)
        message = call.update.effective_message
        text = message.text if message is not None else None
        if not text or not text.strip():
            await call.reply(call.t("holidays.paste_text"))
            return False
        try:
            await _preview(call, text, in_dialog=True)
        except Invalid as exc:
            # Nothing was staged; the dialog waits for a corrected text.
            await call.reply(call.t(exc.key, **exc.params) + "\n" + call.t("holidays.paste_again"))
            return False
        return True


async def _preview(call: Call, text: str, *, in_dialog: bool = False) -> None:
    assert call.actor is not None
    deps = call.deps
    # Pasted in the dialog, the notice is staged in the transaction that ends it; given after
    # the command, it ends a paste dialog the admin left open too.
    staging = ending(call) if in_dialog else ending_if(call, NoticeDialog, lambda _dialog: True)
    async with staging as session:
        preview = await holiday_notices.stage_notice(
            session, deps.org_id, call.actor, text, now=deps.now()
        )
    lines = holiday_notices.preview_lines(call.lang, preview, deps.config.organisation.tz)
    lines[0] = f"<b>{lines[0]}</b>"
    notice_id = preview.notice_id
    markup = keyboard(
        call.lang,
        [[("holidays.confirm", f"hol:ok:{notice_id}"), ("holidays.cancel", f"hol:no:{notice_id}")]],
    )
    await call.reply("\n".join(lines), markup)


async def notice_button(call: Call) -> str | None:
    assert call.actor is not None
    verb, notice_id = callback_id(call, "hol")
    if verb not in ("ok", "no"):
        raise DomainError("not_your_button")
    deps = call.deps
    async with deps.db.write() as session:
        if verb == "ok":
            imported = await holiday_notices.confirm_notice(
                session, deps.push, notice_id, call.actor, now=deps.now()
            )
            result = holiday_notices.imported_text(call.lang, imported)
        else:
            await holiday_notices.cancel_notice(session, deps.org_id, notice_id, call.actor)
            result = call.t("holidays.cancelled")
    await drop_buttons(call)
    await call.reply(result)
    return None


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("holidays", guarded(deps, "holidays", holidays_command), filters=private)
    )
    # The table's name for the import, as a command of its own too (`/holidays_import <text>`).
    app.add_handler(CommandHandler(IMPORT, guarded(deps, IMPORT, import_command), filters=private))
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, IMPORT, notice_button), pattern=r"^hol:")
    )
