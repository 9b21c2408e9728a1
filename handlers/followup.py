"""Members confirming pushes, and secretaries following up: /todo, /items, /item, /nudge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import Denied
from bot.services import dues, items, money, tasks
from bot.texts import join_names
from handlers.common import (
    App,
    Call,
    Deps,
    callback_id,
    guarded,
    guarded_button,
    mark_buttons,
    parse_id,
)
from handlers.dialogs import dialog, ending, open_dialog

SHOW_NAMES = 60


def _item_arg(call: Call) -> int | None:
    return parse_id(call.args[0]) if len(call.args) == 1 else None


async def item_button(call: Call) -> str | None:
    """「已学习」/「已阅」 records the confirmation; 「写心得」 opens the reflection dialog."""
    assert call.actor is not None
    verb, item_id = callback_id(call, "it")
    deps = call.deps
    if verb == "rf":
        async with deps.db.read() as session:
            title = await items.start_reflection(session, call.actor, item_id)
        await open_dialog(call, ReflectionDialog(item_id))
        await call.reply(call.t("reflect.prompt", title=title))
        return None
    if verb != "ok":
        raise Denied("not_your_button")
    result = await items.confirm(deps.db, deps.push, call.actor, item_id, now=deps.now())
    if result.first_time:
        # The message may be too old to edit; the confirmation is recorded all the same.
        await mark_buttons(call, result.markup)
    return call.t("item.confirmed" if result.first_time else "item.already")


@dialog("reflection")
@dataclass
class ReflectionDialog:
    item_id: int

    async def on_message(self, call: Call) -> bool:
        assert call.actor is not None
        message = call.update.effective_message
        text = message.text if message is not None else None
        if text is None:
            await call.reply(call.t("reflect.empty"))
            return False
        async with ending(call) as session:
            await items.save_reflection(
                session, call.actor, self.item_id, text, now=call.deps.now()
            )
        await call.reply(call.t("reflect.saved"))
        return True


async def todo(call: Call) -> None:
    """Everything the member still owes: study items and reminders, this month's dues, tasks."""
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        entries: list[tuple[str, dict[str, Any]]] = [
            (entry.text, entry.markup) for entry in await items.todo(session, deps.push, call.actor)
        ]
        mine = await dues.my_dues(session, deps.dues, call.actor, deps.now())
        open_tasks = await tasks.my_open_tasks(session, deps.tasks, call.actor, now=deps.now())
    if mine.amount and mine.status is None:
        text: str = call.t(
            "todo.dues",
            month=dues.month_label(call.lang, mine.month),
            amount=money.amount_text(mine.amount),
        )
        entries.append((text, dues.report_button(call.lang, mine.month)))
    for task in open_tasks:
        text = call.t("todo.task", id=task.id, title=task.title, due=task.due.isoformat())
        entries.append((text, tasks.task_buttons(task.id, call.lang)))
    if not entries:
        await call.reply(call.t("todo.none"))
        return
    await call.reply(call.t("todo.title", count=len(entries)))
    for text, markup in entries:
        await call.reply(text, InlineKeyboardMarkup.de_json(markup, call.context.bot))


async def items_command(call: Call) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        summaries = await items.list_items(session, call.deps.org_id, call.actor)
    if not summaries:
        await call.reply(call.t("items.none"))
        return
    lines = [
        call.t(
            "items.row",
            id=s.id,
            kind=call.t(f"items.kind_{s.kind}"),
            title=s.title,
            confirmed=s.confirmed,
            total=s.total,
            deadline=call.t("items.deadline", deadline=call.local(s.deadline, "%m-%d"))
            if s.deadline
            else "",
        )
        for s in summaries
    ]
    await call.reply_long(lines, header=call.t("items.title"))


async def item_command(call: Call) -> None:
    assert call.actor is not None
    item_id = _item_arg(call)
    if item_id is None:
        await call.reply(call.t("item.usage"))
        return
    async with call.deps.db.read() as session:
        status = await items.item_status(session, call.actor, item_id)
    s = status.summary
    lines: list[str] = [
        call.t("item.status", id=s.id, title=s.title, confirmed=s.confirmed, total=s.total)
    ]
    for key, names in (
        ("item.pending", status.pending),
        ("item.unreachable", status.unreachable),
        ("item.unbound", status.unbound),
    ):
        if names:
            lines.append(
                call.t(key, count=len(names), names=join_names(names, SHOW_NAMES, call.lang))
            )
    if s.confirmed == s.total:
        lines.append(call.t("item.all_done"))
    if status.reflections:
        lines += ["", call.t("item.reflections", count=len(status.reflections))]
        lines += [
            call.t("item.reflection_row", name=name, text=text) for name, text in status.reflections
        ]
    await call.reply_long(lines)


async def nudge_command(call: Call) -> None:
    assert call.actor is not None
    item_id = _item_arg(call)
    if item_id is None:
        await call.reply(call.t("nudge.usage"))
        return
    deps = call.deps
    async with deps.db.write() as session:
        count = await items.nudge(session, deps.push, call.actor, item_id, now=deps.now())
    deps.outbox_ready.set()
    await call.reply(call.t("nudge.done", count=count) if count else call.t("nudge.none"))


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (
        ("todo", todo),
        ("items", items_command),
        ("item", item_command),
        ("nudge", nudge_command),
    ):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "todo", item_button), pattern=r"^it:")
    )
