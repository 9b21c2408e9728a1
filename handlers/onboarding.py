"""Joining and the member's own commands: /start, /help, /me, /lang."""

from __future__ import annotations

from dataclasses import replace

from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import menus
from bot.auth import commands_for
from bot.channels.address import CHANNELS, FEISHU, channel_of
from bot.channels.feishu.events import COMMAND_PREFIX
from bot.errors import Denied, Invalid
from bot.services import (
    accounts,
    dues,
    invites,
    members,
    money,
    organisation,
    profile,
    volunteers,
)
from bot.services.members import MemberView
from bot.texts import Raw
from handlers.checkin import checkin_from_link, is_checkin_param
from handlers.common import (
    App,
    Call,
    Deps,
    buttons,
    callback_id,
    guarded,
    guarded_button,
    keyboard,
)


def place(call: Call, view: MemberView) -> Raw:
    if view.branch and view.group:
        return call.t("place.branch_group", branch=view.branch, group=view.group)
    if view.branch:
        return call.t("place.branch", branch=view.branch)
    return call.t("place.org", org=call.deps.config.organisation.name)


def help_text(call: Call) -> str:
    lines = [call.t("help.title")]
    # A member who has joined has no use for /start <code>.
    lines += [
        call.t(f"help.{c.name}")
        for c in commands_for(call.actor)
        if not (c.name == "start" and call.actor is not None)
    ]
    return "\n".join(lines)


async def tell_stranger(call: Call) -> None:
    """How to join, on the channel they wrote from (with the id an admin needs for config)."""
    org = call.deps.config.organisation.name
    if channel_of(call.user_id) == FEISHU:
        async with call.deps.db.read() as session:
            open_id = await accounts.external_id(session, call.user_id)
        await call.reply(call.t("start.stranger_feishu", org=org, open_id=open_id or ""))
        return
    await call.reply(call.t("start.stranger", org=org, user_id=call.user_id))


async def start(call: Call) -> None:
    deps = call.deps
    if not call.args:
        if call.actor is None:
            await tell_stranger(call)
            return
        user = call.update.effective_user
        if user is not None and organisation.is_placeholder(call.actor.name):
            # An admin from the config, known by number until now: by their own name from here.
            async with deps.db.write() as session:
                await organisation.name_admin(session, call.user_id, user.full_name)
        async with deps.db.read() as session:
            view = await members.my_record(session, call.actor)
        await call.reply(
            call.t(
                "start.already_member",
                name=view.name,
                place=place(call, view),
                role=call.t(f"role.{view.role.value}"),
            )
            + "\n\n"
            + help_text(call)
        )
        return
    if is_checkin_param(call.args[0]):
        # The QR code on the organiser's screen opens the bot with a check-in token.
        await checkin_from_link(call, call.args[0])
        return
    await join(call, call.args[0])


async def join(call: Call, code: str) -> None:
    """Bind the caller with an invite code: from Telegram's link (/start code), or typed."""
    deps = call.deps
    org = deps.config.organisation.name
    async with deps.db.write() as session:
        result = await invites.bind(session, code, call.user_id, now=deps.now())
    view = result.member
    # The caller is now a member: refresh identity and language before rendering.
    async with deps.db.read() as session:
        call.actor = await members.get_actor(session, call.user_id, deps.default_language)
    call.lang = call.actor.language if call.actor else call.lang
    key = "start.welcome_back" if result.already_bound else "start.welcome"
    await call.reply(
        call.t(
            key,
            name=view.name,
            org=org,
            place=place(call, view),
            role=call.t(f"role.{view.role.value}"),
        )
        + "\n\n"
        + help_text(call)
    )
    # The menu of their role (a second /start with the link sets it again, which heals).
    await set_own_menu(call)


async def set_own_menu(call: Call) -> None:
    """The caller's own command menu, as they are now; after the commit, never failing."""
    menu = menus.menu_of(call.actor, call.user_id, call.deps.default_language)
    await menus.apply(call.context.bot, [menu], max_wait=0)


# What a Feishu help card offers as buttons, in this order, as far as the caller may use them
# (Feishu has no command menu; the rest are typed).
HELP_BUTTONS = ("todo", "me", "activities", "checkin", "items", "meetings", "dues", "stats")


async def help_command(call: Call) -> None:
    if channel_of(call.user_id) != FEISHU:
        await call.reply(help_text(call))
        return
    mine = {c.name for c in commands_for(call.actor)}
    offered = [(call.t(f"menu.{name}"), f"/{name}") for name in HELP_BUTTONS if name in mine]
    rows = [offered[i : i + 3] for i in range(0, len(offered), 3)]
    # A press types the command for the member (bot.channels.feishu.events).
    await call.reply(
        help_text(call) + "\n" + call.t("help.more"),
        buttons([[(label, f"{COMMAND_PREFIX}{cmd}") for label, cmd in row] for row in rows]),
    )


def channel_name(call: Call, channel: str) -> str:
    return call.t(f"channel.name_{channel}")


