"""The outbox sender against the sandbox Bot API: limits, faults, leases and quiet hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.config import DeliveryConfig
from bot.delivery import Outgoing, QuietHours, Sender, enqueue
from bot.sandbox import BotApiSandbox, SandboxBotApi, run_sandbox
from bot.telegram_http import HttpBotApi
from storage.db import Database
from storage.models import Delivery, Member
from tests.conftest import OrgBuilder

TZ = ZoneInfo("Asia/Shanghai")
NO_QUIET = QuietHours(0, 0, TZ)
FAST = DeliveryConfig(
    per_chat_interval_seconds=0,
    rate_per_second=1000,
    backoff_base_seconds=0.0,
    backoff_max_seconds=0.0,
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


def test_quiet_hours_hold_until_morning() -> None:
    quiet = QuietHours.from_config(DeliveryConfig(), TZ)  # 22:00 to 07:30
    assert quiet.release(local(1, 23, 15)) == local(2, 7, 30).astimezone(UTC)
    assert quiet.release(local(2, 6, 0)) == local(2, 7, 30).astimezone(UTC)
    assert quiet.release(local(2, 12, 0)) == local(2, 12, 0)
    assert quiet.contains(local(1, 22, 0)) and not quiet.contains(local(1, 21, 59))


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    async with BotApiSandbox() as sb:
        yield sb


@pytest.fixture
def bot(sandbox: BotApiSandbox) -> SandboxBotApi:
    return SandboxBotApi(sandbox)


async def queue(
    db: Database,
    chats: list[int],
    *,
    now: datetime,
    quiet: QuietHours = NO_QUIET,
    urgent: bool = False,
    member_ids: list[int | None] | None = None,
) -> None:
    ids = member_ids or [None] * len(chats)
    async with db.write() as session:
        await enqueue(
            session,
            [
                Outgoing(c, m, f"hello {c}", "notice", urgent=urgent)
                for c, m in zip(chats, ids, strict=True)
            ],
            now=now,
            quiet=quiet,
        )
        await session.commit()


async def statuses(db: Database) -> dict[int, str]:
    async with db.read() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.id))).all()
    return {r.chat_id: r.status for r in rows}


async def test_sends_everything_once_and_records_message_ids(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    chats = list(range(1000, 1040))
    await queue(db, chats, now=datetime.now(UTC))
    sender = Sender(db, bot, FAST, NO_QUIET)
    assert await sender.run_once() == 40
    assert await sender.run_once() == 0
    assert sorted(m.chat_id for m in sandbox.sent) == chats
    async with db.read() as session:
        rows = (await session.scalars(select(Delivery))).all()
    assert all(r.status == "sent" and r.telegram_message_id and r.sent_at for r in rows)


async def test_quiet_hours_defer_all_but_urgent(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    night = local(1, 23, 0).astimezone(UTC)
    quiet = QuietHours.from_config(DeliveryConfig(), TZ)
    await queue(db, [1], now=night, quiet=quiet)
    await queue(db, [2], now=night, quiet=quiet, urgent=True)
    clock = {"now": night}
    sender = Sender(db, bot, FAST, quiet, clock=lambda: clock["now"])
    await sender.run_once()
    assert [m.chat_id for m in sandbox.sent] == [2]
    clock["now"] = local(2, 7, 31).astimezone(UTC)
    await sender.run_once()
    assert [m.chat_id for m in sandbox.sent] == [2, 1]


async def test_retry_after_is_obeyed(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    now = datetime.now(UTC)
    await queue(db, [1], now=now)
    sandbox.inject_fault("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    clock = {"now": now}
    sender = Sender(db, bot, FAST, NO_QUIET, clock=lambda: clock["now"])
    await sender.run_once()
    async with db.read() as session:
        row = await session.scalar(select(Delivery))
    assert row is not None and row.status == "pending" and row.attempts == 0
    assert row.not_before == now + timedelta(seconds=7)
    assert sender._paused_until > 0
    sender._paused_until = 0  # the pause is wall-clock; the test moves its own clock instead
    clock["now"] = now + timedelta(seconds=6)
    assert await sender.run_once() == 0
    clock["now"] = now + timedelta(seconds=7)
    assert await sender.run_once() == 1
    assert len(sandbox.sent) == 1


async def test_blocked_member_is_marked_unreachable_and_not_retried(
    db: Database, org: OrgBuilder, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    zhang = await org.member("张三", telegram_id=77)
    sandbox.block_user(77)
    await queue(db, [77], now=datetime.now(UTC), member_ids=[zhang.member_id])
    sender = Sender(db, bot, FAST, NO_QUIET)
    await sender.run_once()
    assert await statuses(db) == {77: "unreachable"}
    assert await sender.run_once() == 0
    async with db.read() as session:
        member = await session.get(Member, zhang.member_id)
    assert member is not None and member.unreachable_at is not None
    assert sandbox.sent == []


async def test_server_errors_back_off_then_give_up(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    await queue(db, [1, 2], now=datetime.now(UTC))
    sandbox.inject_fault("sendMessage", 502, "Bad Gateway", times=1, chat_id=1)
    sandbox.inject_fault("sendMessage", 500, "Internal Server Error", times=99, chat_id=2)
    sender = Sender(db, bot, replace(FAST, max_attempts=3), NO_QUIET)
    for _ in range(5):
        await sender.run_once()
    assert await statuses(db) == {1: "sent", 2: "failed"}
    async with db.read() as session:
        failed = await session.scalar(select(Delivery).where(Delivery.chat_id == 2))
    assert (
        failed is not None
        and failed.attempts == 3
        and "Internal Server Error" in (failed.last_error or "")
    )


async def test_network_errors_are_retried(db: Database) -> None:
    await queue(db, [1], now=datetime.now(UTC))
    sandbox = BotApiSandbox()
    async with run_sandbox(sandbox) as base:
        api = HttpBotApi(f"{base}/bot", sandbox.token)
        assert (await api.call("getMe", {}))["is_bot"]
    # The server is gone: the next request cannot connect.
    try:
        slow_retry = replace(FAST, backoff_base_seconds=60, backoff_max_seconds=600)
        await Sender(db, api, slow_retry, NO_QUIET).run_once()
    finally:
        await api.close()
    async with db.read() as session:
        row = await session.scalar(select(Delivery))
    assert row is not None and row.status == "pending" and row.attempts == 1
    assert "connect" in (row.last_error or "").lower()
    assert row.not_before >= row.created_at + timedelta(seconds=30)


async def test_expired_lease_is_claimed_again(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    now = datetime.now(UTC)
    await queue(db, [1, 2, 3], now=now)
    crashed = Sender(db, bot, FAST, NO_QUIET, clock=lambda: now)
    claimed = await crashed.claim(2)  # claimed, then the process died before sending
    assert len(claimed) == 2
    survivor_clock = {"now": now}
    survivor = Sender(db, bot, FAST, NO_QUIET, clock=lambda: survivor_clock["now"])
    assert await survivor.run_once() == 1  # only the unclaimed row, while the lease holds
    survivor_clock["now"] = now + timedelta(seconds=FAST.lease_seconds + 1)
    assert await survivor.run_once() == 2
    assert sorted(m.chat_id for m in sandbox.sent) == [1, 2, 3]


async def test_two_senders_never_send_a_row_twice(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    import asyncio

    await queue(db, list(range(1, 201)), now=datetime.now(UTC))
    other_db = db.reopen()
    try:
        a = Sender(db, bot, FAST, NO_QUIET)
        b = Sender(other_db, bot, FAST, NO_QUIET)
        counts = await asyncio.gather(a.run_once(), b.run_once())
    finally:
        await other_db.dispose()
    assert sum(counts) == 200
    assert sorted(m.chat_id for m in sandbox.sent) == list(range(1, 201))


async def test_paid_broadcast_flag_is_sent_when_configured(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    await queue(db, [1], now=datetime.now(UTC))
    await Sender(db, bot, replace(FAST, allow_paid_broadcast=True), NO_QUIET).run_once()
    [call] = sandbox.calls_to("sendMessage")
    assert call.params.get("allow_paid_broadcast") is True


async def test_per_chat_spacing_holds_messages_to_one_chat(
    db: Database, sandbox: BotApiSandbox, bot: SandboxBotApi
) -> None:
    import time

    await queue(db, [5, 5, 5], now=datetime.now(UTC))
    started = time.monotonic()
    await Sender(db, bot, replace(FAST, per_chat_interval_seconds=0.2), NO_QUIET).run_once()
    assert time.monotonic() - started >= 0.4  # three messages, two gaps
    assert len(sandbox.messages_to(5)) == 3
