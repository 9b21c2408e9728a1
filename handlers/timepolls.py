"""Finding a time: /timepoll, members' ticks, the organiser's 「定为会议」 and 「提醒未投票」."""

from __future__ import annotations

from contextlib import suppress

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import Denied, Invalid
from bot.services import timepolls
from bot.services.meeting_kinds import parse_kind
from bot.services.meetings import when_text
from handlers.common import App, Call, Deps, callback_id, guarded, guarded_button, parse_id


def _markup(call: Call, markup: dict[str, object] | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(markup, call.context.bot) if markup else None


def parse_request(text: str) -> tuple[str | None, str, str | None, list[str]]:
    """`[kind] <title> [#ref] | <slot> | <slot> ...` into its parts; slots still as typed."""
    # Chinese keyboards type the full-width bar.
    head, *pieces = [p.strip() for p in text.replace("｜", "|").split("|")]
    words = head.split()
    kind = parse_kind(words[0]) if words else None
    if kind is not None:
        words = words[1:]
    ref = words.pop() if words and words[-1].startswith("#") else None
    return kind, " ".join(words), ref, [p for p in pieces if p]


async def _show_status(call: Call, tally: timepolls.Tally) -> None:
    """Send the live tally and remember it, so that votes edit this message from now on."""
    tz = call.deps.meetings.tz
    message = await call.reply(
        timepolls.status_text(tally, tz), _markup(call, timepolls.status_markup(tally, tz))
    )
    async with call.deps.db.write() as session:
        await timepolls.set_status_message(
            session, tally.poll_id, message.chat_id, message.message_id
        )


async def _refresh_status(call: Call, tally: timepolls.Tally) -> None:
    if tally.status_chat_id is None or tally.status_message_id is None:
        return
    tz = call.deps.meetings.tz
    # Unchanged, too old, the organiser blocked the bot, or many ticks at once hit Telegram's
    # per-chat limit (RetryAfter): the votes are stored all the same and the next tick redraws.
    with suppress(TelegramError):
        await call.context.bot.edit_message_text(
            timepolls.status_text(tally, tz),
            chat_id=tally.status_chat_id,
            message_id=tally.status_message_id,
            reply_markup=_markup(call, timepolls.status_markup(tally, tz)),
        )


async def timepoll_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    if not call.rest:
        await call.reply(call.t("poll.usage"))
        return
    poll_id = parse_id(call.rest)
    if poll_id is not None:
        async with deps.db.read() as session:
            tally = await timepolls.poll_tally(session, deps.meetings, call.actor, poll_id)
        await _show_status(call, tally)
        return
    kind, title, ref, pieces = parse_request(call.rest)
    now = deps.now()
    try:
        slots = tuple(timepolls.parse_slot(p, deps.meetings.tz, now) for p in pieces)
        async with deps.db.write() as session:
            created = await timepolls.create_poll(
                session,
                deps.meetings,
                call.actor,
                timepolls.PollDraft(kind, title, ref, slots),
                now=now,
            )
    except Invalid as exc:
        # Bad input: say what is wrong, then how to write it.
        await call.reply(call.t(exc.key, **exc.params) + "\n\n" + call.t("poll.usage"))
        return
    await call.reply(
        call.t("poll.created", id=created.poll_id, title=created.title, sent=created.sent)
    )
    await _show_status(call, created.tally)
    # After the status message is saved, so the first ticks already update it.
    deps.outbox_ready.set()


async def vote_button(call: Call) -> str | None:
    """A member's toggle: tick or untick one slot; their keyboard and the tally follow."""
    assert call.actor is not None
    verb, slot_id = callback_id(call, "tp")
    if verb != "v":
        raise Denied("not_your_button")
    deps = call.deps
    async with deps.db.write() as session:
        result = await timepolls.toggle(session, deps.meetings, call.actor, slot_id, now=deps.now())
    query = call.update.callback_query
    if query is not None and query.message is not None:
        with suppress(BadRequest):
            await query.edit_message_reply_markup(_markup(call, result.markup))
    await _refresh_status(call, result.tally)
    return call.t("poll.ticked" if result.ticked else "poll.unticked", label=result.label)


async def organiser_button(call: Call) -> str | None:
    """「定为会议」 (tp:mk:<slot>) and 「提醒未投票」 (tp:rm:<poll>)."""
    assert call.actor is not None
    verb, number = callback_id(call, "tp")
    deps = call.deps
    if verb == "rm":
        async with deps.db.write() as session:
            count = await timepolls.remind(
                session, deps.meetings, call.actor, number, now=deps.now()
            )
        deps.outbox_ready.set()
        await call.reply(
            call.t("poll.reminded", count=count) if count else call.t("poll.all_voted")
        )
        return None
    if verb != "mk":
        raise Denied("not_your_button")
    async with deps.db.write() as session:
        made = await timepolls.make_meeting(
            session, deps.meetings, call.actor, number, now=deps.now()
        )
    deps.outbox_ready.set()
    lines = [
        call.t(
            "poll.made",
            id=made.meeting_id,
            title=made.title,
            when=when_text(call.lang, made.starts_at, deps.meetings.tz),
            invited=made.invited,
        )
    ]
    if made.short_of_majority:
        lines.append(call.t("poll.made_short", count=made.count, total=made.total))
    await call.reply("\n".join(lines))
    await _refresh_status(call, made.tally)
    return call.t("poll.made_notice", id=made.meeting_id)


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("timepoll", guarded(deps, "timepoll", timepoll_command), filters=private)
    )
    # Ticking is for every member; the order matters: the organiser's pattern catches the rest.
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "checkin", vote_button), pattern=r"^tp:v:")
    )
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "timepoll", organiser_button), pattern=r"^tp:")
    )
