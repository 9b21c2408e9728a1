"""任务清单 in chat: /task (assign, or show one's history), /tasks (the ledger), and the owner's
「完成」 and 「延期」 (which asks for the new date and the reason)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import Denied, Invalid
from bot.services import tasks
from bot.services.periods import MAX_YEAR, MIN_YEAR
from handlers.common import (
    App,
    Call,
    Deps,
    callback_id,
    guarded,
    guarded_button,
    mark_buttons,
    parse_id,
    split_word,
)
from handlers.dialogs import dialog, ending, ending_if, open_dialog

_SEPARATORS = re.compile(r"\s*[|｜]\s*")
# `/task 3 done` closes a task on the owner's word; `/task 3 cancel <reason>` withdraws it.
_CLOSE_WORDS = {"done": False, "完成": False, "cancel": True, "撤销": True, "取消": True}


# A due date further off than this is a typo (and 9999-12-31 has no day after it).
MAX_YEARS_AHEAD = 5


def parse_date(text: str, today: date) -> date:
    try:
        day = datetime.strptime(text.strip().replace("/", "-"), "%Y-%m-%d").date()
    except ValueError:
        raise Invalid("task.bad_date", value=text.strip()) from None
    if not MIN_YEAR <= day.year <= min(MAX_YEAR, today.year + MAX_YEARS_AHEAD):
        raise Invalid("task.bad_date", value=text.strip())
    return day


async def task_command(call: Call) -> None:
    """`/task <title> | <owner> | <YYYY-MM-DD>` assigns; `/task <id>` shows the history."""
    assert call.actor is not None
    rest = call.rest
    first, tail = split_word(rest)
    task_id = parse_id(first) if first else None
    if task_id is not None and "|" not in rest and "｜" not in rest:
        verb, reason = split_word(tail)
        if not verb:
            await _show(call, task_id)
        elif verb.lower() in _CLOSE_WORDS:
            await _close(call, task_id, _CLOSE_WORDS[verb.lower()], reason)
        else:
            await call.reply(call.t("task.manage_usage", id=task_id))
        return
    parts = _SEPARATORS.split(rest)
    if len(parts) != 3 or not all(parts):
        await call.reply(call.t("task.usage"))
        return
    title, owner_ref, due_text = parts
    deps = call.deps
    due = parse_date(due_text, tasks.today(deps.tasks, deps.now()))
    async with deps.db.write() as session:
        owner = await tasks.resolve_owner(session, deps.tasks, call.actor, owner_ref)
        done = await tasks.create_task(
            session, deps.tasks, call.actor, title, owner, due, now=deps.now()
        )
    deps.outbox_ready.set()
    await call.reply(
        call.t(
            "task.created",
            id=done.task_id,
            title=done.title,
            owner=done.owner,
            due=done.due.isoformat(),
            count=done.told,
        )
    )


async def _close(call: Call, task_id: int, cancel: bool, reason: str) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.write() as session:
        done = await tasks.close_by_manager(
            session, deps.tasks, call.actor, task_id, cancel=cancel, reason=reason, now=deps.now()
        )
    if done.already:
        await call.reply(call.t("task.already_closed", title=done.title))
        return
    await call.reply(call.t("task.cancelled" if cancel else "task.closed", title=done.title))


async def _show(call: Call, task_id: int) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        row, events = await tasks.history(session, deps.tasks, call.actor, task_id, now=deps.now())
    lines: list[str] = [
        call.t(
            "task.history_head",
            id=row.id,
            title=row.title,
            owner=row.owner,
            due=row.due.isoformat(),
            status=call.t(f"task.status_{row.status}"),
        )
    ]
    for event in events:
        lines.append(
            call.t(
                f"task.event_{event.kind}",
                at=call.local(event.at, "%m-%d %H:%M"),
                actor=event.actor or "—",
                old=event.old_due.isoformat() if event.old_due else "",
                new=event.new_due.isoformat() if event.new_due else "",
                reason=event.reason or "",
            )
        )
    await call.reply_long(lines)


async def tasks_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    branch = call.args[0] if call.args else None
    async with deps.db.read() as session:
        rows, count = await tasks.ledger(session, deps.tasks, call.actor, branch, now=deps.now())
    if not rows:
        await call.reply(call.t("tasks.none"))
        return
    lines: list[str] = [call.t("tasks.head", **count)]
    # Overdue first: that is what the ledger is for.
    for kind in ("overdue", "open", "done", "cancelled"):
        for row in rows:
            if row.status == kind:
                lines.append(
                    call.t(
                        f"tasks.row_{kind}",
                        id=row.id,
                        title=row.title,
                        owner=row.owner,
                        due=row.due.isoformat(),
                        done=call.local(row.done_at, "%m-%d") if row.done_at else "",
                    )
                )
    await call.reply_long(lines)


async def task_button(call: Call) -> str | None:
    """「完成」「延期」: only for the task's owner (or its group's leader)."""
    assert call.actor is not None
    verb, task_id = callback_id(call, "tk")
    deps = call.deps
    if verb == "dn":
        # Done after all while asked for a new date: the next message is not a date.
        async with ending_if(call, PostponeDialog, lambda d: d.task_id == task_id) as session:
            done = await tasks.complete(session, deps.tasks, call.actor, task_id, now=deps.now())
        deps.outbox_ready.set()
        if done.already:
            return call.t("task.already_done")
        await mark_buttons(call, {"inline_keyboard": []})
        await call.reply(call.t("task.done", title=done.title))
        return None
    if verb == "pp":
        async with deps.db.read() as session:
            await tasks.check_may_postpone(session, deps.tasks, call.actor, task_id)
        await open_dialog(call, PostponeDialog(task_id))
        await call.reply(call.t("task.postpone_prompt"))
        return None
    raise Denied("not_your_button")


@dialog("postpone")
@dataclass
class PostponeDialog:
    """The owner's next message: the new date and the reason, e.g. "2026-12-25 等待上级文件"."""

    task_id: int

    async def on_message(self, call: Call) -> bool:
        assert call.actor is not None
        message = call.update.effective_message
        day, reason = split_word(message.text or "" if message is not None else "")
        if not day or not reason:
            await call.reply(call.t("task.postpone_format"))
            return False
        deps = call.deps
        new_due = parse_date(day, tasks.today(deps.tasks, deps.now()))
        try:
            async with ending(call) as session:
                done = await tasks.postpone(
                    session, deps.tasks, call.actor, self.task_id, new_due, reason, now=deps.now()
                )
        except Invalid as exc:
            if exc.key not in ("task.is_done", "task.is_cancelled"):
                raise
            # Finished or withdrawn meanwhile: nothing left to postpone; the dialog ends here.
            await call.reply(call.t(exc.key, **exc.params))
            return True
        deps.outbox_ready.set()
        await call.reply(call.t("task.postponed", due=done.new_due.isoformat()))
        return True


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("task", guarded(deps, "task", task_command), filters=private))
    app.add_handler(CommandHandler("tasks", guarded(deps, "tasks", tasks_command), filters=private))
    # Owners act with member rights; the service checks the task is theirs.
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "todo", task_button), pattern=r"^tk:")
    )
