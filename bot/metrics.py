"""What the running bot counts, for `GET /metrics` (Prometheus) and `GET /healthz`.

One `Metrics` per application, on its own `CollectorRegistry` (never the library's global one),
so tests and several applications in one process never share a count. Nothing is registered
at import time.

- Updates handled, by kind, and how long their handling took: `observe_update`, called by the
  inbound path (`bot.inbound.Inbound.handle`) once per update; a counter and a histogram, on
  label children bound here once, so the hot path allocates nothing for them.
- Sends by outcome: `observe_send`, called by the sender as it records a wave.
- Scheduler lag (how late each job fired): `observe_job_lag`.
- The outbox backlog and the background work queued are counted in the database when scraped
  (`bot.web.health`), and the age of each loop's last cycle read from its `Heartbeat`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

UPDATE_KINDS = ("message", "command", "callback", "other")
# How a send ended (bot.delivery.Outcome.result): sent; unreachable (blocked, never started);
# failed (refused, or out of tries); retry (a network error or 5xx: tried again later);
# rate_limited (Telegram's 429); deferred (handed back unsent during a flood pause).
SEND_OUTCOMES = ("sent", "retry", "rate_limited", "deferred", "unreachable", "failed")
LOOPS = ("scheduler", "sender")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Jobs fire within a tick (scheduler.tick_seconds, 5 s by default) unless the bot was down.
_LAG_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)


def update_kind(update: Any) -> str:
    """message, command (a message starting with /), callback (a button press) or other (an
    edit, a member change, …). Attribute reads only: this runs for every update."""
    if update.callback_query is not None:
        return "callback"
    message = update.message
    if message is None:
        return "other"
    text = message.text
    return "command" if text is not None and text.startswith("/") else "message"


class UpdateMetrics(Protocol):
    """What the inbound path needs: a start time, then the update and that time once handled."""

    def now(self) -> float: ...

    def observe_update(self, update: Any, started: float) -> None: ...


class NoMetrics:
    """Counts nothing: the inbound path's default until the composition root gives it an
    application's `Metrics`."""

    def now(self) -> float:
        return 0.0

    def observe_update(self, update: Any, started: float) -> None:
        return None


NO_METRICS = NoMetrics()


class Heartbeat:
    """When a loop (the scheduler, the sender) last completed a cycle, by a monotonic clock.
    `interval`: how often it cycles when all is well. `paused_until`: the loop waits on
    purpose until then (the sender, for Telegram's flood control): a pause, not a stall."""

    __slots__ = ("clock", "interval", "last", "paused_until", "started")

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last: float | None = None
        self.paused_until = 0.0

    def beat(self) -> None:
        self.last = self.clock()

    def pause(self, until: float) -> None:
        """The loop waits on purpose until `until` (this heartbeat's clock)."""
        self.paused_until = max(self.paused_until, until)

    def age(self) -> float | None:
        """Seconds since the last completed cycle; None before the first."""
        return None if self.last is None else self.clock() - self.last


class Metrics:
    """One application's metrics, on a registry of its own."""

    now = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        updates = Counter(
            "branchbot_updates_handled",
            "Updates handled, by kind (message, command, callback, other).",
            ["kind"],
            registry=r,
        )
        latency = Histogram(
            "branchbot_update_handling_seconds",
            "Time from an update's handling starting in its lane to its handlers finishing.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._updates = {kind: updates.labels(kind) for kind in UPDATE_KINDS}
        self._latency = {kind: latency.labels(kind) for kind in UPDATE_KINDS}
        self._sends_counter = Counter(
            "branchbot_sends",
            "Outbox messages the sender tried, by outcome.",
            ["outcome"],
            registry=r,
        )
        self._sends = {outcome: self._sends_counter.labels(outcome) for outcome in SEND_OUTCOMES}
        self.scheduler_lag = Histogram(
            "branchbot_scheduler_lag_seconds",
            "How late each scheduled job fired: the firing time minus its scheduled time.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "branchbot_outbox_backlog",
            "Outbox messages waiting to be sent (pending rows), counted when scraped.",
            registry=r,
        )
        self.background_jobs = Gauge(
            "branchbot_background_jobs",
            "Heavy work (exports, reports, charts, roster imports) queued or at work, by status.",
            ["status"],
            registry=r,
        )
        self.loop_age = Gauge(
            "branchbot_loop_last_cycle_age_seconds",
            "Seconds since the scheduler's or the sender's last completed cycle (NaN: none yet "
            "or not run by this instance).",
            ["loop"],
            registry=r,
        )
        ProcessCollector(registry=r)
        # Where /healthz and /metrics are served, once the server is up (for tests and logs).
        self.served_at: str | None = None
        # Where the Feishu callback server listens (webhook mode; port 0 picks one in tests).
        self.feishu_at: str | None = None

    def observe_update(self, update: Any, started: float) -> None:
        kind = update_kind(update)
        self._updates[kind].inc()
        self._latency[kind].observe(time.perf_counter() - started)

    def observe_send(self, outcome: str) -> None:
        child = self._sends.get(outcome)
        (child if child is not None else self._sends_counter.labels(outcome)).inc()

    def observe_job_lag(self, seconds: float) -> None:
        self.scheduler_lag.observe(max(0.0, seconds))