async def channel(call: Call) -> None:
    """/channel: where the member's pushes go; with a channel's name, move them there."""
    assert call.actor is not None
    if call.args:
        choice = call.args[0].lower()
        if choice not in CHANNELS:
            raise Invalid("channel.unknown")
        await _choose_channel(call, choice)
        return
    async with call.deps.db.read() as session:
        current, bound = await accounts.channels(session, call.actor.member_id)
    rows = [[(channel_name(call, c), f"chan:set:{CHANNELS.index(c)}") for c in bound]]
    await call.reply(
        call.t(
            "channel.current",
            channel=channel_name(call, current),
            bound="、".join(channel_name(call, c) for c in bound),
        )
        + "\n"
        + call.t("channel.choose"),
        buttons(rows) if len(bound) > 1 else None,
    )


async def _choose_channel(call: Call, choice: str) -> None:
    assert call.actor is not None
    try:
        async with call.deps.db.write() as session:
            await accounts.choose_for(session, call.actor.member_id, choice)
    except Denied as exc:
        # The channel's name in the reader's language, not its key.
        raise Denied(exc.key, channel=channel_name(call, choice)) from None
    await call.reply(call.t("channel.set", channel=channel_name(call, choice)))


async def channel_button(call: Call) -> str | None:
    verb, number = callback_id(call, "chan")
    if verb != "set" or not 0 <= number < len(CHANNELS):
        raise Denied("not_your_button")
    await _choose_channel(call, CHANNELS[number])
    return None


# A link code is for the member themselves, at hand: it lasts a day, not an invite's weeks.
LINK_HOURS = 24


async def link(call: Call) -> None:
    """/link: a one-time code that binds the caller on another channel too."""
    assert call.actor is not None
    config = call.deps.config
    if not (config.telegram.token and config.feishu.enabled):
        # One messenger only: there is no other account to link.
        await call.reply(call.t("channel.only_one"))
        return
    async with call.deps.db.write() as session:
        code = invites.issue_link_code(session, call.actor.member_id, LINK_HOURS).code
        await session.commit()
    username = call.context.bot.username
    await call.reply(
        call.t(
            "link.code",
            code=code,
            hours=LINK_HOURS,
            link=invites.deep_link(username, code),
        )
    )


async def me(call: Call) -> None:
    assert call.actor is not None
    card = await profile.my_card(call.deps.db, call.deps.push, call.actor, call.deps.now())
    view, attendance, served = card.record, card.attendance, card.minutes
    none = call.t("none")
    s, r = card.counts.study, card.counts.reminders
    # Only committee members get the line: "支委：否" on every other card would be noise.
    committee = "\n" + call.t("me.committee") if view.committee else ""
    await call.reply(
        call.t(
            "me.card",
            id=view.id,
            name=view.name,
            branch=view.branch or none,
            group=view.group or none,
            role=call.t(f"role.{view.role.value}"),
            phone=view.phone or none,
            language=call.lang,
            bound_at=call.local(view.bound_at) if view.bound_at else none,
        )
        + committee
        + "\n"
        + call.t("me.counts", s0=s[0], s1=s[1], s2=s[2], r0=r[0], r1=r[1], r2=r[2])
        + "\n"
        + call.t(
            "me.attendance",
            invited=attendance.invited,
            attended=attendance.attended,
            late=attendance.late,
            leave=attendance.leave,
            absent=attendance.absent,
            made_up=attendance.made_up,
        )
        + "\n"
        + call.t(
            "me.hours",
            m=volunteers.hours_text(served[0]),
            q=volunteers.hours_text(served[1]),
            y=volunteers.hours_text(served[2]),
        )
        + "\n"
        + _dues_line(call, card.dues)
        + "\n"
        + call.t("me.tasks", open=card.open_tasks, overdue=card.overdue_tasks)
    )


def _dues_line(call: Call, mine: dues.MyDues) -> str:
    if not mine.amount:
        return call.t("me.dues_none")
    return call.t(
        "me.dues",
        month=dues.month_label(call.lang, mine.month),
        amount=money.amount_text(mine.amount),
        status=call.t(f"me.dues_status_{mine.status or 'none'}"),
    )


async def lang(call: Call) -> None:
    assert call.actor is not None
    if not call.args:
        await call.reply(
            call.t("lang.choose"),
            keyboard(call.lang, [[("lang.name_zh", "lang:set:0"), ("lang.name_en", "lang:set:1")]]),
        )
        return
    await _set_language(call, call.args[0].lower())


async def _set_language(call: Call, language: str) -> None:
    assert call.actor is not None
    async with call.deps.db.write() as session:
        call.lang = await members.set_language(session, call.actor, language)
    await call.reply(call.t("lang.set"))
    call.actor = replace(call.actor, language=call.lang)
    await set_own_menu(call)


async def lang_button(call: Call) -> str | None:
    query = call.update.callback_query
    choice = {"lang:set:0": "zh", "lang:set:1": "en"}.get(query.data or "" if query else "")
    if choice is None:
        raise Denied("not_your_button")
    await _set_language(call, choice)
    return None


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", guarded(deps, "start", start), filters=private))
    app.add_handler(CommandHandler("help", guarded(deps, "help", help_command), filters=private))
    app.add_handler(CommandHandler("me", guarded(deps, "me", me), filters=private))
    app.add_handler(CommandHandler("lang", guarded(deps, "lang", lang), filters=private))
    app.add_handler(CommandHandler("channel", guarded(deps, "channel", channel), filters=private))
    app.add_handler(CommandHandler("link", guarded(deps, "link", link), filters=private))
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "channel", channel_button), pattern=r"^chan:")
    )
    app.add_handler(
        CallbackQueryHandler(guarded_button(deps, "lang", lang_button), pattern=r"^lang:")
    )
