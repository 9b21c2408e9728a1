"""`GET /healthz` and `GET /metrics`: served beside the webhook in webhook mode, and on their
own small server (`health.listen`:`health.port`) in polling mode.

/healthz answers 200 only when the database answers and the scheduler and the sender have each
completed a cycle lately (within three of their intervals plus `health.grace_seconds`), else
503; its JSON body gives each part's state and the outbox backlog. An instance that stands by
for the scheduler lock (another process on the same SQLite file runs them) reports "standby"
for both, which is healthy.

/metrics is the Prometheus text format (or OpenMetrics, if the scraper asks for it) of the
application's own registry (`bot.metrics.Metrics`); the database counts in it are taken when
it is scraped.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func, select

from bot.config import HealthConfig
from bot.metrics import LOOPS, Heartbeat, Metrics
from storage.db import Database
from storage.models import BackgroundJob, Delivery

log = logging.getLogger(__name__)

# A database that has not answered within this long is down, as far as a probe cares.
DB_TIMEOUT_SECONDS = 5.0
# The last cycle may be this many intervals old (plus health.grace_seconds) before it is stale.
INTERVALS = 3
HEALTHY_STATES = ("ok", "paused", "standby")


@dataclass(frozen=True)
class Loop:
    """A loop /healthz watches: its heartbeat, and the task that runs it."""

    name: str
    heartbeat: Heartbeat
    task: asyncio.Task[Any]


# The loops this instance runs now; None while it stands by (another process runs them).
Loops = Callable[[], Sequence[Loop] | None]


@dataclass(frozen=True)
class Counts:
    outbox_pending: int
    background: dict[str, int]


class Monitor:
    """Checks the parts of one running bot, for /healthz and /metrics."""

    def __init__(
        self, db: Database, metrics: Metrics, loops: Loops, *, grace_seconds: float
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.loops = loops
        self.grace_seconds = grace_seconds

    async def counts(self) -> Counts | None:
        """The outbox backlog and the background queue; None when the database does not answer
        in time. The gauges are set from them (NaN when the database is down)."""
        try:
            counts = await asyncio.wait_for(self._count(), DB_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("health check: the database does not answer (%s)", exc or type(exc))
            self.metrics.outbox_backlog.set(math.nan)
            for status in ("pending", "running"):
                self.metrics.background_jobs.labels(status).set(math.nan)
            return None
        self.metrics.outbox_backlog.set(counts.outbox_pending)
        for status, number in counts.background.items():
            self.metrics.background_jobs.labels(status).set(number)
        return counts

    async def _count(self) -> Counts:
        async with self.db.lookup() as conn:
            pending = await conn.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            rows = (
                await conn.execute(
                    select(BackgroundJob.status, func.count())
                    .where(BackgroundJob.status.in_(("pending", "running")))
                    .group_by(BackgroundJob.status)
                )
            ).all()
        background = {"pending": 0, "running": 0}
        background.update({str(status): int(number) for status, number in rows})
        return Counts(int(pending or 0), background)

    def loop_states(self) -> dict[str, dict[str, Any]]:
        """Each loop's state: ok, paused (waiting out Telegram's flood control, and for as long
        as a cycle may take after it), stale (no cycle completed lately), down (its task ended)
        or standby (this instance does not run it)."""
        loops = self.loops()
        if loops is None:
            for name in LOOPS:
                self.metrics.loop_age.labels(name).set(math.nan)
            return {name: {"state": "standby"} for name in LOOPS}
        states: dict[str, dict[str, Any]] = {}
        for loop in loops:
            beat = loop.heartbeat
            limit = INTERVALS * beat.interval + self.grace_seconds
            age = beat.age()
            if loop.task.done():
                state = "down"
            elif age is not None and age <= limit:
                state = "ok"
            elif beat.clock() <= beat.paused_until + limit:
                # Telegram asked the sender to wait: waiting is its job, not a stall.
                state = "paused"
            elif age is None and beat.clock() - beat.started <= limit:
                # Just started: its first cycle is under way.
                state = "starting"
            else:
                state = "stale"
            self.metrics.loop_age.labels(loop.name).set(math.nan if age is None else age)
            states[loop.name] = {
                "state": state,
                "last_cycle_age_seconds": None if age is None else round(age, 3),
                "stale_after_seconds": limit,
            }
        return states

    async def check(self) -> tuple[bool, dict[str, Any]]:
        counts = await self.counts()
        loops = self.loop_states()
        healthy = counts is not None and all(
            part["state"] in HEALTHY_STATES for part in loops.values()
        )
        body: dict[str, Any] = {
            "status": "ok" if healthy else "failing",
            "database": {"state": "ok" if counts is not None else "down"},
            **loops,
            "outbox": {"backlog": None if counts is None else counts.outbox_pending},
            "background": None if counts is None else counts.background,
        }
        return healthy, body


MONITOR_KEY: web.AppKey[Monitor] = web.AppKey("monitor", Monitor)


async def healthz(request: web.Request) -> web.Response:
    healthy, body = await request.app[MONITOR_KEY].check()
    return web.json_response(
        body, status=200 if healthy else 503, headers={"Cache-Control": "no-store"}
    )


async def metrics(request: web.Request) -> web.Response:
    monitor = request.app[MONITOR_KEY]
    await monitor.counts()
    monitor.loop_states()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(
        body=encode(monitor.metrics.registry),
        headers={"Content-Type": content_type, "Cache-Control": "no-store"},
    )


def add_routes(app: web.Application, monitor: Monitor) -> None:
    app[MONITOR_KEY] = monitor
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)


async def serve_health(app: web.Application, config: HealthConfig) -> web.AppRunner | None:
    """Polling mode: the health server on health.listen:health.port. A port already taken (a
    second instance on this machine) is logged, not fatal: the bot's own work goes on."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.listen, config.port).start()
    except OSError as exc:
        log.error(
            "health check and metrics not served: cannot listen on %s:%s (%s); set health.port",
            config.listen,
            config.port,
            exc,
        )
        await runner.cleanup()
        return None
    return runner


def bound_url(runner: web.AppRunner) -> str:
    """http://host:port of the first address the runner listens on (port 0 resolved)."""
    host, port = runner.addresses[0][:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"
