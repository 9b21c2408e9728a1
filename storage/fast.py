"""Prepared statements: Core statements compiled by SQLAlchemy once and then run on the driver's
own connection, for the few statements that run for nearly every update (the caller lookup, a
「已学习」 press, /me).

Through SQLAlchemy's asyncio layer one small statement on SQLite costs about 200 µs of Python (a
pooled connection checked out and reset, an execution context, greenlet switches, a result
object) against 2 µs in sqlite3 itself; with four or five of them an update spent more time
there than anywhere else (docs/benchmarks.md). On SQLite, whose statements run on the event
loop's thread anyway (storage.sqlite_loop), the Database keeps two sqlite3 connections for
prepared statements: one for reads (autocommit, so each read is its own snapshot; WAL lets it run
beside the writer) and one for transactions (behind the same write gate as write sessions, and
the same commit guard). On PostgreSQL they run on asyncpg's own connection, checked out of
SQLAlchemy's pool for one read or one transaction. Values pass through the column types' own bind
and result processors, so a row reads as it would through SQLAlchemy. Anywhere else (an
in-memory SQLite database, which a second connection would not see; another driver) the same
statements run through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from storage.sqlite_loop import patiently

Processor = Callable[[Any], Any] | None
CommitGuard = Callable[["Tx"], Awaitable[None]]
# Run inside every commit of a write session or prepared-statement transaction opened while it
# is set, before the COMMIT: the inbound path uses it to record "this update is applied" in the
# same transaction as the update's own writes. Unset (None) outside update handling.
commit_guard: ContextVar[CommitGuard | None] = ContextVar("commit_guard", default=None)
_R = TypeVar("_R", bound="Reader")
_MISSING = object()


class _Computed:
    """A column's Python-side default, computed for each execution (as SQLAlchemy does)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Any], Any]) -> None:
        # SQLAlchemy's wrapper: takes the execution context, which a default made of a
        # function of no arguments ignores.
        self.make = make


