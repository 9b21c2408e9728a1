"""A broadcast through faults: 429 storms, 5xx, dropped connections and answers that come too
late from the Bot API; the database locked by another writer (SQLite) or restarted (PostgreSQL).
After each, every recipient has exactly one delivery record, all sent, and at most the messages
whose answer was lost were sent twice."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app import make_sender
from bot.delivery import Outgoing, QuietHours, enqueue
from bot.sandbox import BotApiSandbox
from bot.telegram_http import HttpBotApi
from handlers.common import Deps
from storage.db import Database
from storage.models import Delivery
from tests.handlers.conftest import make_config

RECIPIENTS = 60
FIRST = 20_000


async def queue_broadcast(db: Database) -> None:
    async with db.write() as session:
        await enqueue(
            session,
            [Outgoing(FIRST + i, None, f"廉政提醒 {i}", "notice") for i in range(RECIPIENTS)],
            now=datetime.now(UTC),
            quiet=QuietHours(0, 0, ZoneInfo("UTC")),
        )
        await session.commit()


async def broadcast(
    db: Database,
    sandbox: tuple[BotApiSandbox, str],
    during: Callable[[], Awaitable[None]] | None = None,
) -> Counter[int]:
    """Send the queued broadcast with the real sender over HTTP; `during` runs once the first
    messages are out. Returns how many times each recipient got it."""
    sb, base = sandbox
    config = make_config(db.url)
    config = replace(
        config,
        delivery=replace(
            config.delivery,
            backoff_base_seconds=0.05,
            backoff_max_seconds=0.3,
            lease_seconds=2,
            concurrency=2,
        ),
    )
    deps = Deps(config, db, 0)
    # A client that gives up after half a second, so a "hang" is a lost answer.
    api = HttpBotApi(f"{base}/bot", sb.token, timeout=0.5)
    sender = make_sender(deps, api)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await sb.wait_for_message(FIRST + 5, timeout=30)
        if during is not None:
            await during()
        for i in range(RECIPIENTS):
            await sb.wait_for_message(FIRST + i, timeout=60)
    finally:
        stop.set()
        await task
        await api.close()
    return Counter(m.chat_id for m in sb.sent if m.chat_id >= FIRST)


async def all_sent_once(db: Database) -> None:
    async with db.read() as session:
        rows = (await session.execute(select(Delivery.chat_id, Delivery.status))).all()
    assert sorted(chat for chat, _ in rows) == [FIRST + i for i in range(RECIPIENTS)]
    assert {status for _, status in rows} == {"sent"}


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(("error", 429, 6), id="429-storm"),
        pytest.param(("error", 502, 6), id="5xx"),
        pytest.param(("drop", 0, 4), id="dropped-connections"),
        pytest.param(("hang", 0, 2), id="answers-too-late"),
    ],
)
async def test_bot_api_faults(
    db: Database, sandbox: tuple[BotApiSandbox, str], fault: tuple[str, int, int]
) -> None:
    kind, status, times = fault
    sb = sandbox[0]
    await queue_broadcast(db)
    if kind == "error":
        sb.inject_fault(
            "sendMessage",
            status,
            "Too Many Requests: retry after 1" if status == 429 else "Bad Gateway",
            retry_after=1 if status == 429 else None,
            times=times,
        )
    else:
        sb.inject_transport_fault(kind, "sendMessage", times=times, seconds=1.5)
    per_chat = await broadcast(db, sandbox)
    await all_sent_once(db)
    repeats = sum(count - 1 for count in per_chat.values())
    # Only an answer that never arrived can cause a repeat; a refusal or a drop cannot.
    assert repeats <= (times if kind == "hang" else 0), per_chat
    if kind != "error":
        assert sb.transport_faults_used == [kind] * times


def _hold_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        held.set()
        threading.Event().wait(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


async def test_the_database_goes_away_mid_broadcast(
    db: Database, sandbox: tuple[BotApiSandbox, str]
) -> None:
    await queue_broadcast(db)
    url = make_url(db.url)

    async def outage() -> None:
        if db.is_sqlite:
            # Another writer holds the lock longer than the busy timeout (5 s).
            held = threading.Event()
            worker = threading.Thread(
                target=_hold_write_lock, args=(str(url.database), 6.0, held), daemon=True
            )
            worker.start()
            await asyncio.to_thread(held.wait, 5)
            await asyncio.to_thread(worker.join, 10)
        else:
            await asyncio.to_thread(_restart_postgresql)

    per_chat = await broadcast(db, sandbox, during=outage)
    await all_sent_once(db)
    # Claimed rows whose result could not be recorded are sent again: at most those in flight.
    assert sum(count - 1 for count in per_chat.values()) <= 2, per_chat


def _restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for _ in range(60):
        ready = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False)
        if ready.returncode == 0:
            return
        threading.Event().wait(0.5)
    raise AssertionError("PostgreSQL did not come back")
