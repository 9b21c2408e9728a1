"""Engine and session factories. Nothing here connects until it is used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 5000
_READ_ONLY = "branchbot_read_only"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" hook below issue BEGIN itself; the driver's implicit,
    # deferred BEGIN would fail at once with SQLITE_BUSY when a read upgrades to a write.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the lock up front so they queue on the busy timeout instead of failing;
    # readers use a deferred BEGIN so WAL lets them run beside a writer.
    read_only = conn.get_execution_options().get(_READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """Owns one engine and hands out sessions: `write()` for use cases, `read()` for lookups."""

    def __init__(self, url: str, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine_kwargs = engine_kwargs
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **engine_kwargs)
        if is_sqlite(url):
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session for one use case; the service commits, anything unfinished rolls back."""
        async with self._writer() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def reopen(self) -> Database:
        """Another engine on the same database, as a second process would have."""
        return Database(self.url, **self.engine_kwargs)

    async def dispose(self) -> None:
        await self.engine.dispose()
