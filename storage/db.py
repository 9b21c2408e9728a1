"""Engine and session factories. Nothing here connects until it is used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from storage.fast import (
    AsyncpgStatements,
    AsyncpgTx,
    Prepared,
    SessionTx,
    SqliteStatements,
    SqliteTx,
    Tx,
    begin,
    commit_guard,
)
from storage.sqlite_loop import BUSY_WAIT_MS
from storage.sqlite_loop import connect as connect_on_loop

# Statements run on the event loop (storage.sqlite_loop): one may wait this long for another
# process's lock before the wait goes on asynchronously. Writers of this process queue on the
# write gate instead (see Database.write).
SQLITE_BUSY_TIMEOUT_MS = BUSY_WAIT_MS
_READ_ONLY = "branchbot_read_only"


class GuardedSession(AsyncSession):
    """An AsyncSession whose commit runs the context's commit guard first."""

    async def commit(self) -> None:
        guard = commit_guard.get()
        if guard is not None:
            await guard(SessionTx(self))
        await super().commit()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry | None) -> None:
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

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 0, **engine_kwargs: Any
    ) -> None:
        self.url = url
        self.engine_kwargs = dict(engine_kwargs)
        if pool_size > 0:
            # Sized to the updates handled at once, plus room for the scheduler, the sender,
            # background work and the dashboard.
            engine_kwargs.setdefault("pool_size", pool_size)
            engine_kwargs.setdefault("max_overflow", max(8, pool_size // 2))
        self.pool_size = pool_size
        if is_sqlite(url):
            path = make_url(url).database or ":memory:"
            engine_kwargs.setdefault("async_creator", partial(connect_on_loop, path))
        # A database error's message would quote the statement's values (what a member wrote,
        # a message to them) into the log; the statement itself is still shown.
        engine_kwargs.setdefault("hide_parameters", True)
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **engine_kwargs)
        # Prepared statements on the driver's own connections (storage.fast): SQLite files only;
        # a second connection to an in-memory database would open another, empty one.
        self._statements: SqliteStatements | None = None
        self._asyncpg: AsyncpgStatements | None = None
        if self.engine.dialect.driver == "asyncpg":
            self._asyncpg = AsyncpgStatements(self.engine)
        if is_sqlite(url):
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
            if path not in ("", ":memory:") and "mode=memory" not in url:
                self._statements = SqliteStatements(
                    path, self.engine.dialect, partial(_sqlite_on_connect, _record=None)
                )
        # SQLite has one writer. Writers of this process wait here, in order, instead of each
        # holding a pooled connection and polling the file lock (the busy handler sleeps, and
        # gives up with "database is locked"); readers never wait for it (WAL).
        self._write_gate: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._gate_owner: asyncio.Task[Any] | None = None
        self._writer = async_sessionmaker(
            self.engine, class_=GuardedSession, expire_on_commit=False
        )
        self._lookup_engine = self.engine.execution_options(**{_READ_ONLY: True})
        self._reader = async_sessionmaker(self._lookup_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session for one use case; the service commits, anything unfinished rolls back."""
        if not self.is_sqlite:
            async with self._writer() as session:
                yield session
            return
        async with self._gated(), self._writer() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A transaction for prepared statements (storage.fast): on a SQLite file, on their
        own writer connection, behind the same gate as write sessions; on asyncpg, on its own
        connection; else a write session. The service commits; anything uncommitted rolls
        back."""
        if self._statements is not None:
            async with self._gated():
                await begin(self._statements)
                tx = SqliteTx(self._statements, commit_guard.get())
                try:
                    yield tx
                finally:
                    tx.rollback()
            return
        if self._asyncpg is not None:
            async with self._asyncpg.connection() as (conn, driver):
                transaction = driver.transaction()
                await transaction.start()
                pg_tx = AsyncpgTx(self._asyncpg, driver, transaction, commit_guard.get())
                try:
                    yield pg_tx
                finally:
                    if not pg_tx.finished:
                        try:
                            await transaction.rollback()
                        except BaseException:
                            # Never hand the pool a connection left inside a transaction.
                            await conn.invalidate()
                            raise
            return
        async with self.write() as session:
            yield SessionTx(session)

    async def first(self, query: Prepared, params: Mapping[str, Any]) -> Any | None:
        """One read of a prepared statement, in a snapshot of its own; its first row."""
        rows = await self.all(query, params)
        return rows[0] if rows else None

    async def all(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        if self._statements is not None:
            return await self._statements.fetch(self._statements.reader, query, params)
        if self._asyncpg is not None:
            async with self._asyncpg.connection() as (_, driver):
                return await self._asyncpg.fetch(driver, query, params)
        async with self.lookup() as conn:
            return list(await conn.execute(query.statement, dict(params)))

    @property
    def prepared_on_driver(self) -> bool:
        """Whether prepared statements run on SQLite's own connections, where a statement
        costs microseconds (so a batch may well be a statement a row)."""
        return self._statements is not None

    def listen_to_prepared(self, listener: Callable[[str], None] | None) -> None:
        """Tell `listener` the SQL of each prepared statement run on the driver's own connections
        (for tests that count statements; the others reach SQLAlchemy's events)."""
        if self._statements is not None:
            self._statements.listener = listener
        if self._asyncpg is not None:
            self._asyncpg.listener = listener

    @asynccontextmanager
    async def _gated(self) -> AsyncIterator[None]:
        gate = self._gate()
        task = asyncio.current_task()
        if gate.locked() and self._gate_owner is task:
            # It would wait for itself forever: fail loudly instead.
            raise RuntimeError("a write session opened inside another one of the same task")
        async with gate:
            self._gate_owner = task
            try:
                yield
            finally:
                self._gate_owner = None

    def _gate(self) -> asyncio.Lock:
        # One per event loop: a command-line run may use the same Database in several loops.
        loop = asyncio.get_running_loop()
        if self._write_gate is None or self._write_gate[0] is not loop:
            self._write_gate = (loop, asyncio.Lock())
        return self._write_gate[1]

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection for one read of prebuilt Core statements on the hot path (the
        caller of every update): no ORM session to set up and tear down."""
        async with self._lookup_engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def reopen(self) -> Database:
        """Another engine on the same database, as a second process would have."""
        return Database(self.url, pool_size=self.pool_size, **self.engine_kwargs)

    async def dispose(self) -> None:
        if self._statements is not None:
            self._statements.close()
        await self.engine.dispose()
