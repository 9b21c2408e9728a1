"""A sender killed with SIGKILL mid-broadcast: the next process finishes it, repeating at most
the one message that was in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.channels.address import FEISHU, alias
from bot.delivery import Outgoing, QuietHours, enqueue
from bot.sandbox import BotApiSandbox
from bot.sandbox.feishu import FeishuStandIn, run_feishu_standin
from storage import migrate
from storage.db import Database
from storage.models import Contact

RECIPIENTS = 300


def config_text(base: str, token: str, db_path: Path) -> str:
    return (
        f'[telegram]\ntoken = "{token}"\napi_base_url = "{base}/bot"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db_path}"\n'
        # One message in flight at a time, and a short lease so the restart reclaims it soon.
        "[delivery]\nconcurrency = 1\nlease_seconds = 2\nper_chat_interval_seconds = 0\n"
        'rate_per_second = 200\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
    )


async def start_bot(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_killed_sender_resumes_with_at_most_one_repeat(sandbox, tmp_path: Path) -> None:
    sb: BotApiSandbox = sandbox[0]
    base: str = sandbox[1]
    db_path = tmp_path / "crash.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await migrate.upgrade(db)
    async with db.write() as session:
        await enqueue(
            session,
            [Outgoing(10_000 + i, None, f"第 {i} 条", "notice") for i in range(RECIPIENTS)],
            now=datetime.now(UTC),
            quiet=QuietHours(0, 0, ZoneInfo("UTC")),
        )
        await session.commit()
    await db.dispose()
    config = tmp_path / "b.toml"
    config.write_text(config_text(base, sb.token, db_path), encoding="utf-8")

    def delivered() -> int:
        return len([m for m in sb.sent if m.chat_id >= 10_000])

    first = await start_bot(config)
    try:
        # Messages go out in id order, one at a time: the 50th recipient marks 50 sent.
        await sb.wait_for_message(10_049, timeout=30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
    killed_at = delivered()
    assert killed_at < RECIPIENTS, "the broadcast finished before the kill; send more"

    second = await start_bot(config)
    try:
        async with asyncio.timeout(60):
            for i in range(RECIPIENTS):
                await sb.wait_for_message(10_000 + i, timeout=60)
        await asyncio.sleep(0.5)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=20)
    finally:
        if second.returncode is None:
            second.kill()
    per_chat = Counter(m.chat_id for m in sb.sent if m.chat_id >= 10_000)
    assert set(per_chat) == {10_000 + i for i in range(RECIPIENTS)}
    repeats = sum(count - 1 for count in per_chat.values())
    assert repeats <= 1, per_chat.most_common(3)


FEISHU_RECIPIENTS = 120


async def test_killed_feishu_sender_resumes_and_repeats_nothing(tmp_path: Path) -> None:
    """The same on Feishu, in a Feishu-only office (no Telegram token): the outbox's lease
    brings the broadcast back after SIGKILL, and the uuid each row is sent with makes Feishu
    drop the one message that may have been in flight, so every member gets theirs once."""
    standin = FeishuStandIn(encrypt_key="", verification_token="vt")
    open_ids = [f"ou_{i:04d}" for i in range(FEISHU_RECIPIENTS)]
    for open_id in open_ids:
        standin.add_user(open_id, open_id)
    db_path = tmp_path / "crash.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await migrate.upgrade(db)
    async with db.write() as session:
        for open_id in open_ids:
            session.add(
                Contact(chat_id=alias(FEISHU, open_id), channel=FEISHU, external_id=open_id)
            )
        await session.flush()
        await enqueue(
            session,
            [
                Outgoing(alias(FEISHU, open_id), None, f"第 {i} 条", "notice")
                for i, open_id in enumerate(open_ids)
            ],
            now=datetime.now(UTC),
            quiet=QuietHours(0, 0, ZoneInfo("UTC")),
        )
        await session.commit()
    await db.dispose()
    async with run_feishu_standin(standin) as base:
        config = tmp_path / "f.toml"
        config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{db_path}"\n'
            "[delivery]\nconcurrency = 1\nlease_seconds = 2\n"
            'quiet_start = "00:00"\nquiet_end = "00:00"\n'
            f'[feishu]\napp_id = "{standin.app_id}"\napp_secret = "{standin.app_secret}"\n'
            f'mode = "webhook"\nverification_token = "vt"\nport = 0\napi_base_url = "{base}"\n'
            "rate_per_second = 100\nper_chat_interval_seconds = 0\n"
            "[health]\nport = 0\n",
            encoding="utf-8",
        )
        first = await start_bot(config)
        try:
            await standin.wait_for_message(open_ids[29], timeout=30)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
        killed_at = len(standin.sent)
        assert killed_at < FEISHU_RECIPIENTS, "the broadcast finished before the kill"

        second = await start_bot(config)
        try:
            async with asyncio.timeout(60):
                for open_id in open_ids:
                    await standin.wait_for_message(open_id, timeout=60)
            await asyncio.sleep(0.5)
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), timeout=20)
        finally:
            if second.returncode is None:
                second.kill()
    per_person = Counter(m.open_id for m in standin.sent)
    assert set(per_person) == set(open_ids)
    assert max(per_person.values()) == 1, per_person.most_common(3)
    # What each got is the row's own text, rendered as a card.
    assert standin.messages_to(open_ids[7])[0].text == "第 7 条"
