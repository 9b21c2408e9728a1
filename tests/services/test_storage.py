"""The schema: migrations match the models, and SQLite runs with its safety settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import migrate
from storage.db import Database
from storage.models import Member, Organisation


async def test_migrations_match_models(db: Database) -> None:
    assert await migrate.schema_drift(db) == []
    assert await migrate.current_revision(db) is not None


async def test_upgrade_twice_is_harmless(db: Database) -> None:
    before = await migrate.current_revision(db)
    await migrate.upgrade(db)
    assert await migrate.current_revision(db) == before


async def test_sqlite_connection_settings(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        assert (journal, busy, fks) == ("wal", 5000, 1)
    finally:
        await db.dispose()


async def test_foreign_keys_are_enforced(db: Database) -> None:
    async with db.write() as session:
        session.add(Member(organisation_id=999_999, name="nobody", active=True))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_times_come_back_aware_utc(db: Database) -> None:
    async with db.write() as session:
        org = Organisation(name="tz", timezone="Asia/Shanghai")
        session.add(org)
        await session.commit()
        org_id = org.id
    async with db.read() as session:
        loaded = await session.get(Organisation, org_id)
        assert loaded is not None
        offset = loaded.created_at.utcoffset()
        assert offset is not None and offset.total_seconds() == 0
