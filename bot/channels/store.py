"""What the channels other than Telegram keep in the database: who an alias is (contacts) and
which of their messages an integer message id stands for (channel_messages).

Every write here runs detached from the update being handled: these rows are facts about the
messenger, not effects of the update, and must not commit as part of it (the inbound path's
commit guard marks an update done with its first commit)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.channels.address import alias
from storage.db import Database
from storage.models import ChannelMessage, Contact

T = TypeVar("T")
log = logging.getLogger(__name__)
RECENT_MESSAGES = 10_000
SAVE_ATTEMPTS = 3
# A sent message: its id on the channel, its chat, its content as last sent.
MessageRecord = tuple[str, int, dict[str, Any]]
NameOf = Callable[[str], Awaitable[str | None]]


async def detached(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` outside the current update's context (see the module's docstring)."""
    return await asyncio.get_running_loop().create_task(work, context=contextvars.Context())


def message_number(external_id: str) -> int:
    """The integer the core knows another channel's message by (48 bits of a hash)."""
    return int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:6], "big") + 1


class AliasCollision(Exception):
    """Two people of one channel whose ids give the same alias (bot.channels.address)."""


class ChannelStore:
    def __init__(self, db: Database, channel: str) -> None:
        self.db = db
        self.channel = channel
        # Aliases never change meaning: a cache needs no invalidation.
        self._external: dict[int, str] = {}
        self._names: dict[int, str] = {}
        # Messages sent lately, newest last: an edit right after a send needs no read, and
        # finds the message before its record is written.
        self._recent: dict[int, MessageRecord] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def remember(self, external_id: str, name_of: NameOf | None = None) -> int:
        """The alias of this person, kept in contacts from their first message on (with their
        name, asked of `name_of` once)."""
        chat_id = alias(self.channel, external_id)
        known = self._external.get(chat_id)
        if known == external_id:
            return chat_id
        if known is not None:
            raise AliasCollision(f"{self.channel} ids {known} and {external_id}")
        async with self.db.read() as session:
            found = await session.get(Contact, chat_id)
        if found is not None and found.external_id != external_id:
            # Two ids with the same 48-bit hash: refuse rather than let one act as the other.
            raise AliasCollision(f"{self.channel} ids {found.external_id} and {external_id}")
        name = found.name if found is not None else ""
        if not name and name_of is not None:
            # Someone kept before their first message (an admin from the config) is asked too.
            name = await name_of(external_id) or ""
        if found is None or name != found.name:
            await detached(self._remember(chat_id, external_id, name))
        self._external[chat_id] = external_id
        self._names[chat_id] = name
        return chat_id

    def name(self, chat_id: int) -> str:
        """Their name as remembered ("" when the channel would not say)."""
        return self._names.get(chat_id, "")

    async def _remember(self, chat_id: int, external_id: str, name: str) -> None:
        async with self.db.write() as session:
            found = await session.get(Contact, chat_id)
            if found is not None:
                found.name = name[:100]
                await session.commit()
                return
            session.add(
                Contact(
                    chat_id=chat_id, channel=self.channel, external_id=external_id, name=name[:100]
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                # Another instance kept them a moment ago.
                await session.rollback()

    async def external_id(self, chat_id: int) -> str | None:
        if chat_id in self._external:
            return self._external[chat_id]
        async with self.db.read() as session:
            found = await session.scalar(
                select(Contact.external_id).where(Contact.chat_id == chat_id)
            )
        if found is not None:
            self._external[chat_id] = found
        return found

    async def save_message(self, external_id: str, chat_id: int, content: dict[str, Any]) -> int:
        """Keep what a sent message is, for edits: at once in memory, and in the database in
        the background. Not awaited: a handler may send while it holds SQLite's write gate
        (inside a write session), where waiting for another write would never end. Writes of
        one message land in the order they were made."""
        number = message_number(external_id)
        entry = (external_id, chat_id, content)
        self._recent.pop(number, None)
        self._recent[number] = entry
        while len(self._recent) > RECENT_MESSAGES:
            self._recent.pop(next(iter(self._recent)))
        previous = self._pending.get(number)
        task = asyncio.get_running_loop().create_task(
            self._save_after(previous, number, entry), context=contextvars.Context()
        )
        self._pending[number] = task
        self._writes.add(task)
        task.add_done_callback(self._written)
        return number

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("could not keep a sent message's record", exc_info=error)

    async def flush(self) -> None:
        """Wait for the records still being written (at shutdown, and in tests)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _save_after(
        self, previous: asyncio.Task[None] | None, number: int, entry: MessageRecord
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            for attempt in range(SAVE_ATTEMPTS):
                try:
                    await self._save(number, *entry)
                    return
                except IntegrityError:
                    # Another instance wrote it first: the next attempt updates its row.
                    if attempt == SAVE_ATTEMPTS - 1:
                        raise
        finally:
            # Written (or given up): other instances may edit it too, so the database speaks.
            if self._recent.get(number) is entry:
                del self._recent[number]
            if self._pending.get(number) is asyncio.current_task():
                del self._pending[number]

    async def _save(
        self, number: int, external_id: str, chat_id: int, content: dict[str, Any]
    ) -> None:
        text = json.dumps(content, ensure_ascii=False)
        async with self.db.write() as session:
            row = await session.get(ChannelMessage, number)
            if row is None:
                session.add(
                    ChannelMessage(
                        message_id=number,
                        channel=self.channel,
                        external_id=external_id,
                        chat_id=chat_id,
                        content=text,
                    )
                )
            else:
                row.content = text
            await session.commit()

    async def message(self, number: int) -> tuple[str, int, dict[str, Any]] | None:
        """A sent message's id on the channel, its chat and its content as last sent."""
        recent = self._recent.get(number)
        if recent is not None:
            return recent
        async with self.db.read() as session:
            row = await session.get(ChannelMessage, number)
        if row is None:
            return None
        return row.external_id, row.chat_id, json.loads(row.content or "{}")
