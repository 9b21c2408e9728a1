"""Prepared statements (storage.fast): on a SQLite file they run on the driver's own connections,
elsewhere through SQLAlchemy; either way a row reads the same, a transaction commits only when
told to, its commit runs the commit guard, and another process holding the lock never blocks
the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, insert, select

from bot.inbound import Inbox
from bot.services import audit, members
from bot.services.organisation import ensure_organisation
from storage import migrate, sqlite_loop
from storage.db import Database
from storage.fast import Prepared, Tx, commit_guard
from storage.models import AuditEntry, Member, Role
from tests.conftest import OrgBuilder

_members = Member.metadata.tables[Member.__tablename__]
_audit_log = AuditEntry.metadata.tables[AuditEntry.__tablename__]
_AUDIT_COUNT = Prepared(select(func.count()).select_from(AuditEntry.metadata.tables["audit_log"]))


async def audit_rows(db: Database) -> int:
    row = await db.first(_AUDIT_COUNT, {})
    assert row is not None
    return int(row[0])


async def test_a_prepared_read_gives_what_a_session_gives(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三", telegram_id=7, role=Role.SECRETARY)
    bound = datetime(2026, 12, 1, 1, 2, 3, 456789, tzinfo=UTC)
    async with db.write() as session:
        member = await session.get(Member, zhang.member_id)
        assert member is not None
        member.bound_at = bound
        await session.commit()

    prepared = await members.my_record(db, zhang.actor())
    async with db.read() as session:
        through_session = await members.my_record(session, zhang.actor())
    assert prepared == through_session
    # The column types' own processors: an aware UTC time, the role enum, booleans.
    assert prepared.bound_at == bound and prepared.bound_at.tzinfo is not None
    assert prepared.role is Role.SECRETARY
    assert prepared.active is True and prepared.bound is True
    assert prepared.branch == "第一支部"

    actor = await members.find_actor(db, 7, "zh")
    assert actor == zhang.actor()
    assert await members.find_actor(db, 999, "zh") is None


async def test_a_transaction_keeps_only_what_it_commits(db: Database, org: OrgBuilder) -> None:
    await org.member("张三", telegram_id=7)
    before = await audit_rows(db)

    async with db.transaction() as tx:
        await audit.add(tx, action="test.kept", entity="item", entity_id=1)
        await tx.commit()
    assert await audit_rows(db) == before + 1

    # Left without a commit: rolled back.
    async with db.transaction() as tx:
        await audit.add(tx, action="test.dropped", entity="item", entity_id=2)
    # Failed half-way: rolled back, the error reaches the caller.
    with pytest.raises(RuntimeError, match="half-way"):
        async with db.transaction() as tx:
            await audit.add(tx, action="test.failed", entity="item", entity_id=3)
            raise RuntimeError("half-way")
    assert await audit_rows(db) == before + 1

    async with db.read() as session:
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert "test.kept" in actions and not actions & {"test.dropped", "test.failed"}


async def test_the_commit_guard_runs_inside_the_transaction(db: Database) -> None:
    seen: list[Tx] = []

    async def refuse(tx: Tx) -> None:
        seen.append(tx)
        # What the inbound path's guard does when another attempt applied the update.
        raise LookupError("applied already")

    before = await audit_rows(db)
    token = commit_guard.set(refuse)
    try:
        with pytest.raises(LookupError):
            async with db.transaction() as tx:
                await audit.add(tx, action="test.guarded", entity="item", entity_id=1)
                await tx.commit()
    finally:
        commit_guard.reset(token)
    assert len(seen) == 1
    assert await audit_rows(db) == before


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite's own behaviour: its one-writer gate and its file lock."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'branchbot.db'}")
    try:
        await migrate.upgrade(database)
        yield database
    finally:
        await database.dispose()


async def test_a_nested_transaction_fails_loudly(sqlite_db: Database) -> None:
    db = sqlite_db
    async with db.transaction():
        with pytest.raises(RuntimeError, match="inside another"):
            async with db.write():
                pass


def test_a_list_parameter_is_refused() -> None:
    query = Prepared(
        select(_members.c.id).where(_members.c.id.in_(bindparam("ids", expanding=True)))
    )
    with pytest.raises(ValueError, match="IN list"):
        query.plan(Database("sqlite+aiosqlite:///unused.db").engine.dialect)


async def test_another_process_holding_the_lock_never_blocks_the_loop(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    async with db.write() as session:
        org_id = await ensure_organisation(session, "测试局机关党委", "Asia/Shanghai")
    zhang = await OrgBuilder(db, org_id).member("张三", telegram_id=7)
    path = db.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        # Reads go on beside the writer (WAL).
        assert await members.find_actor(db, 7, "zh") == zhang.actor()

        async def write() -> None:
            async with db.transaction() as tx:
                await audit.add(tx, action="test.waited", entity="item", entity_id=1)
                await tx.commit()

        writing = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing.done()
        # The loop kept serving while the write waited for the lock.
        assert ticks >= 10
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
        ticking.cancel()
    finally:
        other.close()
    async with db.read() as session:
        assert (
            await session.scalar(select(func.count()).where(AuditEntry.action == "test.waited"))
            == 1
        )


async def test_a_column_default_left_out_of_an_insert_is_computed(db: Database) -> None:
    """A column with a Python-side default that the statement is not given gets that default,
    as through SQLAlchemy (not NULL)."""
    add = Prepared(insert(_audit_log), keys=("source", "action", "entity"))
    async with db.transaction() as tx:
        await tx.run(add, {"source": "bot", "action": "test.defaults", "entity": "item"})
        await tx.commit()
    async with db.read() as session:
        row = (
            await session.execute(
                select(AuditEntry.at, AuditEntry.details).where(
                    AuditEntry.action == "test.defaults"
                )
            )
        ).one()
    assert row.at is not None and row.details == ""


async def test_the_inbox_retries_a_batch_another_process_kept_locked_too_long(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite_db
    # Each call gives up at once; the inbox's own retries must carry the batch.
    monkeypatch.setattr(sqlite_loop, "BUSY_GIVE_UP_SECONDS", 0.0)
    path = db.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        inbox = Inbox(db, 60)
        admitting = asyncio.create_task(inbox.admit([{"update_id": 5, "message": {}}]))
        await asyncio.sleep(0.3)
        other.execute("COMMIT")
        assert await asyncio.wait_for(admitting, 5) == [True]
    finally:
        other.close()
