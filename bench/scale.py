"""Data at scale: an organisation of 100,000 members with a year of records (about a million
confirmation and attendance rows), then the time of /stats for the year, /compliance for a
quarter and a full-year XLSX export, and the process's peak memory. Prints a table; asserts
nothing.

    python bench/scale.py [--members 100000] [--items 6] [--database-url URL of an empty database]

Rows: every member gets each of `--items` study items and reminders (a receipt each, 70 %
confirmed) and is invited to four general meetings (one a quarter) of their branch, 80 %
attending. Without --database-url: a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bot.auth import operator_actor
from bot.config import parse_config
from bot.services import compliance, export_files, ledger, stats
from bot.services.organisation import ensure_organisation
from handlers.common import Deps
from storage import migrate
from storage.db import Database
from storage.models import Branch, Group, Invitation, Item, Meeting, Member, Receipt

BRANCHES = 50
GROUPS_PER_BRANCH = 4
CHUNK = 20_000


async def populate(db: Database, members: int, item_count: int) -> int:
    rng = random.Random(3)
    async with db.write() as session:
        org_id = await ensure_organisation(session, "规模测试", "Asia/Shanghai")
        branches = [Branch(organisation_id=org_id, name=f"第{b:02d}支部") for b in range(BRANCHES)]
        session.add_all(branches)
        await session.flush()
        groups = [
            Group(branch_id=b.id, name=f"第{g}党小组")
            for b in branches
            for g in range(GROUPS_PER_BRANCH)
        ]
        session.add_all(groups)
        await session.flush()
        await session.commit()
    member_rows = [
        {
            "organisation_id": org_id,
            "name": f"党员{i:06d}",
            "branch_id": groups[i % len(groups)].branch_id,
            "group_id": groups[i % len(groups)].id,
            "role": "member",
            "telegram_user_id": 10_000_000 + i,
            "active": True,
            "committee": False,
        }
        for i in range(members)
    ]
    await _bulk(db, Member, member_rows)
    async with db.read() as session:
        ids = list((await session.execute(select(Member.id, Member.branch_id))).all())
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for n in range(item_count * 2):
        published = start + timedelta(days=55 * (n % 6) + n)
        async with db.write() as session:
            item = Item(
                organisation_id=org_id,
                kind="study" if n % 2 == 0 else "reminder",
                title=f"第{n}期",
                body="正文",
                audience_kind="org",
                published_at=published,
                created_at=published,
            )
            session.add(item)
            await session.flush()
            item_id = item.id
            await session.commit()
        await _bulk(
            db,
            Receipt,
            [
                {
                    "item_id": item_id,
                    "member_id": member_id,
                    "confirmed_at": published + timedelta(hours=5) if rng.random() < 0.7 else None,
                    "nudges": 0,
                }
                for member_id, _ in ids
            ],
        )
    by_branch: dict[int, list[int]] = {}
    for member_id, branch_id in ids:
        by_branch.setdefault(branch_id, []).append(member_id)
    for quarter in range(4):
        when = datetime(2026, 3 * quarter + 2, 15, 6, 30, tzinfo=UTC)
        for branch in branches:
            async with db.write() as session:
                meeting = Meeting(
                    organisation_id=org_id,
                    branch_id=branch.id,
                    kind="general",
                    audience_kind="branch",
                    audience_id=branch.id,
                    title=f"{quarter + 1}季度党员大会",
                    starts_at=when,
                    status="closed",
                    revision=0,
                    secret=secrets.token_hex(8),
                    created_at=when,
                    closed_at=when + timedelta(hours=1),
                )
                session.add(meeting)
                await session.flush()
                meeting_id = meeting.id
                await session.commit()
            rows = []
            for member_id in by_branch[branch.id]:
                came = rng.random() < 0.8
                rows.append(
                    {
                        "meeting_id": meeting_id,
                        "member_id": member_id,
                        "answer": "attend" if came else None,
                        "checked_in_at": when if came else None,
                        "outcome": "attended" if came else "absent",
                    }
                )
            await _bulk(db, Invitation, rows)
    return org_id


async def _bulk(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.write() as session:
            await session.execute(insert(model), rows[start : start + CHUNK])
            await session.commit()


async def timed(label: str, work: Any, table: list[tuple[str, str]]) -> Any:
    started = time.perf_counter()
    result = await work
    table.append((label, f"{(time.perf_counter() - started) * 1000:,.0f} ms"))
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=3, help="study items, and as many reminders")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    table: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'scale.db'}"
        db = Database(url)
        try:
            await migrate.upgrade(db)
            org_id = await timed("populate", populate(db, args.members, args.items), table)
            config = parse_config({"database": {"url": url}}, env={})
            deps = Deps(config, db, org_id)
            actor = operator_actor("zh")
            now = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
            async with db.read() as session:
                receipts = len((await session.execute(select(Receipt.id))).all())
                invitations = len((await session.execute(select(Invitation.id))).all())
            table.append(("rows", f"{receipts:,} receipts, {invitations:,} invitations"))
            async with db.read() as session:
                await timed(
                    "/stats 2026 (whole organisation)",
                    stats.build(session, deps.meetings, actor, "2026", None, now=now),
                    table,
                )
            async with db.read() as session:
                await timed(
                    "/compliance 2026-Q4",
                    compliance.report(session, deps.meetings, actor, "2026-Q4", now=now),
                    table,
                )

            async def export() -> int:
                async with db.read() as session:
                    _, _, tables = await ledger.build(
                        session, org_id, deps.push.tz, actor, "2026", None, now=now
                    )
                return len(export_files.xlsx_bytes(tables))

            size = await timed("full-year XLSX export", export(), table)
            table.append(("XLSX size", f"{size / 1_000_000:.1f} MB"))
        finally:
            await db.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table.append(("peak memory (RSS)", f"{peak:,.0f} MB"))
    backend = "PostgreSQL" if args.database_url else "SQLite file"
    print(f"data at scale: {args.members:,} members, {backend}")
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"  {name.ljust(width)}  {value}")
    print("  targets: /stats and /compliance < 200 ms, full-year export < 10 s, peak < 500 MB")


if __name__ == "__main__":
    asyncio.run(main())
