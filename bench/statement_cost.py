"""What one small read costs through each layer, on a SQLite file (issue: many members at once).

    python bench/statement_cost.py [--reads 3000]

Prints microseconds per read of one row by primary key: through SQLAlchemy's asyncio layer (a
pooled connection, as `Database.lookup()` gives), through a read session, as a prepared statement
on the driver's own connection (`Database.first`, storage/fast.py), and through bare sqlite3.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import bindparam, column, select, table, text

from storage.db import Database
from storage.fast import Prepared

_T = table("t", column("id"), column("v"))
_BY_ID = select(_T.c.id, _T.c.v).where(_T.c.id == bindparam("i"))
_PREPARED = Prepared(_BY_ID)


async def timed(reads: int, read: Callable[[], Awaitable[object]]) -> float:
    for _ in range(200):  # warm the caches and the pool
        await read()
    started = time.perf_counter()
    for _ in range(reads):
        await read()
    return (time.perf_counter() - started) / reads * 1e6


async def main(reads: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cost.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 'a')"))

        async def through_connection() -> object:
            async with db.lookup() as conn:
                return (await conn.execute(_BY_ID, {"i": 1})).first()

        async def through_session() -> object:
            async with db.read() as session:
                return (await session.execute(_BY_ID, {"i": 1})).first()

        async def prepared() -> object:
            return await db.first(_PREPARED, {"i": 1})

        raw = sqlite3.connect(path, isolation_level=None)

        async def bare() -> object:
            return raw.execute("SELECT id, v FROM t WHERE id = ?", (1,)).fetchone()

        rows = [
            ("SQLAlchemy asyncio, a pooled connection", await timed(reads, through_connection)),
            ("SQLAlchemy asyncio, a read session", await timed(reads, through_session)),
            ("prepared statement (storage.fast)", await timed(reads, prepared)),
            ("bare sqlite3", await timed(reads, bare)),
        ]
        raw.close()
        await db.dispose()
    print(f"one read of one row by primary key, {reads:,} times, SQLite file")
    for name, micros in rows:
        print(f"  {name:<42} {micros:8.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=3000)
    asyncio.run(main(parser.parse_args().reads))
