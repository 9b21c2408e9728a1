"""The inbound path: what members send is kept before Telegram is told it arrived, handled
concurrently across chats and in order within one chat, and applied exactly once.

- `Inbox` writes the inbox table. Concurrent callers share one transaction (group commit): the
  webhook's 40 connections, or one page of getUpdates, cost one commit, not one each.
- `Inbound` is the entry: `receive()` makes updates durable and queues the new ones for the
  application; a copy of an update already in the inbox is dropped there. `recover()` takes
  back updates whose handling a crash interrupted (the lease ran out).
- `MemberLanes` is python-telegram-bot's update processor: one lane per chat (updates of one chat
  in order), a bounded number of lanes at work at once, and a per-member token bucket in front,
  so one member flooding fills only their own lane.
- Exactly once: while an update is handled, every write session's commit first marks the
  update done in the same transaction (`storage.fast.commit_guard`). A second attempt at the same
  update (a copy handled by another instance, or a retry after a crash) finds it done by
  another attempt and its transaction is rolled back (`AlreadyApplied`). An update whose handler
  wrote nothing is marked done afterwards, batched.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from sqlalchemy import bindparam, or_, update
from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.logs import update_id as logged_update
from bot.metrics import NO_METRICS, UpdateMetrics
from bot.services import updates as inbox_rows
from storage.db import Database
from storage.fast import Prepared, Tx, commit_guard
from storage.models import InboxUpdate, utcnow

log = logging.getLogger(__name__)


class AlreadyApplied(Exception):
    """Another attempt already applied this update: this attempt's transaction must not commit."""

    def __init__(self, update_id: int) -> None:
        super().__init__(f"update {update_id} was already applied")
        self.update_id = update_id


def lane_of(update: Update) -> int | None:
    """Updates of one chat keep their order; a chatless update (an inline query) goes by user."""
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    user = update.effective_user
    return user.id if user is not None else None


@dataclass
class _Waiting:
    payloads: Sequence[dict[str, Any]] = ()
    finished: int | None = None
    future: asyncio.Future[list[bool]] = field(default_factory=asyncio.Future)


class Inbox:
    """Group-committed writes to the inbox: admissions and "done" marks of concurrent callers
    share a transaction; while one commits, the next batch gathers."""

    # SQLite may still find the file locked by another process past its busy timeout.
    RETRIES = 5

    def __init__(
        self, db: Database, lease_seconds: float, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def admit(self, payloads: Sequence[dict[str, Any]]) -> list[bool]:
        """Keep these updates; for each, True when it is new (and now durable, leased to this
        process), False when the inbox already had it."""
        if not payloads:
            return []
        return await self._submit(_Waiting(payloads=payloads))

    async def finish(self, update_id: int) -> None:
        """Mark an update done whose handling wrote nothing (or that was dropped)."""
        await self._submit(_Waiting(finished=update_id))

    async def _submit(self, waiting: _Waiting) -> list[bool]:
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flush must not run the commit guard of the update that
            # happened to start it.
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="inbox-flush", context=contextvars.Context()
            )
        return await waiting.future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._write(batch)
            except Exception as exc:
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)

    async def _write(self, batch: list[_Waiting]) -> list[list[bool]]:
        for attempt in range(self.RETRIES):
            try:
                return await self._write_once(batch)
            # SQLAlchemy's error from a write session; sqlite3's own from the prepared
            # statements' connection (storage.fast).
            except (OperationalError, sqlite3.OperationalError) as exc:
                if "locked" not in str(exc) or attempt == self.RETRIES - 1:
                    raise
                log.warning("the database is locked by another process; retrying")
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _write_once(self, batch: list[_Waiting]) -> list[list[bool]]:
        now = self.clock()
        rows: dict[int, dict[str, Any]] = {}
        for waiting in batch:
            for data in waiting.payloads:
                rows.setdefault(int(data["update_id"]), data)
        finished = [w.finished for w in batch if w.finished is not None]
        if self.db.prepared_on_driver:
            async with self.db.transaction() as tx:
                fresh = await inbox_rows.admit(tx, list(rows.values()), now, now + self.lease)
                if finished:
                    await inbox_rows.finish(tx, finished, now)
                await tx.commit()
        else:
            async with self.db.write() as session:
                fresh = await inbox_rows.admit(session, list(rows.values()), now, now + self.lease)
                if finished:
                    await inbox_rows.finish(session, finished, now)
                await session.commit()
        results: list[list[bool]] = []
        for waiting in batch:
            flags = []
            for data in waiting.payloads:
                update_id = int(data["update_id"])
                # Two copies in one batch: the first is new, the second a repeat.
                flags.append(update_id in fresh)
                fresh.discard(update_id)
            results.append(flags)
        return results

    async def reclaim(self, skip: set[int], limit: int = 500) -> list[dict[str, Any]]:
        """Updates whose handling was interrupted (their lease ran out), leased again to this
        process, oldest first."""
        now = self.clock()
        async with self.db.write() as session:
            found = await inbox_rows.reclaim(session, now, now + self.lease, skip, limit)
            await session.commit()
        return found


