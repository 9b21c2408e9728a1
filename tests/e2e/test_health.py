"""/healthz and /metrics of the running bot, over HTTP: beside the webhook in webhook mode, on
their own port in polling mode; /healthz goes 503 when the sender stalls or stops."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.app import running
from bot.config import Config
from bot.delivery import Outgoing, enqueue
from bot.healthcheck import probe
from bot.sandbox import BotApiSandbox
from handlers.common import Deps
from tests.e2e.conftest import e2e_config, free_port

FAMILIES = {
    "branchbot_updates_handled",
    "branchbot_update_handling_seconds",
    "branchbot_outbox_backlog",
    "branchbot_sends",
    "branchbot_scheduler_lag_seconds",
    "branchbot_background_jobs",
    "branchbot_loop_last_cycle_age_seconds",
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base: str) -> tuple[set[str], Samples]:
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return names, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def health(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{base}/healthz") as resp:
        return resp.status, await resp.json()


async def until_health(
    http: aiohttp.ClientSession, base: str, status: int, within: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        got, body = await health(http, base)
        if got == status:
            return body
        assert time.monotonic() < deadline, f"/healthz still {got}: {body}"
        await asyncio.sleep(0.1)


async def until_metric(
    http: aiohttp.ClientSession, base: str, name: str, at_least: float, **labels: str
) -> Samples:
    deadline = time.monotonic() + 10
    while True:
        _, samples = await scrape(http, base)
        if value(samples, name, **labels) >= at_least:
            return samples
        assert time.monotonic() < deadline, f"{name}{labels} stayed below {at_least}"
        await asyncio.sleep(0.1)


async def push(deps: Deps, chat_id: int, *, later: bool = False) -> None:
    """One message through the outbox (`later`: held for an hour, so it stays in the backlog)."""
    now = datetime.now(UTC) + (timedelta(hours=1) if later else timedelta(0))
    async with deps.db.write() as session:
        await enqueue(
            session, [Outgoing(chat_id, None, "通知", "notice")], now=now, quiet=deps.push.quiet
        )
        await session.commit()
    deps.outbox_ready.set()


async def updates_and_sends_move(
    http: aiohttp.ClientSession, base: str, sb: BotApiSandbox, deps: Deps
) -> None:
    names, before = await scrape(http, base)
    assert names >= FAMILIES
    commands = value(before, "branchbot_updates_handled_total", kind="command")
    timed = value(before, "branchbot_update_handling_seconds_count", kind="command")
    sent = value(before, "branchbot_sends_total", outcome="sent")

    await sb.user_message(5, "/help")
    after = await until_metric(
        http, base, "branchbot_updates_handled_total", commands + 1, kind="command"
    )
    assert value(after, "branchbot_update_handling_seconds_count", kind="command") == timed + 1
    assert value(after, "branchbot_updates_handled_total", kind="message") == value(
        before, "branchbot_updates_handled_total", kind="message"
    )

    await push(deps, 6)
    await sb.wait_for_message(6, after=0, timeout=10)
    await until_metric(http, base, "branchbot_sends_total", sent + 1, outcome="sent")

    # A message held for later is the backlog, in /healthz and in /metrics.
    await push(deps, 7, later=True)
    body = await until_health(http, base, 200)
    assert body["outbox"] == {"backlog": 1}
    _, samples = await scrape(http, base)
    assert value(samples, "branchbot_outbox_backlog") == 1


def assert_healthy_body(body: dict[str, Any]) -> None:
    assert body["status"] == "ok"
    assert body["database"] == {"state": "ok"}
    for part in ("scheduler", "sender"):
        assert body[part]["state"] == "ok"
        assert 0 <= body[part]["last_cycle_age_seconds"] <= body[part]["stale_after_seconds"]
    assert body["background"] == {"pending": 0, "running": 0}
    assert isinstance(body["outbox"]["backlog"], int)


async def test_webhook_mode_serves_health_and_metrics_beside_the_webhook(
    sandbox, bot_database_url: str
) -> None:
    sb, base_url = sandbox
    config = e2e_config(base_url, sb.token, bot_database_url, mode="webhook")
    async with running(config) as (_, deps), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{config.webhook.port}"
        assert deps.metrics.served_at == base
        assert_healthy_body(await until_health(http, base, 200))
        await updates_and_sends_move(http, base, sb, deps)


async def test_polling_mode_serves_them_on_the_health_port_and_503_when_the_sender_stops(
    sandbox, bot_database_url: str
) -> None:
    sb, base_url = sandbox
    config = e2e_config(base_url, sb.token, bot_database_url, mode="polling")
    # The sender (a cycle every 0.5 s) is stale after 1.5 s plus 1 s without one.
    config = replace(config, health=replace(config.health, grace_seconds=1.0))
    async with running(config) as (_, deps), aiohttp.ClientSession() as http:
        base = deps.metrics.served_at
        assert base is not None and base.startswith("http://127.0.0.1:")
        assert not base.endswith((":0", ":8081"))
        body = await until_health(http, base, 200)
        assert_healthy_body(body)
        assert body["sender"]["stale_after_seconds"] == 2.5
        await updates_and_sends_move(http, base, sb, deps)

        # A send that hangs holds the sender's wave: no cycle completes, and /healthz says so.
        sb.inject_transport_fault("hang", "sendMessage", seconds=6.0)
        await push(deps, 8)
        body = await until_health(http, base, 503, within=5.0)
        assert body["status"] == "failing"
        assert body["sender"]["state"] == "stale"
        assert body["sender"]["last_cycle_age_seconds"] > 2.5
        assert body["scheduler"]["state"] == "ok" and body["database"] == {"state": "ok"}
        # The answer comes: the sender cycles again.
        await until_health(http, base, 200, within=10.0)
        assert len(sb.messages_to(8)) == 1

        # The sender's loop ends: down.
        (sender,) = [t for t in asyncio.all_tasks() if t.get_name() == "sender"]
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        body = await until_health(http, base, 503, within=2.0)
        assert body["sender"]["state"] == "down"
        assert body["scheduler"]["state"] == "ok"


def _write_config(path: Path, config: Config, health_port: int) -> None:
    path.write_text(
        f'[telegram]\ntoken = "{config.telegram.token}"\n'
        f'api_base_url = "{config.telegram.api_base_url}"\n'
        f'[database]\nurl = "{config.database.url}"\n'
        f"[health]\nport = {health_port}\n",
        encoding="utf-8",
    )


async def test_the_docker_probe_exits_0_when_healthy_and_1_when_not(
    sandbox, bot_database_url: str, tmp_path: Path
) -> None:
    sb, base_url = sandbox
    config = e2e_config(base_url, sb.token, bot_database_url, mode="polling")
    port = free_port()
    config = replace(config, health=replace(config.health, port=port))
    path = tmp_path / "branchbot.toml"
    _write_config(path, config, port)
    async with running(config), aiohttp.ClientSession() as http:
        await until_health(http, f"http://127.0.0.1:{port}", 200)
        assert await asyncio.to_thread(probe, path) == 0
        (sender,) = [t for t in asyncio.all_tasks() if t.get_name() == "sender"]
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        assert await asyncio.to_thread(probe, path) == 1
    # Nobody listening.
    assert await asyncio.to_thread(probe, path) == 1
