"""Broadcast benchmark: enqueue a 10,000-member push, then send it through the real sender.

Runs a Bot API stand-in in a child process on loopback (by default a stub that answers at once,
so branchbot itself is what is measured) and a temporary SQLite file. Prints a table; asserts
nothing.

    python bench/broadcast.py [--members 10000] [--limited 250] [--server stub|sandbox]
                              [--database-url URL of an empty database]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.config import DeliveryConfig, FollowupConfig
from bot.delivery import Claimed, QuietHours, Sender
from bot.services.audience import Audience
from bot.services.items import KIND_STUDY, Draft, PushSettings, create_item
from bot.services.organisation import ensure_organisation
from bot.telegram_http import HttpBotApi
from storage import migrate
from storage.db import Database
from storage.models import Branch, Delivery, Member, Role, utcnow

TZ = ZoneInfo("Asia/Shanghai")
NO_QUIET = QuietHours(0, 0, TZ)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TimedSender(Sender):
    """Records when each message left, to check the achieved rate."""

    sent_at: list[float]

    async def _transmit(self, row: Claimed) -> int:
        message_id = await super()._transmit(row)
        self.sent_at.append(time.monotonic())
        return message_id


async def setup(db: Database, members: int) -> PushSettings:
    await migrate.upgrade(db)
    async with db.write() as session:
        org_id = await ensure_organisation(session, "bench", "Asia/Shanghai")
        branch = Branch(organisation_id=org_id, name="基准支部")
        session.add(branch)
        await session.flush()
        await session.execute(
            insert(Member),
            [
                {
                    "organisation_id": org_id,
                    "name": f"成员{i:06d}",
                    "branch_id": branch.id,
                    "role": Role.MEMBER,
                    "telegram_user_id": 1_000_000 + i,
                    "active": True,
                }
                for i in range(members)
            ],
        )
        await session.commit()
    return PushSettings(org_id, "zh", TZ, NO_QUIET, FollowupConfig())


async def enqueue_broadcast(db: Database, settings: PushSettings) -> float:
    started = time.perf_counter()
    async with db.write() as session:
        await create_item(
            session,
            settings,
            None,
            Draft(KIND_STUDY, "基准测试", "正文", Audience("org", None, "")),
            now=utcnow(),
        )
        await session.commit()
    return time.perf_counter() - started


async def drain(sender: TimedSender) -> tuple[int, float]:
    sender.sent_at = []
    started = time.perf_counter()
    handled = await sender.run_once()
    return handled, time.perf_counter() - started


def max_in_any_second(stamps: list[float]) -> int:
    best, left = 0, 0
    for right, moment in enumerate(stamps):
        while moment - stamps[left] >= 1.0:
            left += 1
        best = max(best, right - left + 1)
    return best


async def measure(
    port: int, members: int, limited: int, database_url: str | None
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        settings = await setup(db, members)
        seconds = await enqueue_broadcast(db, settings)
        async with db.read() as session:
            queued = await session.scalar(select(func.count(Delivery.id)))
        rows.append(
            (
                f"enqueue a {members:,}-member broadcast",
                f"{seconds:.2f} s ({queued:,} outbox rows)",
            )
        )

        bot = HttpBotApi(f"http://127.0.0.1:{port}/bot", "123456:SANDBOX", pool_size=64)
        try:
            unlimited = DeliveryConfig(
                rate_per_second=1_000_000, per_chat_interval_seconds=0, concurrency=64
            )
            sender = TimedSender(db, bot, unlimited, NO_QUIET)
            handled, elapsed = await drain(sender)
            rows.append(
                (
                    "send, rate limit off",
                    f"{handled / elapsed:,.0f} msg/s ({handled:,} in {elapsed:.1f} s)",
                )
            )

            async with db.write() as session:
                await session.execute(
                    insert(Delivery),
                    [
                        {
                            "chat_id": 2_000_000 + i,
                            "purpose": "notice",
                            "text": "限速测试",
                            "status": "pending",
                            "not_before": utcnow(),
                            "urgent": False,
                            "attempts": 0,
                            "created_at": utcnow(),
                        }
                        for i in range(limited)
                    ],
                )
                await session.commit()
            capped = replace(DeliveryConfig(), concurrency=8)
            sender = TimedSender(db, bot, capped, NO_QUIET)
            handled, elapsed = await drain(sender)
            stamps = sender.sent_at
            span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
            rate = (len(stamps) - 1) / span if span else 0.0
            rows.append(
                (
                    f"send, limit {capped.rate_per_second:.0f}/s",
                    f"{rate:.1f} msg/s achieved; at most {max_in_any_second(stamps)} "
                    f"in any one second ({handled} messages)",
                )
            )
        finally:
            await bot.close()
        await db.dispose()
    return rows


def main(members: int, limited: int, server_kind: str, database_url: str | None) -> None:
    port = free_port()
    # The Bot API stand-in gets its own process (and core), as Telegram would be elsewhere.
    # "stub" answers at once (it measures branchbot alone); "sandbox" is the test server.
    command = (
        [sys.executable, str(Path(__file__).with_name("stub_botapi.py")), str(port)]
        if server_kind == "stub"
        else [sys.executable, "-m", "bot.sandbox", "--port", str(port), "--quiet"]
    )
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # the address line: the server is listening
    try:
        rows = asyncio.run(measure(port, members, limited, database_url))
    finally:
        server.terminate()
        server.wait(timeout=10)
    width = max(len(name) for name, _ in rows)
    print(
        f"broadcast benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{'PostgreSQL' if database_url else 'SQLite'}, Bot API: {server_kind} on loopback)"
    )
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--limited", type=int, default=250)
    parser.add_argument("--server", choices=("stub", "sandbox"), default="stub")
    # An empty PostgreSQL database (made for the run): its senders share the pace in the database.
    parser.add_argument("--database-url")
    args = parser.parse_args()
    main(args.members, args.limited, args.server, args.database_url)