_inbox = InboxUpdate.metadata.tables[InboxUpdate.__tablename__]
# Run in the transaction of an update's first commit: it is done, by this attempt.
_MARK_DONE = Prepared(
    update(_inbox)
    .where(
        _inbox.c.update_id == bindparam("of_update"),
        or_(_inbox.c.done_at.is_(None), _inbox.c.attempt == bindparam("token")),
    )
    .values(done_at=bindparam("at"), attempt=bindparam("token"))
)


class Attempt:
    """One handling of one update: its commits mark the update done, once."""

    def __init__(self, update_id: int, clock: Callable[[], datetime]) -> None:
        self.update_id = update_id
        self.token = secrets.token_hex(8)
        self.clock = clock
        self.marked = False

    async def guard(self, tx: Tx) -> None:
        if self.marked:
            return
        changed = await tx.run(
            _MARK_DONE, {"of_update": self.update_id, "token": self.token, "at": self.clock()}
        )
        if changed != 1:
            raise AlreadyApplied(self.update_id)
        self.marked = True


# The attempt handling the current update, when it came through the inbound path.
current_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "current_attempt", default=None
)


@dataclass(frozen=True)
class FairnessSettings:
    # A member may send `burst` updates at once, then `per_minute` a minute.
    burst: int = 20
    per_minute: int = 60
    # Someone who has not joined gets less.
    stranger_burst: int = 5
    stranger_per_minute: int = 10


class Fairness:
    """A token bucket per member (aiolimiter's leaky bucket, used without waiting): an update
    over the limit is dropped, and the member hears so once until they slow down."""

    KEEP = 10_000

    def __init__(self, settings: FairnessSettings) -> None:
        self.settings = settings
        self._buckets: dict[tuple[bool, int], AsyncLimiter] = {}
        self._told: set[tuple[bool, int]] = set()

    def _bucket(self, key: tuple[bool, int]) -> AsyncLimiter:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.KEEP:
                self._forget_idle()
            s = self.settings
            burst, per_minute = (
                (s.stranger_burst, s.stranger_per_minute) if key[0] else (s.burst, s.per_minute)
            )
            bucket = AsyncLimiter(burst, burst * 60 / per_minute)
            self._buckets[key] = bucket
        return bucket

    def _forget_idle(self) -> None:
        # A full bucket holds nothing worth remembering.
        for key in [k for k, b in self._buckets.items() if b.has_capacity(b.max_rate)]:
            del self._buckets[key]
            self._told.discard(key)

    async def take(self, user_id: int, *, stranger: bool = False) -> tuple[bool, bool]:
        """(allowed, tell): whether this update may go on, and whether to tell the sender to
        slow down (only the first refusal of a flood)."""
        key = (stranger, user_id)
        bucket = self._bucket(key)
        if bucket.has_capacity():
            # Returns at once: there is capacity, and nothing runs in between.
            await bucket.acquire()
            self._told.discard(key)
            return True, False
        if key in self._told:
            return False, False
        self._told.add(key)
        return False, True


class MemberLanes(BaseUpdateProcessor):
    """python-telegram-bot's update processor: per-chat order, bounded concurrency, fairness."""

    # python-telegram-bot's own bound counts updates waiting in lanes too; ours (`concurrency`)
    # counts the lanes at work, so a member's queued updates never hold a worker.
    WAITING_LIMIT = 100_000

    def __init__(self, inbound: Inbound, concurrency: int) -> None:
        super().__init__(self.WAITING_LIMIT)
        self.inbound = inbound
        self.concurrency = concurrency
        self._workers = asyncio.Semaphore(concurrency)
        self._lanes: dict[int | None, tuple[asyncio.Lock, list[int]]] = {}

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        user = update.effective_user
        if user is not None:
            allowed, tell = await self.inbound.fairness.take(user.id)
            if not allowed:
                if isinstance(coroutine, Coroutine):
                    coroutine.close()
                await self.inbound.dropped(update, tell=tell)
                return
        key = lane_of(update)
        lock, users = self._lanes.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            # The lane first, then a worker: a long lane holds one worker, not all of them.
            async with lock, self._workers:
                await self.inbound.handle(update, coroutine)
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._lanes[key]


