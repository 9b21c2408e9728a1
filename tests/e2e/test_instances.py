"""Several instances: on SQLite only one process may run the scheduler and sender, and a second
says why it does not; PostgreSQL lets every instance run them (rows claimed with SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.app import STANDBY_RETRY_SECONDS, Standby, prepare_database, start_workers
from handlers.common import Deps
from storage.db import Database
from storage.single_writer import lock_path
from tests.handlers.conftest import make_config


def deps_for(db: Database) -> Deps:
    config = make_config(db.url)
    # Nothing is sent here; a dead loopback port makes sure nothing could be.
    config = replace(
        config, telegram=replace(config.telegram, api_base_url="http://127.0.0.1:9/bot")
    )
    return Deps(config, db, 0)


async def test_a_second_sqlite_instance_runs_no_scheduler_and_says_why(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if not db.is_sqlite:
        first, second = start_workers(deps_for(db)), start_workers(deps_for(db.reopen()))
        assert first is not None and second is not None
        await first.stop()
        await second.stop()
        return
    deps = deps_for(db)
    deps = replace(deps, org_id=await prepare_database(deps.config, db))
    first = start_workers(deps)
    assert first is not None and first.lock is not None
    other = db.reopen()
    try:
        with caplog.at_level(logging.ERROR, logger="bot.app"):
            assert start_workers(replace(deps, db=other)) is None
        assert "already runs the scheduler" in caplog.text and "PostgreSQL" in caplog.text
        # A standby keeps trying, and takes over once the first has stopped.
        standby = Standby(replace(deps, db=other))
        await asyncio.sleep(STANDBY_RETRY_SECONDS + 0.5)
        assert standby.workers is None
        await first.stop()
        for _ in range(20):
            if standby.workers is not None:
                break
            await asyncio.sleep(0.25)
        assert standby.workers is not None and standby.workers.lock is not None
        await standby.stop()
    finally:
        await other.dispose()


def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert lock_path(f"sqlite+aiosqlite:///{tmp_path}/b.db") == tmp_path / "b.db.scheduler.lock"
    assert lock_path("sqlite+aiosqlite://") is None
    assert lock_path("postgresql+asyncpg://postgres@127.0.0.1/test") is None


RECIPIENTS = 150
MEMBERS = 30
RATE = 20
IN_FLIGHT = 2


def instance_config(base: str, token: str, url: str, port: int) -> str:
    return (
        f'[telegram]\ntoken = "{token}"\napi_base_url = "{base}/bot"\nmode = "webhook"\n'
        f'[webhook]\nlisten = "127.0.0.1"\nport = {port}\npath = "/tg"\n'
        f'public_url = "http://127.0.0.1:{port}"\nsecret_token = "instances_secret"\n'
        f'[database]\nurl = "{url}"\n'
        '[organisation]\nname = "测试局机关党委"\n'
        f"[delivery]\nconcurrency = {IN_FLIGHT}\nlease_seconds = 3\nper_chat_interval_seconds = 0\n"
        f'rate_per_second = {RATE}\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
        "[scheduler]\ntick_seconds = 0.3\n"
        "[meetings]\ncompliance_remind_days = 0\n[dues]\nremind_day = 0\n"
    )


async def _prepare(url: str) -> int:
    """The organisation, its members, a broadcast waiting in the outbox and a post due in two
    seconds (a job every instance's scheduler will race for)."""
    from datetime import UTC, datetime, timedelta

    from bot.config import parse_config
    from bot.delivery import Outgoing, QuietHours, enqueue
    from bot.services import items
    from bot.services.audience import Audience
    from tests.conftest import OrgBuilder

    db = Database(url)
    try:
        config = parse_config({"database": {"url": url}}, env={})
        org_id = await prepare_database(config, db)
        org = OrgBuilder(db, org_id)
        people = [await org.member(f"党员{i:02d}", telegram_id=50_000 + i) for i in range(MEMBERS)]
        deps = Deps(config, db, org_id)
        now = datetime.now(UTC)
        async with db.write() as session:
            await enqueue(
                session,
                [Outgoing(10_000 + i, None, f"第 {i} 条", "notice") for i in range(RECIPIENTS)],
                now=now,
                quiet=QuietHours(0, 0, deps.push.tz),
            )
            assert people[0].branch_id is not None
            await items.create_item(
                session,
                deps.push,
                None,
                items.Draft(
                    items.KIND_STUDY,
                    "定时学习",
                    "正文",
                    Audience("branch", people[0].branch_id, ""),
                ),
                now=now,
                publish_at=now + timedelta(seconds=2),
            )
            await session.commit()
    finally:
        await db.dispose()
    return org_id


async def test_three_instances_share_the_work_exactly_once(
    bot_database_url: str, sandbox: tuple[Any, str], tmp_path: Path
) -> None:
    import signal
    from collections import Counter

    from sqlalchemy import func, select

    from storage.models import Delivery, Item, Receipt
    from tests.e2e.conftest import free_port
    from tests.e2e.test_crash import start_bot

    sb, base = sandbox
    await _prepare(bot_database_url)
    processes = []
    for n in range(3):
        config = tmp_path / f"instance{n}.toml"
        config.write_text(
            instance_config(base, sb.token, bot_database_url, free_port()), encoding="utf-8"
        )
        processes.append(await start_bot(config))
    total = RECIPIENTS + MEMBERS

    def ours() -> list[Any]:
        return [m for m in sb.sent if m.chat_id >= 10_000]

    expected = [10_000 + i for i in range(RECIPIENTS)] + [50_000 + i for i in range(MEMBERS)]
    try:
        # Rows go out roughly in id order: by the 40th recipient all three are sending.
        await sb.wait_for_message(10_039, timeout=60)
        # One instance dies mid-broadcast; the others finish its share once its leases run out.
        processes[0].send_signal(signal.SIGKILL)
        await processes[0].wait()
        for chat in expected:
            await sb.wait_for_message(chat, timeout=60)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()

    sent = ours()
    per_chat = Counter(m.chat_id for m in sent)
    assert set(per_chat) == set(expected)
    # At most the killed instance's messages in flight were sent twice.
    assert sum(count - 1 for count in per_chat.values()) <= IN_FLIGHT
    # The global rate held across the instances: no one-second window over the limit.
    times = sorted(m.received_at for m in sent)
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= RATE + 1, busiest
    db = Database(bot_database_url)
    try:
        async with db.read() as session:
            posts = (await session.scalars(select(Item.published_at))).all()
            receipts = await session.scalar(select(func.count(Receipt.id)))
            records = await session.scalar(select(func.count(Delivery.id)))
            unsent = await session.scalar(
                select(func.count(Delivery.id)).where(Delivery.status != "sent")
            )
    finally:
        await db.dispose()
    # The post due while three schedulers were running was published once: one receipt and
    # one outbox row per member, one row per broadcast recipient.
    assert len(posts) == 1 and posts[0] is not None
    assert (receipts, records, unsent) == (MEMBERS, total, 0)
