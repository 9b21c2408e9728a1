"""Secretaries' and admins' roster commands: /members, /invites, /setrole, roster upload (CSV or
XLSX).

An uploaded roster is checked and previewed, and a confirmed one applied, in the background
(bot/background.py, bot/heavy.py): the handlers check the caller, queue the work and answer at
once; the preview with its buttons, and the outcome, follow."""

from __future__ import annotations

from telegram import InputFile
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import background, menus
from bot.errors import DomainError, Invalid
from bot.services import invites, members, roster
from bot.services.roster_csv import MAX_ROSTER_BYTES
from bot.texts import Raw
from handlers.common import App, Call, Deps, callback_id, drop_buttons, guarded, guarded_button
from handlers.queued import queue
from storage.models import Role

# Roster files read in chat: CSV, and Excel workbooks (the first sheet).
ROSTER_SUFFIXES = (".csv", ".xlsx", ".xlsm")

# How many rows of errors or unbound names fit in one chat message before we point elsewhere.
SHOW_ROWS = 15


def _place(call: Call, branch: str, group: str) -> Raw:
    if group:
        return call.t("place.branch_group", branch=branch, group=group)
    return call.t("place.branch", branch=branch)


async def members_command(call: Call) -> None:
    assert call.actor is not None
    branch = " ".join(call.args) or None
    async with call.deps.db.read() as session:
        overview = await members.members_overview(session, call.deps.org_id, call.actor, branch)
    if not overview.counts:
        await call.reply(call.t("members.empty"))
        return
    total = overview.total_bound + overview.total_unbound
    lines: list[str] = [call.t("members.title", bound=overview.total_bound, total=total)]
    lines += [
        call.t(
            "members.row",
            branch=c.branch,
            group=c.group or call.t("members.no_group"),
            bound=c.bound,
            unbound=c.unbound,
        )
        for c in overview.counts
    ]
    if overview.unbound:
        lines += ["", call.t("members.unbound_title", count=len(overview.unbound))]
        lines += [
            call.t("members.unbound_row", name=name, place=_place(call, branch, group))
            for name, branch, group in overview.unbound[:SHOW_ROWS]
        ]
        if len(overview.unbound) > SHOW_ROWS:
            lines.append(call.t("members.more", count=len(overview.unbound) - SHOW_ROWS))
    await call.reply_long(lines)


async def invites_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    branch_name = " ".join(call.args) or None
    async with deps.db.write() as session:
        lines = await invites.invites_in_scope(
            session, deps.org_id, call.actor, branch_name, valid_days=deps.config.invites.valid_days
        )
    if not lines:
        await call.reply(call.t("invites.none"))
        return
    username = call.context.bot.username
    # Without Telegram (an office on Feishu alone) a Telegram link would lead nowhere.
    row = "invites.row" if deps.config.telegram.token else "invites.row_code"
    rendered = [
        call.t(
            row,
            code=line.code,
            name=line.name,
            place=_place(call, line.branch, line.group),
            link=invites.deep_link(username, line.code),
            expires=call.local(line.expires_at, "%Y-%m-%d"),
        )
        for line in lines
    ]
    if len(rendered) > SHOW_ROWS:
        # A long list is easier to print or forward as a file than as many messages.
        await _send_invites_csv(call, lines, username)
        return
    await call.reply_long(rendered, header=call.t("invites.title", count=len(lines)))


async def _send_invites_csv(call: Call, lines: list[invites.InviteLine], username: str) -> None:
    # The file is for the office's Excel: headers in the organisation's language; a link only
    # where there is a Telegram bot to link to.
    bot = username if call.deps.config.telegram.token else None
    data = invites.invites_csv(lines, bot, call.deps.config.organisation.language)
    chat = call.update.effective_chat
    assert chat is not None
    await call.context.bot.send_document(
        chat.id,
        InputFile(data, filename="invites.csv"),
        caption=call.t("invites.file_caption", count=len(lines)),
    )


async def setrole(call: Call) -> None:
    assert call.actor is not None
    if len(call.args) < 2:
        await call.reply(call.t("setrole.usage"))
        return
    *name_parts, role_text = call.args
    try:
        role = Role(role_text.lower())
    except ValueError:
        raise Invalid("setrole.bad_role", role=role_text) from None
    async with call.deps.db.write() as session:
        change = await members.set_role(
            session, call.deps.org_id, call.actor, " ".join(name_parts), role
        )
    key = "setrole.same" if change.old is change.new else "setrole.done"
    await call.reply(
        call.t(
            key,
            name=change.member.name,
            old=call.t(f"role.{change.old.value}"),
            new=call.t(f"role.{change.new.value}"),
        )
    )
    if change.old is not change.new:
        # Their command menu follows the new role (after the commit; never failing).
        await menus.refresh_members(
            call.deps.db,
            call.context.bot,
            [change.member.id],
            call.deps.default_language,
            max_wait=0,
        )


async def import_help(call: Call) -> None:
    await call.reply(call.t("import.how"))


async def upload(call: Call) -> None:
    assert call.actor is not None
    message = call.update.effective_message
    document = message.document if message else None
    if document is None:
        return
    name = document.file_name or "roster.csv"
    if name.lower().endswith(".xls"):
        await call.reply(call.t("roster_file.xls"))
        return
    # CSV or Excel (.xlsx); the job reads the content, which decides (an .xlsx is a zip).
    if not name.lower().endswith(ROSTER_SUFFIXES):
        await call.reply(call.t("import.not_csv"))
        return
    if (document.file_size or 0) > MAX_ROSTER_BYTES:
        await call.reply(call.t("import.too_big", limit=MAX_ROSTER_BYTES // 1024))
        return
    async with call.deps.db.read() as session:
        # A secretary without a branch is refused now, not after the file was read.
        await roster.scope_for(session, call.actor)
    # The job downloads, parses and checks the whole file, compares it with the roster and sends
    # the preview with its buttons.
    queued = await queue(
        call,
        "roster_preview",
        {"file_id": document.file_id, "file_name": name},
        document.file_unique_id,
    )
    if queued:
        await call.reply(call.t("import.reading", file=name))
    else:
        kind = call.t("background.kind.roster_preview")
        await call.reply(call.t("background.already", what=kind))


async def import_button(call: Call) -> str | None:
    assert call.actor is not None
    verb, pending_id = callback_id(call, "imp")
    if verb not in ("ok", "skip", "no"):
        raise DomainError("not_your_button")
    deps = call.deps
    async with deps.db.write() as session:
        if verb == "no":
            await roster.cancel_upload(session, pending_id, call.actor.member_id)
            result: str = call.t("import.cancelled")
        else:
            await roster.scope_for(session, call.actor)
            # Taken for applying and queued in one transaction: a second tap finds it settled.
            await roster.begin_apply(session, pending_id, call.actor.member_id)
            chat = call.update.effective_chat
            assert chat is not None
            await background.submit(
                session,
                background.Request(
                    "roster_apply",
                    {"pending_id": pending_id, "skip": verb == "skip"},
                    call.actor.member_id,
                    chat.id,
                    call.lang,
                    background.same_request("roster_apply", call.actor.member_id, pending_id),
                ),
                now=deps.now(),
            )
            result = call.t("import.applying")
    await drop_buttons(call)
    await call.reply(result)
    return None


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (
        ("members", members_command),
        ("invites", invites_command),
        ("setrole", setrole),
        ("import", import_help),
    ):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
    app.add_handler(MessageHandler(filters.Document.ALL & private, guarded(deps, "import", upload)))
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "import", import_button), pattern=r"^imp:")
    )
