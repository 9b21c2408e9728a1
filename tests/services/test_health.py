"""What /healthz and /metrics are made of: the per-application registry, the loop states, the
database counts, the scheduler's lag and the sender's outcomes. (Served over HTTP, in both modes:
tests/e2e/test_health.py.)"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from bot import background
from bot.config import ConfigError, DeliveryConfig, HealthConfig, parse_config
from bot.delivery import Outgoing, QuietHours, Sender, enqueue
from bot.healthcheck import health_url
from bot.metrics import Heartbeat, Metrics, update_kind
from bot.sandbox import BotApiSandbox, SandboxBotApi
from bot.scheduler import Firing, Scheduler, add_job
from bot.web.health import Loop, Monitor
from storage.db import Database
from tests.conftest import OrgBuilder

TZ = ZoneInfo("Asia/Shanghai")
NO_QUIET = QuietHours(0, 0, TZ)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_metrics_has_its_own_registry_and_none_is_global() -> None:
    first, second = Metrics(), Metrics()
    first.observe_send("sent")
    assert sample(first, "branchbot_sends_total", outcome="sent") == 1
    assert sample(second, "branchbot_sends_total", outcome="sent") == 0
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("branchbot") for name in global_names)


def test_update_kinds() -> None:
    def update(callback: object = None, text: str | None = None, message: bool = True) -> object:
        return SimpleNamespace(
            callback_query=callback, message=SimpleNamespace(text=text) if message else None
        )

    assert update_kind(update(callback=object())) == "callback"
    assert update_kind(update(text="/help")) == "command"
    assert update_kind(update(text="hello")) == "message"
    assert update_kind(update(text=None)) == "message"  # a document, a photo
    assert update_kind(update(message=False)) == "other"  # an edit, a member change


def test_an_update_is_counted_and_timed_by_kind() -> None:
    metrics = Metrics()
    command = SimpleNamespace(callback_query=None, message=SimpleNamespace(text="/me"))
    metrics.observe_update(command, metrics.now() - 0.2)
    assert sample(metrics, "branchbot_updates_handled_total", kind="command") == 1
    assert sample(metrics, "branchbot_update_handling_seconds_count", kind="command") == 1
    assert sample(metrics, "branchbot_update_handling_seconds_sum", kind="command") >= 0.2
    assert sample(metrics, "branchbot_updates_handled_total", kind="message") == 0


async def _alive() -> None:
    await asyncio.Event().wait()


async def test_loop_states_follow_heartbeats_and_tasks(db: Database) -> None:
    clock = FakeClock()
    scheduler_beat = Heartbeat(5.0, clock)
    sender_beat = Heartbeat(0.5, clock)
    tasks = [asyncio.create_task(_alive()), asyncio.create_task(_alive())]
    loops: list[Loop] | None = [
        Loop("scheduler", scheduler_beat, tasks[0]),
        Loop("sender", sender_beat, tasks[1]),
    ]
    metrics = Metrics()
    monitor = Monitor(db, metrics, lambda: loops, grace_seconds=10.0)
    try:
        healthy, body = await monitor.check()
        # No cycle yet, just started: not healthy, but not stale either.
        assert not healthy and body["sender"]["state"] == "starting"
        scheduler_beat.beat()
        sender_beat.beat()
        healthy, body = await monitor.check()
        assert healthy and body["status"] == "ok"
        assert body["database"] == {"state": "ok"}
        assert body["sender"] == {
            "state": "ok",
            "last_cycle_age_seconds": 0.0,
            "stale_after_seconds": 11.5,
        }
        assert body["scheduler"]["stale_after_seconds"] == 25.0
        assert body["outbox"] == {"backlog": 0}
        assert body["background"] == {"pending": 0, "running": 0}

        # The sender stops cycling: stale once 3 intervals plus the grace have passed.
        clock.now += 11.0
        scheduler_beat.beat()
        assert (await monitor.check())[0]
        clock.now += 1.0
        healthy, body = await monitor.check()
        assert not healthy and body["status"] == "failing"
        assert body["sender"]["state"] == "stale" and body["sender"]["last_cycle_age_seconds"] == 12
        assert body["scheduler"]["state"] == "ok"
        assert sample(metrics, "branchbot_loop_last_cycle_age_seconds", loop="sender") == 12

        # Its task ended: down, however fresh its last beat.
        sender_beat.beat()
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        healthy, body = await monitor.check()
        assert not healthy and body["sender"]["state"] == "down"

        # Standing by for the SQLite lock: another process runs them; healthy.
        loops = None
        healthy, body = await monitor.check()
        assert healthy
        assert body["scheduler"] == {"state": "standby"} == body["sender"]
        assert math.isnan(sample(metrics, "branchbot_loop_last_cycle_age_seconds", loop="sender"))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_sender_waiting_out_telegrams_flood_control_is_paused_not_stale(
    db: Database,
) -> None:
    clock = FakeClock()
    sender_beat = Heartbeat(0.5, clock)
    scheduler_beat = Heartbeat(5.0, clock)
    tasks = [asyncio.create_task(_alive()), asyncio.create_task(_alive())]
    loops = [Loop("scheduler", scheduler_beat, tasks[0]), Loop("sender", sender_beat, tasks[1])]
    monitor = Monitor(db, Metrics(), lambda: loops, grace_seconds=10.0)
    try:
        sender_beat.beat()
        # Telegram says: retry after 300 s. The wave in flight waits that long.
        sender_beat.pause(clock.now + 300)
        clock.now += 200
        scheduler_beat.beat()
        healthy, body = await monitor.check()
        assert healthy and body["sender"]["state"] == "paused"
        # After the pause, a cycle may take as long as ever (11.5 s here) to complete.
        clock.now += 100 + 11.5
        scheduler_beat.beat()
        assert (await monitor.check())[1]["sender"]["state"] == "paused"
        clock.now += 1
        scheduler_beat.beat()
        healthy, body = await monitor.check()
        assert not healthy and body["sender"]["state"] == "stale"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_sender_says_when_it_waits_out_flood_control(db: Database) -> None:
    sender = Sender(db, SandboxBotApi(BotApiSandbox()), DeliveryConfig(), NO_QUIET)
    until = time.monotonic() + 0.2
    sender._paused_until = until
    await sender._pace(42)
    assert sender.heartbeat.paused_until == until
    assert time.monotonic() >= until


async def test_a_database_that_does_not_answer_is_down() -> None:
    gone = Database("sqlite+aiosqlite:////nonexistent-dir/branchbot.db")
    metrics = Metrics()
    try:
        healthy, body = await Monitor(gone, metrics, lambda: None, grace_seconds=0).check()
    finally:
        await gone.dispose()
    assert not healthy
    assert body["database"] == {"state": "down"}
    assert body["outbox"] == {"backlog": None} and body["background"] is None
    assert math.isnan(sample(metrics, "branchbot_outbox_backlog"))


async def test_backlog_and_background_queue_are_counted_in_the_database(
    db: Database, org: OrgBuilder
) -> None:
    now = datetime.now(UTC)
    person = await org.member("张三", telegram_id=11)
    async with db.write() as session:
        await enqueue(
            session,
            [Outgoing(11, None, "a", "notice"), Outgoing(12, None, "b", "notice")],
            now=now,
            quiet=NO_QUIET,
        )
        await session.commit()
    async with db.write() as session:
        request = background.Request("export", {}, person.member_id, 11, "zh", None)
        assert await background.submit(session, request, now=now)
    metrics = Metrics()
    counts = await Monitor(db, metrics, lambda: None, grace_seconds=0).counts()
    assert counts is not None
    assert counts.outbox_pending == 2
    assert counts.background == {"pending": 1, "running": 0}
    assert sample(metrics, "branchbot_outbox_backlog") == 2
    assert sample(metrics, "branchbot_background_jobs", status="pending") == 1


async def test_the_scheduler_records_how_late_a_job_fired(db: Database, org_id: int) -> None:
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    async def handler(session: AsyncSession, firing: Firing) -> datetime | None:
        return None

    async with db.write() as session:
        add_job(
            session,
            organisation_id=org_id,
            kind="mark",
            payload={},
            first=now - timedelta(seconds=42),
        )
        await session.commit()
    metrics = Metrics()
    sched = Scheduler(
        db, {"mark": handler}, TZ, grace=timedelta(hours=1), clock=lambda: now, metrics=metrics
    )
    assert sched.heartbeat.last is None
    assert await sched.run_due() == 1
    assert sample(metrics, "branchbot_scheduler_lag_seconds_count") == 1
    assert sample(metrics, "branchbot_scheduler_lag_seconds_sum") == 42
    assert sched.heartbeat.last is not None


async def test_the_sender_counts_sends_by_outcome(db: Database) -> None:
    fast = DeliveryConfig(
        per_chat_interval_seconds=0,
        rate_per_second=1000,
        backoff_base_seconds=0.0,
        backoff_max_seconds=0.0,
    )
    async with BotApiSandbox() as sb:
        sb.block_user(2)
        sb.inject_fault("sendMessage", 502, "Bad Gateway", chat_id=3)
        async with db.write() as session:
            await enqueue(
                session,
                [Outgoing(chat, None, "hello", "notice") for chat in (1, 2, 3)],
                now=datetime.now(UTC),
                quiet=NO_QUIET,
            )
            await session.commit()
        metrics = Metrics()
        sender = Sender(db, SandboxBotApi(sb), fast, NO_QUIET, metrics=metrics)
        await sender.run_once()
    assert sample(metrics, "branchbot_sends_total", outcome="sent") == 2  # 1, and 3's retry
    assert sample(metrics, "branchbot_sends_total", outcome="unreachable") == 1
    assert sample(metrics, "branchbot_sends_total", outcome="retry") == 1
    assert sample(metrics, "branchbot_sends_total", outcome="failed") == 0
    assert sender.heartbeat.last is not None
    families = {
        f.name
        for f in text_string_to_metric_families(
            prometheus_client.generate_latest(metrics.registry).decode()
        )
    }
    assert {
        "branchbot_updates_handled",
        "branchbot_update_handling_seconds",
        "branchbot_outbox_backlog",
        "branchbot_sends",
        "branchbot_scheduler_lag_seconds",
        "branchbot_background_jobs",
        "branchbot_loop_last_cycle_age_seconds",
    } <= families


def test_health_config_defaults_and_bounds() -> None:
    cfg = parse_config({}, env={})
    assert cfg.health == HealthConfig(True, "127.0.0.1", 8081, 60.0)
    assert parse_config({"health": {"port": 0}}, env={}).health.port == 0
    with pytest.raises(ConfigError) as bad:
        parse_config({"health": {"port": 70000, "grace_seconds": -1}}, env={})
    assert {key for key, _ in bad.value.problems} == {"health.port", "health.grace_seconds"}


def test_the_probe_asks_the_address_of_the_mode() -> None:
    polling = parse_config({"health": {"listen": "0.0.0.0", "port": 9100}}, env={})
    assert health_url(polling) == "http://127.0.0.1:9100/healthz"
    webhook = parse_config(
        {
            "telegram": {"mode": "webhook"},
            "webhook": {
                "listen": "0.0.0.0",
                "port": 8443,
                "public_url": "https://bot.example.org",
                "secret_token": "s3cret",
            },
        },
        env={},
    )
    assert health_url(webhook) == "http://127.0.0.1:8443/healthz"
