"""SQLite statements run on the event loop's own thread, with waits for the file lock made
asynchronous.

aiosqlite runs every call (each statement, fetch, commit) on a thread of its own and hands the
result back to the loop: two thread switches per call, about 40 per update. A statement on the
small, indexed tables of one update takes microseconds, so the hand-offs cost more than the work.
This connection runs each call inline. What could block is waiting for another process's write
lock: the SQLite busy timeout is kept short (BUSY_WAIT_MS), and a call that still finds the file
locked is retried after an `asyncio.sleep`, so the loop keeps serving while another process (a
command-line import, a background worker, a standby instance) holds the lock. Writers of this
process never meet each other here: they queue on `Database.write()`'s gate first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

# How long one attempt may wait on the loop for the lock before yielding to other work.
BUSY_WAIT_MS = 20
# How long a call keeps trying before "database is locked" is raised.
BUSY_GIVE_UP_SECONDS = 30.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "database is locked" in str(exc) or "database is busy" in str(exc)


async def patiently(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a sqlite3 call on this thread; while another process holds the lock, try again after
    asynchronous pauses, up to BUSY_GIVE_UP_SECONDS."""
    deadline = 0.0
    pause = 0.005
    while True:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            # A statement that failed with SQLITE_BUSY changed nothing: trying it again is
            # what the busy handler itself would do.
            if not _busy(exc):
                raise
            now = time.monotonic()
            deadline = deadline or now + BUSY_GIVE_UP_SECONDS
            if now >= deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread (SQLAlchemy's adapter puts a call on
    it directly to set the isolation level): runs the call and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is None:
                raise
            future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class LoopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread (no worker thread)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    async def _connect(self) -> LoopConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return await patiently(fn, *args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def connect(database: str) -> LoopConnection:
    connector = partial(sqlite3.connect, database, isolation_level=None, check_same_thread=False)
    connection = LoopConnection(connector, iter_chunk_size=64)
    await connection._connect()
    return connection
