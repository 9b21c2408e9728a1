"""Shared fixtures: a migrated database on every backend, and one-line organisation builders.

With BRANCHBOT_TEST_DATABASE_URL set, every test that uses `db` also runs on PostgreSQL, each in
its own schema. Set but unreachable is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.auth import Actor
from bot.services.invites import issue_invite
from bot.services.organisation import ensure_organisation
from storage import migrate
from storage.db import Database
from storage.models import Branch, Group, InviteCode, Member, Role

PG_ENV = "BRANCHBOT_TEST_DATABASE_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'branchbot.db'}"
    return os.environ[PG_ENV]


async def open_database(url: str) -> tuple[Database, str | None]:
    """A database ready for migrations; on PostgreSQL a fresh schema that is dropped later."""
    if url.startswith("sqlite"):
        return Database(url), None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(url)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await admin.dispose()
    db = Database(url, connect_args={"server_settings": {"search_path": schema}})
    return db, schema


async def drop_schema(url: str, schema: str | None) -> None:
    if schema is None:
        return
    admin = Database(url)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database, schema = await open_database(database_url)
    try:
        await migrate.upgrade(database)
        yield database
    finally:
        await database.dispose()
        await drop_schema(database_url, schema)


@pytest.fixture
async def org_id(db: Database) -> int:
    async with db.write() as session:
        return await ensure_organisation(session, "测试局机关党委", "Asia/Shanghai")


@dataclass(frozen=True)
class Person:
    member_id: int
    name: str
    telegram_id: int | None
    branch_id: int | None
    group_id: int | None
    role: Role
    code: str

    def actor(self, language: str = "zh") -> Actor:
        return Actor(self.member_id, self.name, self.role, self.branch_id, self.group_id, language)


class OrgBuilder:
    """Builds the members a test needs: `await org.member("张三", branch="第一支部", ...)`."""

    # When the members were entered: an organisation of long standing, so that the meetings it
    # owes (only from a branch's or group's first record) do not hang on the wall clock.
    SINCE = datetime(2020, 1, 1, tzinfo=UTC)

    def __init__(self, db: Database, org_id: int) -> None:
        self.db = db
        self.org_id = org_id

    async def member(
        self,
        name: str,
        *,
        branch: str | None = "第一支部",
        group: str | None = "第一党小组",
        role: Role = Role.MEMBER,
        telegram_id: int | None = None,
        phone: str | None = None,
        created_at: datetime | None = None,
    ) -> Person:
        async with self.db.write() as session:
            branch_row = None
            group_row = None
            if branch is not None:
                branch_row = await session.scalar(
                    select(Branch).where(
                        Branch.organisation_id == self.org_id, Branch.name == branch
                    )
                )
                if branch_row is None:
                    branch_row = Branch(organisation_id=self.org_id, name=branch)
                    session.add(branch_row)
                    await session.flush()
                if group is not None:
                    group_row = await session.scalar(
                        select(Group).where(Group.branch_id == branch_row.id, Group.name == group)
                    )
                    if group_row is None:
                        group_row = Group(branch_id=branch_row.id, name=group)
                        session.add(group_row)
                        await session.flush()
            member = Member(
                organisation_id=self.org_id,
                name=name,
                phone=phone,
                role=role,
                branch_id=branch_row.id if branch_row else None,
                group_id=group_row.id if group_row else None,
                telegram_user_id=telegram_id,
                active=True,
                created_at=created_at or self.SINCE,
            )
            session.add(member)
            await session.flush()
            invite: InviteCode = issue_invite(session, member.id, 30)
            await session.commit()
            return Person(
                member.id, name, telegram_id, member.branch_id, member.group_id, role, invite.code
            )


@pytest.fixture
def org(db: Database, org_id: int) -> OrgBuilder:
    return OrgBuilder(db, org_id)
