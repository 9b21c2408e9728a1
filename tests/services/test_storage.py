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
        assert (journal, busy, fks) == ("wal", 20, 1)
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


async def test_records_made_before_0009_take_the_members_branch_and_are_tallied(
    tmp_path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(db, "0008")
        async with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO organisations (id, name, timezone, created_at)"
                " VALUES (1, 'o', 'Asia/Shanghai', '2026-01-01 00:00:00')",
                "INSERT INTO branches (id, organisation_id, name) VALUES (7, 1, '一支部')",
                "INSERT INTO member_groups (id, branch_id, name) VALUES (3, 7, '一组')",
                "INSERT INTO members (id, organisation_id, name, role, branch_id, group_id, active,"
                " committee, created_at, updated_at) VALUES (5, 1, '张三', 'member', 7, 3, 1, 0,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO items (id, organisation_id, kind, title, body, audience_kind, urgent,"
                " created_at) VALUES (9, 1, 'study', 't', '', 'org', 0, '2026-01-01 00:00:00')",
                "INSERT INTO receipts (item_id, member_id, nudges) VALUES (9, 5, 0)",
                # 李四 was in 一支部 for the branch's item and meeting, and has moved since.
                "INSERT INTO branches (id, organisation_id, name) VALUES (8, 1, '二支部')",
                "INSERT INTO members (id, organisation_id, name, role, branch_id, active,"
                " committee, created_at, updated_at) VALUES (6, 1, '李四', 'member', 8, 1, 0,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                "INSERT INTO items (id, organisation_id, kind, title, body, audience_kind,"
                " audience_id, urgent, created_at) VALUES (10, 1, 'study', 't', '', 'branch', 7,"
                " 0, '2026-01-01 00:00:00')",
                "INSERT INTO receipts (item_id, member_id, nudges) VALUES (10, 6, 0)",
                "INSERT INTO meetings (id, organisation_id, branch_id, kind, audience_kind,"
                " audience_id, title, starts_at, status, revision, secret, created_at) VALUES"
                " (4, 1, 7, 'general', 'branch', 7, 'm', '2026-02-01 00:00:00', 'closed', 0,"
                " 's', '2026-01-01 00:00:00')",
                "INSERT INTO invitations (meeting_id, member_id, outcome) VALUES (4, 5, 'late')",
                "INSERT INTO invitations (meeting_id, member_id) VALUES (4, 6)",
            ):
                await conn.execute(text(sql))
        await migrate.upgrade(db)
        async with db.engine.connect() as conn:
            receipt = (
                await conn.execute(
                    text("SELECT branch_id, group_id FROM receipts WHERE member_id = 5")
                )
            ).one()
            invitation = (
                await conn.execute(
                    text("SELECT branch_id, group_id FROM invitations WHERE member_id = 5")
                )
            ).one()
            tallies = (
                await conn.execute(
                    text(
                        "SELECT t.total, t.done, m.total, m.present FROM item_tallies t,"
                        " meeting_tallies m WHERE t.item_id = 9 AND t.group_id = 3"
                        " AND m.group_id = 3"
                    )
                )
            ).one()
            moved = (
                await conn.execute(
                    text(
                        "SELECT r.branch_id, r.group_id, i.branch_id, i.group_id FROM receipts r,"
                        " invitations i WHERE r.member_id = 6 AND i.member_id = 6"
                    )
                )
            ).one()
        assert tuple(receipt) == tuple(invitation) == (7, 3)
        # Where the item and the meeting were: 一支部; the group of then is not known.
        assert tuple(moved) == (7, None, 7, None)
        # The receipt is unconfirmed; the member came to the closed meeting.
        assert tuple(tallies) == (1, 0, 1, 1)
    finally:
        await db.dispose()