class Plan:
    """One statement compiled for one dialect: its SQL, the order of its parameters with their
    processors, and how to make its rows."""

    __slots__ = ("binds", "defaults", "names", "results", "row", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = cast(
            SQLCompiler, statement.compile(dialect=dialect, column_keys=list(keys) or None)
        )
        self.sql = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Columns the statement was not given whose Python-side default (an INSERT's `default`,
        # an UPDATE's `onupdate`) SQLAlchemy would compute for each execution: their binds
        # carry no value of their own.
        computed: dict[str, Any] = {}
        for prefetch, attribute in (
            (compiled.insert_prefetch, "default"),
            (compiled.update_prefetch, "onupdate"),
        ):
            for column in prefetch:
                default = getattr(column, attribute)
                if default is None or not (default.is_scalar or default.is_callable):
                    raise ValueError(f"a prepared statement cannot compute {column.key!r}")
                computed[column.key] = (
                    _Computed(default.arg) if default.is_callable else default.arg
                )
        defaults: list[Any] = []
        binds: list[Processor] = []
        for name in self.names:
            bind = compiled.binds[name]
            if bind.expanding:
                raise ValueError(f"a prepared statement cannot expand {name!r} (an IN list)")
            if name in computed:
                defaults.append(computed[name])
            else:
                # A value written into the statement (`done + 1`) is a bind with its value set.
                defaults.append(_MISSING if bind.required else bind.effective_value)
            binds.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
        self.defaults = tuple(defaults)
        self.binds = tuple(binds)
        self.row: Callable[..., Any] | None = None
        self.results: tuple[Processor, ...] = ()
        if isinstance(statement, Select):
            columns = statement.selected_columns
            self.row = namedtuple("Row", list(columns.keys()))  # type: ignore[misc]
            self.results = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            )

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, default, process in zip(self.names, self.defaults, self.binds, strict=True):
            value = params.get(name, default)
            if value is _MISSING:
                raise KeyError(f"no value for the parameter {name!r}")
            if isinstance(value, _Computed):
                value = value.make(None)
            values.append(process(value) if process is not None else value)
        return values

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        assert self.row is not None, "not a SELECT"
        make, processors = self.row, self.results
        return [
            make(*(p(v) if p is not None else v for p, v in zip(processors, r, strict=True)))
            for r in raw
        ]


class Prepared:
    """A Core statement built once at import; compiled per dialect on first use."""

    def __init__(self, statement: Executable, keys: Sequence[str] = ()) -> None:
        # `keys`: for an INSERT without .values(), the columns that will be given.
        self.statement = statement
        self.keys = tuple(keys)
        self._plans: dict[str, Plan] = {}

    def plan(self, dialect: Dialect) -> Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            assert isinstance(self.statement, ClauseElement)
            plan = self._plans[dialect.name] = Plan(self.statement, dialect, self.keys)
        return plan


class Reader(Protocol):
    """What reads a prepared statement: the Database (outside any transaction) or a Tx."""

    async def first(self, query: Prepared, params: Mapping[str, Any]) -> Any | None: ...

    async def all(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]: ...


class Tx(Reader, Protocol):
    """One use case's transaction for prepared statements; `commit()` runs the commit guard
    first, as a write session's commit does."""

    async def run(self, query: Prepared, params: Mapping[str, Any]) -> int:
        """Run a statement; returns the rows it changed."""
        ...

    async def guard_now(self) -> None:
        """Run the commit guard now rather than at commit, so that the statements after it
        are the last before COMMIT: for a row many transactions update (a shared tally), its
        lock is then held for as little time as possible."""
        ...

    async def commit(self) -> None: ...


class SessionTx:
    """A Tx on a write session (PostgreSQL, or wherever there is no driver connection)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def run(self, query: Prepared, params: Mapping[str, Any]) -> int:
        result = await self.session.execute(query.statement, dict(params))
        return int(getattr(result, "rowcount", 0) or 0)

    async def first(self, query: Prepared, params: Mapping[str, Any]) -> Any | None:
        return (await self.session.execute(query.statement, dict(params))).first()

    async def all(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        return list(await self.session.execute(query.statement, dict(params)))

    async def guard_now(self) -> None:
        # The session's commit runs the guard again: the inbound path's guard does nothing
        # the second time.
        guard = commit_guard.get()
        if guard is not None:
            await guard(self)

    async def commit(self) -> None:
        await self.session.commit()


def reader_of(source: AsyncSession | _R) -> SessionTx | _R:
    """A Tx (or Reader) for a session a caller already has open, or the one given."""
    return SessionTx(source) if isinstance(source, AsyncSession) else source


class SqliteStatements:
    """The two sqlite3 connections that run prepared statements, opened on first use."""

    def __init__(self, path: str, dialect: Dialect, configure: Callable[[Any], None]) -> None:
        self.path = path
        self.dialect = dialect
        self._configure = configure
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        # Told each statement's SQL (tests count statements with it, as SQLAlchemy's
        # before_cursor_execute event counts the rest).
        self.listener: Callable[[str], None] | None = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._configure(conn)
        return conn

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._open()
        return self._reader

    @property
    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._open()
        return self._writer

    async def fetch(
        self, conn: sqlite3.Connection, query: Prepared, params: Mapping[str, Any]
    ) -> list[Any]:
        plan = query.plan(self.dialect)
        if self.listener is not None:
            self.listener(plan.sql)
        raw = await patiently(_fetchall, conn, plan.sql, plan.args(params))
        return plan.rows(raw)

    async def change(
        self, conn: sqlite3.Connection, query: Prepared, params: Mapping[str, Any]
    ) -> int:
        plan = query.plan(self.dialect)
        if self.listener is not None:
            self.listener(plan.sql)
        return int(await patiently(_rowcount, conn, plan.sql, plan.args(params)))

    def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None


class AsyncpgStatements:
    """Prepared statements on asyncpg's own connection, checked out of SQLAlchemy's pool for
    the statement or the transaction (asyncpg prepares and caches each statement per
    connection)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.listener: Callable[[str], None] | None = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[tuple[AsyncConnection, Any]]:
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield conn, raw.driver_connection

    async def fetch(self, driver: Any, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        plan = query.plan(self.dialect)
        if self.listener is not None:
            self.listener(plan.sql)
        return plan.rows(await driver.fetch(plan.sql, *plan.args(params)))

    async def change(self, driver: Any, query: Prepared, params: Mapping[str, Any]) -> int:
        plan = query.plan(self.dialect)
        if self.listener is not None:
            self.listener(plan.sql)
        status: str = await driver.execute(plan.sql, *plan.args(params))
        # "UPDATE 3", "INSERT 0 1", "DELETE 0": the last word counts the rows.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


def _fetchall(conn: sqlite3.Connection, sql: str, args: list[Any]) -> list[Any]:
    return conn.execute(sql, args).fetchall()


def _rowcount(conn: sqlite3.Connection, sql: str, args: list[Any]) -> int:
    return conn.execute(sql, args).rowcount


class _Statements(Protocol):
    async def fetch(self, conn: Any, query: Prepared, params: Mapping[str, Any]) -> list[Any]: ...

    async def change(self, conn: Any, query: Prepared, params: Mapping[str, Any]) -> int: ...


class _DriverTx:
    """A Tx on a driver's own connection: statements, reads and the commit guard; the
    subclass commits."""

    def __init__(self, statements: _Statements, conn: Any, guard: CommitGuard | None) -> None:
        self.statements = statements
        self.conn = conn
        self.guard = guard
        self.finished = False

    async def run(self, query: Prepared, params: Mapping[str, Any]) -> int:
        return await self.statements.change(self.conn, query, params)

    async def first(self, query: Prepared, params: Mapping[str, Any]) -> Any | None:
        rows = await self.statements.fetch(self.conn, query, params)
        return rows[0] if rows else None

    async def all(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        return await self.statements.fetch(self.conn, query, params)

    async def guard_now(self) -> None:
        guard, self.guard = self.guard, None
        if guard is not None:
            await guard(self)

    async def commit(self) -> None:
        raise NotImplementedError


class AsyncpgTx(_DriverTx):
    """A Tx on asyncpg's own connection, in a transaction asyncpg started."""

    def __init__(
        self,
        statements: AsyncpgStatements,
        driver: Any,
        transaction: Any,
        guard: CommitGuard | None,
    ) -> None:
        super().__init__(statements, driver, guard)
        self.transaction = transaction

    async def commit(self) -> None:
        await self.guard_now()
        await self.transaction.commit()
        self.finished = True


class SqliteTx(_DriverTx):
    """A Tx on the prepared statements' own writer connection (BEGIN IMMEDIATE already run)."""

    def __init__(self, statements: SqliteStatements, guard: CommitGuard | None) -> None:
        super().__init__(statements, statements.writer, guard)

    async def commit(self) -> None:
        await self.guard_now()
        await patiently(self.conn.execute, "COMMIT")
        self.finished = True

    def rollback(self) -> None:
        if not self.finished and self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.finished = True


async def begin(statements: SqliteStatements) -> None:
    await patiently(statements.writer.execute, "BEGIN IMMEDIATE")
