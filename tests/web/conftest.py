"""A running dashboard over the known scenario, on a loopback port, sharing the handler
harness's database and clock (so a code shown on the page can be sent to the bot)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from aiohttp import web

from bot import background
from bot.services import dashboard_links
from bot.web.dashboard import Dashboard, add_routes
from handlers.common import Deps
from tests.conftest import Person

# The handler harness (bot, sandbox, clock) is a fixture here too: the page and the chat share it.
from tests.handlers.conftest import Harness, harness  # noqa: F401
from tests.scenario import NOW, Scenario, build_scenario


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RecordingPool:
    """The real worker processes, noting what the dashboard had them make."""

    def __init__(self) -> None:
        self.pool = background.ProcessPool(1)
        self.kinds: list[str] = []

    async def run(self, work: background.Work) -> background.Outcome:
        self.kinds.append(work.kind)
        return await self.pool.run(work)

    def close(self) -> None:
        self.pool.close()


@dataclass
class Site:
    url: str
    deps: Deps
    scenario: Scenario
    harness: Harness
    pool: RecordingPool

    async def link(self, who: Person, *, minutes: int = 10, issued_minutes_ago: int = 0) -> str:
        from datetime import timedelta

        async with self.deps.db.write() as session:
            token, _ = await dashboard_links.issue(
                session,
                who.actor(),
                minutes=minutes,
                now=self.deps.now() - timedelta(minutes=issued_minutes_ago),
            )
        return f"{self.url}/dashboard/login?t={token}"


@pytest.fixture
async def site(harness: Harness) -> AsyncIterator[Site]:  # noqa: F811 (the fixture above)
    scenario = await build_scenario(harness.deps.db, harness.deps.org_id)
    harness.set_now(NOW)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = harness.deps
    config = replace(
        base.config, dashboard=replace(base.config.dashboard, enabled=True, public_url=url)
    )
    # The harness's own Deps, with the dashboard on: one clock and one database for both.
    object.__setattr__(base, "config", config)
    app = web.Application()
    pool = RecordingPool()
    add_routes(app, Dashboard(base, "branchbot_test_bot", pool=pool))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Site(url, base, scenario, harness, pool)
    finally:
        await runner.cleanup()
        pool.close()
