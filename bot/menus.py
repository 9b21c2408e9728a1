"""Telegram's command menus and the bot's profile texts.

Each member has a menu of their own (a chat scope) in their language: members see the member
commands, group leaders and secretaries theirs, admins all, all read from the command table
that /help reads (`bot.auth.menu_commands`). Strangers see the default scope: /start and /help,
in Chinese, and in English for clients set to English. A deactivated member's scope is deleted,
so they see the default again.

A menu is a convenience: it is set after the commit that changed what the member may do
(joining, /setrole, /lang, a roster import), and a failure is logged at WARNING and changes
nothing else. The description and short description are set at start-up, only where they
differ from what Telegram has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import ColumnElement, select
from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.auth import Access, Actor, access_of, access_of_role, menu_commands
from bot.channels.address import is_alias
from bot.config import Config
from bot.texts import plain, t
from storage.db import Database
from storage.models import Member

log = logging.getLogger(__name__)

# The default scope's languages: Chinese for every client, English for clients set to English.
DEFAULT_LANGUAGES: tuple[tuple[str, str | None], ...] = (("zh", None), ("en", "en"))
# A flood wait longer than this is not waited for: the menu stays as it was. Work in the
# background (start-up, a roster import) waits; a handler answering a member passes 0, so a
# flood never holds the member's lane (and a worker) after the answer has gone.
MAX_WAIT_SECONDS = 30
# Ids per query when reading many members' menus.
_CHUNK = 500


@dataclass(frozen=True)
class Menu:
    """What one private chat's menu should be. PUBLIC: none of its own (the default shows)."""

    chat_id: int
    access: Access
    language: str


def menu_of(actor: Actor | None, chat_id: int, default_language: str) -> Menu:
    if actor is None:
        return Menu(chat_id, Access.PUBLIC, default_language)
    return Menu(chat_id, access_of(actor), actor.language)


def bot_commands(access: Access, language: str) -> list[BotCommand]:
    return [BotCommand(c.name, plain(t(language, f"menu.{c.name}"))) for c in menu_commands(access)]


async def _send(bot: Bot, menu: Menu) -> None:
    scope = BotCommandScopeChat(menu.chat_id)
    if menu.access is Access.PUBLIC:
        await bot.delete_my_commands(scope=scope)
    else:
        await bot.set_my_commands(bot_commands(menu.access, menu.language), scope=scope)


async def apply(bot: Bot, menus: Sequence[Menu], *, max_wait: float = MAX_WAIT_SECONDS) -> int:
    """Set (or delete) each chat's menu; returns how many were set. Never raises."""
    done = 0
    for index, menu in enumerate(menus):
        if is_alias(menu.chat_id):
            # Another channel's person: Telegram's command menu means nothing there.
            continue
        try:
            try:
                await _send(bot, menu)
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait.total_seconds() if not isinstance(wait, int) else wait
                if seconds > max_wait:
                    raise
                await asyncio.sleep(seconds)
                await _send(bot, menu)
            done += 1
        except Exception as exc:
            log.warning("could not set the command menu of chat %s: %s", menu.chat_id, exc)
            if _unreachable(exc):
                # Telegram cannot be reached: the others would wait as long for nothing.
                if len(menus) > index + 1:
                    log.warning("left %s command menus as they were", len(menus) - index - 1)
                break
    return done


async def _menus_where(
    db: Database, condition: ColumnElement[bool], default_language: str
) -> list[Menu]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Member.telegram_user_id, Member.role, Member.active, Member.language).where(
                    condition, Member.telegram_user_id.is_not(None)
                )
            )
        ).all()
    return [
        Menu(
            user_id,
            access_of_role(role) if active else Access.PUBLIC,
            language or default_language,
        )
        for user_id, role, active, language in rows
        if user_id is not None
    ]


async def refresh_members(
    db: Database,
    bot: Bot,
    member_ids: Collection[int],
    default_language: str,
    *,
    max_wait: float = MAX_WAIT_SECONDS,
) -> int:
    """Set the menus of these members (those bound to an account) as the database has them
    now: by role and language, or none for a deactivated member. Never raises."""
    ids = sorted(set(member_ids))
    menus: list[Menu] = []
    try:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            menus += await _menus_where(db, Member.id.in_(chunk), default_language)
    except Exception as exc:
        log.warning("could not read the members whose command menus changed: %s", exc)
        return 0
    return await apply(bot, menus, max_wait=max_wait)


async def set_up(bot: Bot, config: Config, db: Database) -> None:
    """At start-up: the strangers' default menu, the profile texts where Telegram's differ, and
    the configured admins' own menus (start-up may just have made them admins). Never raises."""
    org = config.organisation.name
    for language, code in DEFAULT_LANGUAGES:
        for what, work in (
            ("the default command menu", partial(_default_menu, bot, language, code)),
            ("the bot's description", partial(_profile, bot, language, code, org)),
        ):
            try:
                await work()
            except Exception as exc:
                log.warning("could not set %s (%s): %s", what, language, exc)
                if _unreachable(exc):
                    return
    admins = config.organisation.admins
    if admins:
        try:
            menus = await _menus_where(
                db, Member.telegram_user_id.in_(list(admins)), config.organisation.language
            )
        except Exception as exc:
            log.warning("could not read the admins for their command menus: %s", exc)
            return
        await apply(bot, menus)


def _unreachable(exc: Exception) -> bool:
    """Telegram did not answer (BadRequest and Forbidden are NetworkErrors too, but answers)."""
    return isinstance(exc, TimedOut) or type(exc) is NetworkError


async def _default_menu(bot: Bot, language: str, code: str | None) -> None:
    await bot.set_my_commands(
        bot_commands(Access.PUBLIC, language), scope=BotCommandScopeDefault(), language_code=code
    )


async def _profile(bot: Bot, language: str, code: str | None, org: str) -> None:
    # Telegram's limits: 512 and 120 characters (a long organisation name is cut).
    description = plain(t(language, "about.description", org=org))[:512]
    if (await bot.get_my_description(language_code=code)).description != description:
        await bot.set_my_description(description, language_code=code)
    short = plain(t(language, "about.short_description", org=org))[:120]
    if (await bot.get_my_short_description(language_code=code)).short_description != short:
        await bot.set_my_short_description(short, language_code=code)
