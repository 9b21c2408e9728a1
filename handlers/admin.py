"""Secretaries' and admins' roster commands: /members, /invites, /setrole, CSV upload."""

from __future__ import annotations

import csv
import io

from telegram import InputFile
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.errors import DomainError, Invalid
from bot.services import invites, members, roster
from bot.services.roster import ImportReport
from bot.services.roster_csv import MAX_ROSTER_BYTES
from bot.texts import Raw, join_names
from handlers.common import App, Call, Deps, callback_id, guarded, guarded_button, keyboard
from storage.models import Role

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
    rendered = [
        call.t(
            "invites.row",
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
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["姓名/name", "支部/branch", "党小组/group", "邀请码/code", "链接/link"])
    for line in lines:
        writer.writerow(
            [line.name, line.branch, line.group, line.code, invites.deep_link(username, line.code)]
        )
    chat = call.update.effective_chat
    assert chat is not None
    await call.context.bot.send_document(
        chat.id,
        InputFile(buffer.getvalue().encode("utf-8-sig"), filename="invites.csv"),
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


async def import_help(call: Call) -> None:
    await call.reply(call.t("import.how"))


def _errors_block(call: Call, report: ImportReport) -> list[str]:
    if not report.errors:
        return []
    lines = ["", call.t("import.errors_title", count=len(report.errors))]
    for err in report.errors[:SHOW_ROWS]:
        reason = call.t(f"roster_err.{err.reason}", value=err.value)
        lines.append(call.t("import.error_row", line=err.line, reason=reason))
    if len(report.errors) > SHOW_ROWS:
        lines.append(call.t("import.errors_more", count=len(report.errors) - SHOW_ROWS))
    return lines


def _committee_block(call: Call, report: ImportReport) -> list[str]:
    lines: list[str] = []
    if report.committee_joined:
        names = join_names(report.committee_joined, SHOW_ROWS)
        lines.append(call.t("import.committee_joined", names=names))
    if report.committee_left:
        names = join_names(report.committee_left, SHOW_ROWS)
        lines.append(call.t("import.committee_left", names=names))
    return lines


async def upload(call: Call) -> None:
    assert call.actor is not None
    message = call.update.effective_message
    document = message.document if message else None
    if document is None:
        return
    name = document.file_name or "roster.csv"
    if not name.lower().endswith(".csv"):
        await call.reply(call.t("import.not_csv"))
        return
    if (document.file_size or 0) > MAX_ROSTER_BYTES:
        await call.reply(call.t("import.too_big", limit=MAX_ROSTER_BYTES // 1024))
        return
    telegram_file = await call.context.bot.get_file(document.file_id)
    data = bytes(await telegram_file.download_as_bytearray())
    async with call.deps.db.write() as session:
        preview = await roster.preview_upload(
            session,
            call.deps.org_id,
            call.actor,
            name,
            data,
            invite_days=call.deps.config.invites.valid_days,
        )
    report = preview.report
    none = call.t("none")
    lines = [
        call.t(
            "import.preview",
            file=name,
            created=len(report.created),
            updated=len(report.updated),
            unchanged=report.unchanged,
            branches=join_names(report.new_branches, SHOW_ROWS) or none,
            groups=join_names(report.new_groups, SHOW_ROWS) or none,
        ),
        *_committee_block(call, report),
        *_errors_block(call, report),
    ]
    text = "\n".join(lines)
    if preview.pending_id is None:
        key = "import.refused" if report.errors else "import.nothing"
        await call.reply(text + "\n\n" + call.t(key))
        return
    first = (
        ("import.skip_bad", f"imp:skip:{preview.pending_id}")
        if report.errors
        else ("import.confirm", f"imp:ok:{preview.pending_id}")
    )
    await call.reply(
        text, keyboard(call.lang, [[first, ("import.cancel", f"imp:no:{preview.pending_id}")]])
    )


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
            scope = await roster.scope_for(session, call.actor)
            report = await roster.confirm_upload(
                session,
                deps.org_id,
                pending_id,
                scope,
                invite_days=deps.config.invites.valid_days,
                skip_bad_rows=verb == "skip",
            )
            if not report.applied:
                # The roster changed since the preview and the file no longer applies cleanly.
                result = "\n".join([call.t("import.refused"), *_errors_block(call, report)])
            else:
                result = call.t(
                    "import.done",
                    created=len(report.created),
                    updated=len(report.updated),
                    unchanged=report.unchanged,
                    skipped=len(report.errors),
                )
    query = call.update.callback_query
    if query is not None and query.message is not None:
        # Replace the buttons with the outcome so the same choice cannot be made twice.
        await query.edit_message_reply_markup(reply_markup=None)
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
