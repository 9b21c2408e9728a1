"""Data at scale: an organisation of 100,000 members with a year of records (about a million
confirmation and attendance rows), then the time of /stats for the year, /compliance for a
quarter, a full-year export (CSV files, or an XLSX workbook), with --summary /summary for the
year, and the process's peak memory. Prints a table; asserts nothing.

    python bench/scale.py [--members 100000] [--items 3] [--formats csv,xlsx] [--summary]
                          [--database-url URL of an empty database]

Rows: every member gets each of `--items` study items and reminders (a receipt each, 70 %
confirmed) and is invited to four general meetings (one a quarter) of their branch, 80 %
attending. Without --database-url: a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    String,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    select,
    text,
    true,
    union_all,
)

from bot.auth import operator_actor
from bot.config import parse_config
from bot.services import charts, compliance, export_files, ledger, stats, summary
from bot.services.organisation import ensure_organisation
from handlers.common import Deps
from storage import migrate
from storage.db import Database
from storage.models import (
    Branch,
    Group,
    Invitation,
    Item,
    ItemTally,
    Meeting,
    MeetingTally,
    Member,
    Receipt,
    UTCDateTime,
)

BRANCHES = 50
GROUPS_PER_BRANCH = 4
# Distinct confirmation and check-in moments per item or meeting.
SPREAD = 240


async def populate(db: Database, members: int, item_count: int) -> int:
    """Set-based inserts (INSERT … SELECT): a million rows sent one by one from Python take
    longer than the whole benchmark may. Who confirmed or attended is a fixed arithmetic
    function of the ids, so every run holds the same rows."""
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
        created = _at(datetime(2025, 12, 1, tzinfo=UTC))
        # Member i (0-based) is in group i % len(groups): one statement per group.
        for g, group in enumerate(groups):
            count = len(range(g, members, len(groups)))
            if not count:
                continue
            n = _numbers(count)
            i = n.c.i * len(groups) + g
            await session.execute(
                insert(Member).from_select(
                    [
                        "organisation_id",
                        "name",
                        "branch_id",
                        "group_id",
                        "role",
                        "telegram_user_id",
                        "active",
                        "committee",
                        "created_at",
                        "updated_at",
                    ],
                    select(
                        literal(org_id),
                        literal("党员") + cast(i, String),
                        literal(group.branch_id),
                        literal(group.id),
                        literal("member"),
                        i + 10_000_000,
                        true(),
                        false(),
                        created,
                        created,
                    ),
                )
            )
        await session.commit()
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for n_item in range(item_count * 2):
        published = start + timedelta(days=55 * (n_item % 6) + n_item)
        async with db.write() as session:
            item = Item(
                organisation_id=org_id,
                kind="study" if n_item % 2 == 0 else "reminder",
                title=f"第{n_item}期",
                body="正文",
                audience_kind="org",
                published_at=published,
                created_at=published,
            )
            session.add(item)
            await session.flush()
            confirmed = (Member.id * 37 + n_item * 11) % 10 < 7  # 70 %
            times = _spread(published + timedelta(hours=5), timedelta(minutes=7))
            await session.execute(
                insert(Receipt).from_select(
                    ["item_id", "member_id", "branch_id", "group_id", "confirmed_at", "nudges"],
                    select(
                        literal(item.id),
                        Member.id,
                        Member.branch_id,
                        Member.group_id,
                        case((confirmed, times.c.at)),
                        literal(0),
                    )
                    .join(times, times.c.k == Member.id % SPREAD)
                    .where(Member.organisation_id == org_id),
                )
            )
            # The running counts the application keeps beside the receipts.
            await session.execute(
                insert(ItemTally).from_select(
                    ["item_id", "branch_id", "group_id", "total", "done"],
                    select(
                        Receipt.item_id,
                        Receipt.branch_id,
                        Receipt.group_id,
                        func.count(),
                        func.count(Receipt.confirmed_at),
                    )
                    .where(Receipt.item_id == item.id)
                    .group_by(Receipt.item_id, Receipt.branch_id, Receipt.group_id),
                )
            )
            await session.commit()
    for quarter in range(4):
        when = datetime(2026, 3 * quarter + 2, 15, 6, 30, tzinfo=UTC)
        async with db.write() as session:
            session.add_all(
                Meeting(
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
                for branch in branches
            )
            await session.flush()
            came = (Member.id * 13 + quarter * 7) % 10 < 8  # 80 %, the rest absent
            times = _spread(when - timedelta(minutes=30), timedelta(seconds=30))
            await session.execute(
                insert(Invitation).from_select(
                    [
                        "meeting_id",
                        "member_id",
                        "branch_id",
                        "group_id",
                        "answer",
                        "checked_in_at",
                        "outcome",
                    ],
                    select(
                        Meeting.id,
                        Member.id,
                        Member.branch_id,
                        Member.group_id,
                        case((came, literal("attend"))),
                        case((came, times.c.at)),
                        case((came, literal("attended")), else_=literal("absent")),
                    )
                    .join(Meeting, Meeting.branch_id == Member.branch_id)
                    .join(times, times.c.k == Member.id % SPREAD)
                    .where(Meeting.organisation_id == org_id, Meeting.starts_at == _at(when)),
                )
            )
            await session.execute(
                insert(MeetingTally).from_select(
                    ["meeting_id", "branch_id", "group_id", "total", "present"],
                    select(
                        Invitation.meeting_id,
                        Invitation.branch_id,
                        Invitation.group_id,
                        func.count(),
                        func.count(case((Invitation.outcome == "attended", 1))),
                    )
                    .join(Meeting, Meeting.id == Invitation.meeting_id)
                    .where(Meeting.organisation_id == org_id, Meeting.starts_at == _at(when))
                    .group_by(Invitation.meeting_id, Invitation.branch_id, Invitation.group_id),
                )
            )
            await session.commit()
    return org_id


def _spread(first: datetime, step: timedelta) -> Any:
    """SPREAD moments from `first`, `step` apart and each with its own seconds and
    microseconds, as (k, at): confirmations and check-ins are not all at one instant."""
    return union_all(
        *(
            select(
                literal(k).label("k"),
                _at(first + k * step + timedelta(seconds=k % 60, microseconds=k)).label("at"),
            )
            for k in range(SPREAD)
        )
    ).cte(f"spread_{secrets.token_hex(4)}")


def _numbers(count: int) -> Any:
    """0 … count-1 as a recursive CTE (the same SQL on SQLite and PostgreSQL)."""
    n = select(literal(0).label("i")).cte("n", recursive=True)
    return n.union_all(select(n.c.i + 1).where(n.c.i < count - 1))


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


async def timed(label: str, work: Any, table: list[tuple[str, str]]) -> Any:
    started = time.perf_counter()
    result = await work
    table.append((label, f"{(time.perf_counter() - started) * 1000:,.0f} ms"))
    return result


async def repeated(label: str, work: Any, table: list[tuple[str, str]], times: int = 5) -> Any:
    """The first call (nothing cached yet), then the median of `times` more."""
    took = []
    for _ in range(times + 1):
        started = time.perf_counter()
        result = await work()
        took.append((time.perf_counter() - started) * 1000)
    rest = statistics.median(took[1:])
    table.append((label, f"first {took[0]:,.0f} ms, then median {rest:,.0f} ms of {times}"))
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=3, help="study items, and as many reminders")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--summary", action="store_true", help="also time /summary for the year (+15-20 s)"
    )
    parser.add_argument(
        "--formats", default="csv", help="exports to time: csv, xlsx or both (csv,xlsx)"
    )
    args = parser.parse_args()
    table: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'scale.db'}"
        db = Database(url)
        try:
            await migrate.upgrade(db)
            org_id = await timed("populate", populate(db, args.members, args.items), table)
            async with db.engine.begin() as conn:
                # As autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would, in time.
                await conn.execute(text("ANALYZE"))
            config = parse_config({"database": {"url": url}}, env={})
            deps = Deps(config, db, org_id)
            actor = operator_actor("zh")
            now = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
            async with db.read() as session:
                receipts = await session.scalar(select(func.count(Receipt.id)))
                invitations = await session.scalar(select(func.count(Invitation.id)))
            table.append(("rows", f"{receipts:,} receipts, {invitations:,} invitations"))

            async def one_stats() -> stats.Stats:
                async with db.read() as session:
                    return await stats.build(session, deps.meetings, actor, "2026", None, now=now)

            async def one_compliance() -> object:
                async with db.read() as session:
                    return await compliance.report(
                        session, deps.meetings, actor, "2026-Q4", now=now
                    )

            figures = await repeated("/stats 2026 (whole organisation)", one_stats, table)
            titles = {
                "heading": "2026",
                "awareness": "知晓率",
                "attendance": "出席率",
                "hours": "时长",
            }
            await timed(
                "/stats chart (PNG, every unit)",
                asyncio.to_thread(charts.stats_png, figures, titles),
                table,
            )
            await repeated("/compliance 2026-Q4", one_compliance, table)

            async def one_summary() -> object:
                async with db.read() as session:
                    return await summary.summary_for(
                        session, deps.meetings, actor, "2026", None, "规模测试", now=now
                    )

            if args.summary:
                await timed("/summary 2026 (reads the year's rows)", one_summary(), table)

            async def export(fmt: str) -> str:
                async with db.read() as session:
                    found = await ledger.open_ledger(
                        session, org_id, deps.push.tz, actor, "2026", None, now=now
                    )
                    if fmt == "xlsx":
                        data, rows = await export_files.xlsx_from(found.sheets)
                        return f"{rows:,} rows, {len(data) / 1_000_000:.1f} MB"
                    files, rows = await export_files.csv_into(found.sheets, Path(folder), "bench")
                    size = sum(f.stat().st_size for f in files)
                    return f"{rows:,} rows, {size / 1_000_000:.1f} MB"

            for fmt in args.formats.split(","):
                label = f"full-year {fmt.upper()} export"
                table.append((f"{label} (files)", await timed(label, export(fmt), table)))
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
