"""The outbox and its sender.

Every push is a `Delivery` row written in the same transaction as whatever caused it. The sender
claims rows with a lease, sends them within Telegram's limits, and records the outcome. A crash
leaves claimed rows leased; when the lease runs out they are claimed again, so nothing is lost
and only messages that were in flight can be repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time as monotonic_time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter
from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.channels.address import CHANNELS, FEISHU, TELEGRAM, channel_of
from bot.channels.message import from_another_channel, neutral_buttons, telegram_keyboard
from bot.config import DeliveryConfig, parse_hhmm
from bot.metrics import Heartbeat, Metrics
from storage.db import Database
from storage.models import Delivery, Member, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class BotApi(Protocol):
    """What the sender needs from Telegram: one method call, errors as PTB's exceptions."""

    async def call(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]] | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class QuietHours:
    """A nightly window, in the organisation's zone, when non-urgent pushes wait."""

    start_minute: int
    end_minute: int
    tz: ZoneInfo

    @classmethod
    def from_config(cls, config: DeliveryConfig, tz: ZoneInfo) -> QuietHours:
        start = parse_hhmm(config.quiet_start)
        end = parse_hhmm(config.quiet_end)
        assert start is not None and end is not None  # validated with the config
        return cls(start.hour * 60 + start.minute, end.hour * 60 + end.minute, tz)

    def _inside(self, minute: int) -> bool:
        if self.start_minute == self.end_minute:
            return False
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        return self._inside(local.hour * 60 + local.minute)

    def release(self, moment: datetime) -> datetime:
        """`moment` itself outside the window, else the window's end (as UTC)."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(self.tz)
        end = local.replace(
            hour=self.end_minute // 60, minute=self.end_minute % 60, second=0, microsecond=0
        )
        if end <= local:
            end = (local + timedelta(days=1)).replace(
                hour=self.end_minute // 60, minute=self.end_minute % 60, second=0, microsecond=0
            )
        return end.astimezone(UTC)


@dataclass(frozen=True)
class Outgoing:
    """One message to queue; `markup` is an InlineKeyboardMarkup as a dict."""

    chat_id: int
    member_id: int | None
    text: str
    purpose: str
    item_id: int | None = None
    markup: dict[str, Any] | None = None
    document_file_id: str | None = None
    urgent: bool = False


async def enqueue(
    session: AsyncSession, messages: Sequence[Outgoing], *, now: datetime, quiet: QuietHours
) -> None:
    """Add outbox rows to the caller's transaction (one executemany); the caller commits."""
    if not messages:
        return
    release = quiet.release(now)
    await session.execute(
        insert(Delivery),
        [
            {
                "member_id": m.member_id,
                "chat_id": m.chat_id,
                "channel": channel_of(m.chat_id),
                "item_id": m.item_id,
                "purpose": m.purpose,
                "text": m.text,
                # The channel-neutral form (bot.channels.message): each sender renders it.
                "reply_markup": json.dumps(buttons, ensure_ascii=False)
                if (buttons := neutral_buttons(m.markup))
                else None,
                "document_file_id": m.document_file_id,
                "urgent": m.urgent,
                "status": "pending",
                "not_before": now if m.urgent else release,
                "attempts": 0,
                "created_at": now,
            }
            for m in messages
        ],
    )


# GCRA in one statement: the slots start at the later of "now" and the end of the last ones;
# the row moves on by `step` (one message's 1/rate, times the messages reserved).
_RESERVE = text(
    """
    INSERT INTO send_pace (id, next_at)
    VALUES (:pace, extract(epoch FROM clock_timestamp()) + :step)
    ON CONFLICT (id) DO UPDATE
    SET next_at = GREATEST(send_pace.next_at, extract(epoch FROM clock_timestamp())) + :step
    RETURNING next_at - :step - extract(epoch FROM clock_timestamp())
    """
)


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    member_id: int | None
    text: str
    reply_markup: str | None
    document_file_id: str | None
    attempts: int