class Inbound:
    """Receives updates (webhook or polling), keeps them, and hands new ones to the application."""

    def __init__(self, inbox: Inbox, fairness: Fairness) -> None:
        self.inbox = inbox
        self.fairness = fairness
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.bot: Any = None
        # Updates this process has queued and not finished: recovery leaves them alone.
        self.in_flight: set[int] = set()
        self.background: set[asyncio.Task[None]] = set()

    def attach(self, application: Any) -> None:
        """Feed this application's queue; tell flooding members through its bot."""
        self.queue = application.update_queue
        self.bot = application.bot

    async def tell_to_wait(self, update: Update, *, tell: bool) -> None:
        """A refused button press always gets the notice as its answer (or it would spin); a
        refused message only when `tell` (the first of a flood)."""
        text = self.flood_text
        if update.callback_query is not None:
            await self.bot.answer_callback_query(update.callback_query.id, text)
        elif tell and update.effective_chat is not None:
            await self.bot.send_message(update.effective_chat.id, text)

    # Plain text (also a callback answer); set by the composition root in the default language.
    flood_text = "请稍后再试。"
    # Counts and times each handled update (bot.metrics); set by the composition root.
    metrics: UpdateMetrics = NO_METRICS

    async def run(self, stop: asyncio.Event, every: float) -> None:
        """Take back interrupted updates now and every `every` seconds; prune old records."""
        rounds = 0
        while not stop.is_set():
            try:
                await self.recover()
                if rounds % 100 == 0:
                    async with self.inbox.db.write() as session:
                        await inbox_rows.prune(session)
            except Exception:
                log.exception("inbox recovery failed; trying again")
            rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def receive(
        self, payloads: Sequence[dict[str, Any]], parsed: Sequence[Update] = ()
    ) -> int:
        """Keep the updates, then queue the new ones; returns how many were new. Raises when
        they could not be kept: the caller must not acknowledge them. `parsed`: the same
        updates already read (the webhook reads each to check it), in the same order."""
        updates = list(parsed) or [Update.de_json(data, self.bot) for data in payloads]
        fresh = await self.inbox.admit(payloads)
        for upd, new in zip(updates, fresh, strict=True):
            if new:
                self.in_flight.add(upd.update_id)
                await self.queue.put(upd)
            else:
                log.info("dropping update %s: already received", upd.update_id)
        return sum(fresh)

    async def recover(self) -> int:
        """Queue again what a crashed process (this one before a restart, or another instance)
        received but did not finish."""
        found = await self.inbox.reclaim(set(self.in_flight))
        for data in found:
            try:
                upd = Update.de_json(data, self.bot)
            except Exception:
                log.exception("inbox update %s cannot be read; marking it done", data["update_id"])
                await self.inbox.finish(int(data["update_id"]))
                continue
            log.warning("handling update %s again: its handling was interrupted", upd.update_id)
            self.in_flight.add(upd.update_id)
            await self.queue.put(upd)
        return len(found)

    async def handle(self, update: Update, coroutine: Awaitable[Any]) -> None:
        attempt = Attempt(update.update_id, self.inbox.clock)
        attempt_token = current_attempt.set(attempt)
        # Every log line written while it is handled names it (bot.logs).
        logged_token = logged_update.set(update.update_id)
        guard_token = commit_guard.set(attempt.guard)
        started = self.metrics.now()
        try:
            await coroutine
        finally:
            self.metrics.observe_update(update, started)
            commit_guard.reset(guard_token)
            current_attempt.reset(attempt_token)
            try:
                if not attempt.marked:
                    await self.inbox.finish(update.update_id)
            except Exception:
                # Left pending: it is handled again once its lease runs out.
                log.exception("could not mark update %s done", update.update_id)
            self.in_flight.discard(update.update_id)
            logged_update.reset(logged_token)

    async def dropped(self, update: Update, *, tell: bool) -> None:
        log.info("dropping update %s: its sender is over the rate limit", update.update_id)
        if self.bot is not None:
            self._spawn(self.tell_to_wait(update, tell=tell))
        try:
            await self.inbox.finish(update.update_id)
        finally:
            self.in_flight.discard(update.update_id)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("could not tell a member to slow down")

        task = asyncio.get_running_loop().create_task(run(), context=contextvars.Context())
        self.background.add(task)
        task.add_done_callback(self.background.discard)


class Poller:
    """getUpdates, acknowledging an update (the next call's offset) only once it is kept.

    python-telegram-bot's Updater moves the offset on as soon as updates are fetched, so a crash
    before they were handled loses them."""

    TIMEOUT = 30

    def __init__(self, bot: Any, inbound: Inbound) -> None:
        self.bot = bot
        self.inbound = inbound

    async def run(self, stop: asyncio.Event) -> None:
        offset: int | None = None
        failures = 0
        while not stop.is_set():
            try:
                got = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.TIMEOUT,
                    read_timeout=self.TIMEOUT + 10,
                    allowed_updates=Update.ALL_TYPES,
                )
                if got:
                    await self.inbound.receive([u.to_dict() for u in got])
                    offset = got[-1].update_id + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not kept, so not acknowledged: the same updates come again.
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("polling failed (%s); again in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