@dataclass(frozen=True)
class Outcome:
    row: Claimed
    values: dict[str, Any]
    member_unreachable: bool = False

    @property
    def result(self) -> str:
        """How the send ended, for the metrics (bot.metrics.SEND_OUTCOMES)."""
        status = str(self.values["status"])
        if status != "pending":
            return status
        if "attempts" in self.values:
            return "retry"
        if str(self.values.get("last_error", "")).startswith("RetryAfter"):
            return "rate_limited"
        return "deferred"


def _seconds(value: timedelta | float) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class Sender:
    """Sends due outbox rows. Several may run against one database: claims never overlap."""

    def __init__(
        self,
        db: Database,
        api: BotApi,
        config: DeliveryConfig,
        quiet: QuietHours,
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 0.5,
        wake: asyncio.Event | None = None,
        metrics: Metrics | None = None,
        channel: str = TELEGRAM,
    ) -> None:
        self.db = db
        # Each channel's sender claims only its own rows, at its own pace (its row in send_pace).
        self.channel = channel
        self._pace_row = CHANNELS.index(channel) + 1
        # Fetches a document kept by another channel: (name, bytes), or None for our own.
        self.documents: Callable[[str], Awaitable[tuple[str, bytes] | None]] | None = None
        self._documents: dict[str, str] = {}
        self._document_locks: dict[str, asyncio.Lock] = {}
        self.api = api
        self.config = config
        self.quiet = quiet
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        # Beats after every recorded wave and every round: /healthz reads it.
        self.heartbeat = Heartbeat(poll_seconds)
        rate = (
            config.paid_rate_per_second if config.allow_paid_broadcast else config.rate_per_second
        )
        # A bucket of one: sends are spaced 1/rate apart, so no one-second window ever holds
        # more than the configured rate (a full-second bucket would allow twice that).
        self.limiter = AsyncLimiter(1, 1.0 / rate)
        self._rate = rate
        # PostgreSQL may serve several instances: their senders share one pace in the database.
        # SQLite runs one sender (storage.single_writer), whose own limiter is enough.
        self._shared_pace = not db.is_sqlite
        self._chat_ready: dict[int, float] = {}
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._paused_until = 0.0
        self._wake = wake or asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def claim(self, limit: int) -> list[Claimed]:
        now = self.clock()
        lease = now + timedelta(seconds=self.config.lease_seconds)
        due = (Delivery.channel == self.channel) & or_(
            (Delivery.status == "pending") & (Delivery.not_before <= now),
            (Delivery.status == "sending") & (Delivery.lease_until < now),
        )
        if self.quiet.contains(now):
            due = due & Delivery.urgent.is_(True)
        candidates = (
            select(Delivery.id)
            .where(due)
            .order_by(Delivery.urgent.desc(), Delivery.not_before, Delivery.id)
            .limit(limit)
            # PostgreSQL: rows another sender holds are skipped, not waited for. SQLite renders
            # nothing here; its BEGIN IMMEDIATE already makes the claim exclusive.
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(Delivery)
            .where(Delivery.id.in_(candidates.scalar_subquery()))
            .values(status="sending", lease_until=lease)
            .returning(
                Delivery.id,
                Delivery.chat_id,
                Delivery.member_id,
                Delivery.text,
                Delivery.reply_markup,
                Delivery.document_file_id,
                Delivery.attempts,
            )
        )
        async with self.db.write() as session:
            rows = sorted((await session.execute(claim)).all())
            await session.commit()
        return [Claimed(*row) for row in rows]

    async def _pace(self, chat_id: int, slot: float | None = None) -> None:
        """Wait for a global RetryAfter pause, the chat's own spacing, and the global rate."""
        while True:
            now = monotonic_time.monotonic()
            wait = max(self._paused_until, self._chat_ready.get(chat_id, 0.0)) - now
            if wait <= 0:
                break
            if self._paused_until > now:
                # Waiting out Telegram's flood control: /healthz reports a pause, not a stall.
                self.heartbeat.pause(self._paused_until)
            await asyncio.sleep(wait)
        self._chat_ready[chat_id] = (
            monotonic_time.monotonic() + self.config.per_chat_interval_seconds
        )
        await self.limiter.acquire()
        if slot is not None:
            # This message's share of the wave's reservation (see _reserve_wave).
            await asyncio.sleep(max(0.0, slot - monotonic_time.monotonic()))

    async def _reserve_wave(self, count: int) -> list[float | None]:
        """On PostgreSQL: take the next `count` send slots of all instances together in one
        statement (the shared row moves on by count/rate, by the database's clock), and return
        when each message of the wave may go (monotonic time). Elsewhere: no slots."""
        if not self._shared_pace:
            return [None] * count
        step = 1.0 / self._rate
        async with self.db.write() as session:
            wait = await session.scalar(_RESERVE, {"step": step * count, "pace": self._pace_row})
            await session.commit()
        start = monotonic_time.monotonic() + max(0.0, float(wait or 0.0))
        return [start + i * step for i in range(count)]

    async def _transmit(self, row: Claimed) -> int:
        params: dict[str, Any] = {"chat_id": row.chat_id, "parse_mode": "HTML"}
        if row.reply_markup:
            # Telegram's inline keyboard; another channel's adapter renders the neutral form.
            keyboard = (
                telegram_keyboard(row.reply_markup)
                if self.channel == TELEGRAM
                else row.reply_markup
            )
            if keyboard:
                params["reply_markup"] = keyboard
        if self.config.allow_paid_broadcast:
            params["allow_paid_broadcast"] = True
        if self.channel == FEISHU:
            # Feishu drops a second message with the same uuid: a row sent again after a crash
            # (its lease ran out mid-send) reaches the member once.
            params["feishu_uuid"] = f"branchbot-{row.id}"
        if row.document_file_id:
            params = {**params, "caption": row.text}
            document = row.document_file_id
            upload = await self._foreign_document(document)
            if upload is not None:
                # As a document, whatever it holds: Telegram would make a video of a video.
                params["disable_content_type_detection"] = True
                result = await self.api.call("sendDocument", params, {"document": upload})
                sent = result.get("document") or {}
                if sent.get("file_id"):
                    # Uploaded once; the rest of the broadcast sends Telegram's own file id.
                    self._documents[document] = str(sent["file_id"])
            else:
                result = await self.api.call(
                    "sendDocument", {**params, "document": self._documents.get(document, document)}
                )
        else:
            result = await self.api.call("sendMessage", {**params, "text": row.text})
        return int(result["message_id"])

    async def _foreign_document(self, file_id: str) -> tuple[str, bytes] | None:
        """A document another channel keeps (a file a secretary sent on Feishu), fetched to be
        uploaded here; None for this channel's own file ids, and once it has been uploaded."""
        if self.documents is None:
            return None
        # One fetch and one upload for a whole wave: the others wait, then send the file id.
        async with self._document_locks.setdefault(file_id, asyncio.Lock()):
            if file_id in self._documents:
                return None
            with from_another_channel():
                return await self.documents(file_id)

    def _backoff(self, attempts: int) -> float:
        cap = min(
            self.config.backoff_base_seconds * 2.0 ** max(attempts - 1, 0),
            self.config.backoff_max_seconds,
        )
        # "Equal jitter": at least half the exponential delay, the rest random, so retries
        # spread out and a recovering server is not hit by a wave.
        return cap / 2 + random.uniform(0, cap / 2)

    async def attempt(self, row: Claimed, slot: float | None = None) -> Outcome:
        """Send one claimed row; the outcome says what to record. Messages to one chat go one
        after another, in the order they were queued (a document before the text it belongs
        to), however the sends of a wave interleave."""
        lock = self._chat_locks.setdefault(row.chat_id, asyncio.Lock())
        async with lock:
            return await self._attempt(row, slot)

    async def _attempt(self, row: Claimed, slot: float | None) -> Outcome:
        paused = self._paused_until - monotonic_time.monotonic()
        if paused > 0:
            # Flood control is on: hand the row back rather than sit on its lease through the
            # pause, where another sender could take it over and send it twice.
            return Outcome(
                row,
                {
                    "status": "pending",
                    "not_before": self.clock() + timedelta(seconds=paused),
                },
            )
        await self._pace(row.chat_id, slot)
        try:
            message_id = await self._transmit(row)
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            self._paused_until = max(self._paused_until, monotonic_time.monotonic() + wait)
            log.warning("flood control: pausing sends for %.0f s", wait)
            return Outcome(
                row,
                {
                    "status": "pending",
                    "not_before": self.clock() + timedelta(seconds=wait),
                    "last_error": f"RetryAfter {wait:.0f}s",
                },
            )
        except Forbidden as exc:
            # Blocked, deactivated, or never started the bot: retrying cannot help.
            return Outcome(
                row,
                {"status": "unreachable", "last_error": str(exc)[:300]},
                member_unreachable=True,
            )
        except BadRequest as exc:
            return Outcome(row, {"status": "failed", "last_error": str(exc)[:300]})
        except (TelegramError, OSError) as exc:
            # Network errors, time-outs and 5xx: worth another try, later.
            attempts = row.attempts + 1
            if attempts >= self.config.max_attempts:
                return Outcome(
                    row, {"status": "failed", "attempts": attempts, "last_error": str(exc)[:300]}
                )
            return Outcome(
                row,
                {
                    "status": "pending",
                    "attempts": attempts,
                    "not_before": self.clock() + timedelta(seconds=self._backoff(attempts)),
                    "last_error": str(exc)[:300],
                },
            )
        return Outcome(
            row,
            {
                "status": "sent",
                "telegram_message_id": message_id,
                "sent_at": self.clock(),
                "last_error": None,
            },
        )

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """One transaction for a wave of sends: a crash repeats at most that wave."""
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for outcome in outcomes:
            values = {"id": outcome.row.id, "lease_until": None, **outcome.values}
            by_shape.setdefault(tuple(sorted(values)), []).append(values)
        unreachable = [
            o.row.member_id for o in outcomes if o.member_unreachable and o.row.member_id
        ]
        reached = [
            o.row.member_id for o in outcomes if o.values["status"] == "sent" and o.row.member_id
        ]
        async with self.db.write() as session:
            # Bulk UPDATE by primary key: one executemany per shape of outcome.
            for rows in by_shape.values():
                await session.execute(update(Delivery), rows)
            if unreachable:
                await session.execute(
                    update(Member)
                    .where(Member.id.in_(unreachable))
                    .values(unreachable_at=self.clock())
                )
            if reached:
                await session.execute(
                    update(Member)
                    .where(Member.id.in_(reached), Member.unreachable_at.is_not(None))
                    .values(unreachable_at=None)
                )
            await session.commit()
        if self.metrics is not None:
            for outcome in outcomes:
                self.metrics.observe_send(outcome.result)

    async def run_once(self) -> int:
        """Send what is due now in waves of `concurrency`; returns how many rows were handled.

        Each wave is recorded before the next is sent, so a crash repeats at most one wave:
        the messages that were in flight.
        """
        handled = 0
        wave = self.config.concurrency
        while True:
            rows = await self.claim(wave * 4)
            if not rows:
                return handled
            for start in range(0, len(rows), wave):
                chunk = rows[start : start + wave]
                slots = await self._reserve_wave(len(chunk))
                await self.record(
                    await asyncio.gather(
                        *(self.attempt(r, s) for r, s in zip(chunk, slots, strict=True))
                    )
                )
                # Every send of the wave is done: the per-chat order needs no memory beyond it.
                self._chat_locks.clear()
                # A long broadcast is progress, not a stall.
                self.heartbeat.beat()
            handled += len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        # The connection (and Feishu's token) made before the first wave: made inside it, the
        # first send would miss its reserved slot and crowd the next instance's.
        warm = getattr(self.api, "warm", None)
        if warm is not None:
            try:
                await warm()
            except Exception:
                log.warning("the %s sender could not reach it yet", self.channel, exc_info=True)
        while not stop.is_set():
            try:
                await self.run_once()
                self.heartbeat.beat()
            except Exception:
                log.exception("sender round failed; retrying")
            self._wake.clear()
            wait = asyncio.ensure_future(self._wake.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {wait, stopping}, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (wait, stopping):
                task.cancel()
