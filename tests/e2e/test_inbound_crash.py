"""`branchbot run` in webhook mode killed with SIGKILL while members' presses pour in: after a
restart, and Telegram delivering again what was never acknowledged, every press is applied
exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from sqlalchemy import func, select, text

from bot.app import prepare_database
from bot.channels.address import FEISHU, alias
from bot.config import parse_config
from bot.sandbox import BotApiSandbox
from bot.sandbox.feishu import FeishuStandIn, card_action_event, run_feishu_standin
from bot.services import items
from bot.services.audience import Audience
from bot.web.server import SECRET_HEADER
from handlers.common import Deps
from storage.db import Database
from storage.models import Contact, InboxUpdate, ItemTally, Member, Receipt, Role
from tests.conftest import PG_ENV, OrgBuilder, Person
from tests.e2e.conftest import free_port
from tests.e2e.test_crash import start_bot as start_bot_process

SECRET = "crash_test-secret"
R = TypeVar("R")
MEMBERS = 300
FIRST_USER = 20_000


def config_text(base: str, token: str, url: str, port: int) -> str:
    return (
        f'[telegram]\ntoken = "{token}"\napi_base_url = "{base}/bot"\nmode = "webhook"\n'
        # A short lease: the restarted process takes back interrupted updates within a second.
        "update_lease_seconds = 1\n"
        f'[webhook]\nlisten = "127.0.0.1"\nport = {port}\npath = "/hook"\n'
        f'public_url = "http://127.0.0.1:{port}"\nsecret_token = "{SECRET}"\n'
        f'[database]\nurl = "{url}"\n'
        '[organisation]\nname = "测试局机关党委"\n'
        '[delivery]\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
    )


async def start_bot(config: Path, port: int) -> asyncio.subprocess.Process:
    """`branchbot run` in its own process, once its webhook server listens."""
    process = await start_bot_process(config)
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process
        except OSError:
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("the bot never listened")


async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    if process.returncode is None:
        process.send_signal(sig)
        await asyncio.wait_for(process.wait(), timeout=30)


async def prepare(url: str, base: str, token: str, port: int) -> int:
    """An organisation whose members all got one study item; the item's id."""
    config = parse_config({"database": {"url": url}, "telegram": {"token": token}}, env={})
    db = Database(url)
    try:
        org_id = await prepare_database(config, db)
        org = OrgBuilder(db, org_id)
        secretary = await org.member("书记", role=Role.SECRETARY, telegram_id=9)
        for n in range(MEMBERS):
            await org.member(f"党员{n}", telegram_id=FIRST_USER + n)
        return await post_item(Deps(config, db, org_id), secretary)
    finally:
        await db.dispose()


async def post_item(deps: Deps, secretary: Person) -> int:
    """One study item to the secretary's whole branch; its id."""
    async with deps.db.write() as session:
        posted = await items.post(
            session,
            deps.push,
            secretary.actor(),
            items.Draft(
                items.KIND_STUDY,
                "学习党章",
                "第一章",
                Audience("branch", secretary.branch_id or 0, ""),
            ),
            now=deps.now(),
        )
    return posted.item_id


async def killed_mid_burst_then_redelivered(
    config: Path,
    port: int,
    url: str,
    item_id: int,
    members: int,
    presses: list[R],
    post: Callable[[list[R]], Coroutine[Any, Any, list[int]]],
) -> tuple[int, int, int]:
    """Start the bot, post the presses many at once, SIGKILL it once some are confirmed and
    others still arriving; restart it and post again what got no 2xx, as the messenger would,
    and the acknowledged ones too (repeats must change nothing). The counts at the end."""
    first = await start_bot(config, port)
    try:
        posting = asyncio.create_task(post(presses))
        for _ in range(600):
            if (await counts(url, item_id))[0] >= members // 10:
                break
            await asyncio.sleep(0.02)
        await stop(first)
        statuses = await posting
    finally:
        await stop(first)
    before_restart = (await counts(url, item_id))[0]
    assert 0 < before_restart < members, "the kill came too early or too late; tune the test"

    second = await start_bot(config, port)
    try:
        unanswered = [
            p for p, status in zip(presses, statuses, strict=True) if not 200 <= status < 300
        ]
        again = await post(unanswered + presses)
        assert all(200 <= status < 300 for status in again)
        return await wait_for_all(url, item_id, members)
    finally:
        await stop(second, signal.SIGTERM)


def press(n: int, item_id: int) -> dict[str, Any]:
    user = FIRST_USER + n
    sender = {"id": user, "is_bot": False, "first_name": f"党员{n}"}
    return {
        "update_id": 500_000 + n,
        "callback_query": {
            "id": f"q{user}",
            "from": sender,
            "chat_instance": str(user),
            "data": f"it:ok:{item_id}",
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user, "type": "private", "first_name": f"党员{n}"},
            },
        },
    }


async def post_all(
    url: str, updates: list[dict[str, Any]], *, connections: int = 32
) -> dict[int, int]:
    """Post as Telegram does, many at once; the status of each (0: no answer)."""
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(update)
    timeout = aiohttp.ClientTimeout(total=5)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            update = queue.get_nowait()
            try:
                async with session.post(
                    url, json=update, headers={SECRET_HEADER: SECRET}
                ) as response:
                    statuses[update["update_id"]] = response.status
            except (aiohttp.ClientError, TimeoutError):
                statuses[update["update_id"]] = 0

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return statuses


async def counts(url: str, item_id: int) -> tuple[int, int, int]:
    """(confirmed receipts, the tally's confirmed count, inbox rows not done)."""
    db = Database(url)
    try:
        async with db.read() as session:
            confirmed = await session.scalar(
                select(func.count())
                .select_from(Receipt)
                .where(Receipt.item_id == item_id, Receipt.confirmed_at.is_not(None))
            )
            tally = await session.scalar(
                select(func.coalesce(func.sum(ItemTally.done), 0)).where(
                    ItemTally.item_id == item_id
                )
            )
            pending = await session.scalar(
                select(func.count()).select_from(InboxUpdate).where(InboxUpdate.done_at.is_(None))
            )
        return int(confirmed or 0), int(tally or 0), int(pending or 0)
    finally:
        await db.dispose()


async def wait_for_all(url: str, item_id: int, expected: int) -> tuple[int, int, int]:
    found = (0, 0, 0)
    for _ in range(600):
        found = await counts(url, item_id)
        if found[0] >= expected and found[2] == 0:
            await asyncio.sleep(0.5)
            return await counts(url, item_id)
        await asyncio.sleep(0.1)
    return found


async def test_killed_mid_burst_every_press_is_applied_once(
    sandbox: tuple[BotApiSandbox, str], bot_database_url: str, tmp_path: Path
) -> None:
    sb, base = sandbox
    port = free_port()
    item_id = await prepare(bot_database_url, base, sb.token, port)
    config = tmp_path / "bot.toml"
    config.write_text(config_text(base, sb.token, bot_database_url, port), encoding="utf-8")
    hook = f"http://127.0.0.1:{port}/hook"
    presses = [press(n, item_id) for n in range(MEMBERS)]

    async def post(updates: list[dict[str, Any]]) -> list[int]:
        statuses = await post_all(hook, updates)
        return [statuses.get(update["update_id"], 0) for update in updates]

    confirmed, tally, pending = await killed_mid_burst_then_redelivered(
        config, port, bot_database_url, item_id, MEMBERS, presses, post
    )
    assert (confirmed, tally, pending) == (MEMBERS, MEMBERS, 0)


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason="the PostgreSQL tier (CI sets it)")
@pytest.mark.parametrize("bot_database_url", ["postgres"], indirect=True)
async def test_killed_between_acknowledging_and_committing(
    sandbox: tuple[BotApiSandbox, str], bot_database_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: the receipts table is locked, so the press is kept and acknowledged but its
    handler cannot commit; the process is killed there. After the restart it is applied once."""
    sb, base = sandbox
    port = free_port()
    item_id = await prepare(bot_database_url, base, sb.token, port)
    config = tmp_path / "bot.toml"
    config.write_text(config_text(base, sb.token, bot_database_url, port), encoding="utf-8")
    hook = f"http://127.0.0.1:{port}/hook"
    one = press(0, item_id)
    blocker = Database(bot_database_url)
    first = await start_bot(config, port)
    try:
        async with blocker.engine.connect() as conn:
            transaction = await conn.begin()
            await conn.execute(text("LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE"))
            statuses = await post_all(hook, [one], connections=1)
            assert statuses[one["update_id"]] == 200
            # The handler is now waiting for the lock: kill it there.
            for _ in range(200):
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting, "the handler never reached its commit"
            await stop(first)
            await transaction.rollback()
    finally:
        await stop(first)
        await blocker.dispose()
    assert await counts(bot_database_url, item_id) == (0, 0, 1)

    second = await start_bot(config, port)
    try:
        # Telegram does not deliver it again (it got 200); a stray repeat must change nothing.
        await post_all(hook, [one], connections=1)
        found = await wait_for_all(bot_database_url, item_id, 1)
    finally:
        await stop(second, signal.SIGTERM)
    assert found == (1, 1, 0)


async def test_an_update_that_could_not_be_kept_is_not_acknowledged(
    sandbox: tuple[BotApiSandbox, str], tmp_path: Path
) -> None:
    """SQLite held by another process: the webhook does not answer 2xx, so Telegram delivers
    the update again; the process dies meanwhile; the redelivery is applied once."""
    sb, base = sandbox
    port = free_port()
    path = tmp_path / "held.db"
    url = f"sqlite+aiosqlite:///{path}"
    item_id = await prepare(url, base, sb.token, port)
    config = tmp_path / "bot.toml"
    config.write_text(config_text(base, sb.token, url, port), encoding="utf-8")
    hook = f"http://127.0.0.1:{port}/hook"
    one = press(0, item_id)
    first = await start_bot(config, port)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        statuses = await post_all(hook, [one], connections=1)
        assert statuses[one["update_id"]] != 200
        await stop(first)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await stop(first)
    assert (await counts(url, item_id))[0] == 0

    second = await start_bot(config, port)
    try:
        again = await post_all(hook, [one], connections=1)
        assert again[one["update_id"]] == 200
        found = await wait_for_all(url, item_id, 1)
    finally:
        await stop(second, signal.SIGTERM)
    assert found == (1, 1, 0)


FEISHU_MEMBERS = 150


async def test_killed_mid_burst_every_feishu_press_is_applied_once(
    bot_database_url: str, tmp_path: Path
) -> None:
    """The same on Feishu (an office on Feishu alone, webhook mode): presses arrive as signed,
    encrypted card actions; the bot is killed while they pour in; Feishu delivers again what got
    no 200, the same event ids; every press is applied once."""
    standin = FeishuStandIn()
    open_ids = [f"ou_m{n:04d}" for n in range(FEISHU_MEMBERS)]
    for open_id in open_ids:
        standin.add_user(open_id, open_id)
    port = free_port()
    async with run_feishu_standin(standin) as base:
        item_id = await prepare_feishu(bot_database_url, open_ids)
        config = tmp_path / "bot.toml"
        config.write_text(
            f'[database]\nurl = "{bot_database_url}"\n'
            '[organisation]\nname = "测试局机关党委"\n'
            "[telegram]\nupdate_lease_seconds = 1\n"
            '[delivery]\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
            f'[feishu]\napp_id = "{standin.app_id}"\napp_secret = "{standin.app_secret}"\n'
            f'mode = "webhook"\nverification_token = "{standin.verification_token}"\n'
            f'encrypt_key = "{standin.encrypt_key}"\napi_base_url = "{base}"\n'
            f'listen = "127.0.0.1"\nport = {port}\npath = "/feishu"\n'
            "rate_per_second = 500\nper_chat_interval_seconds = 0\n",
            encoding="utf-8",
        )
        hook = f"http://127.0.0.1:{port}/feishu"
        presses = [
            standin.signed_request(
                card_action_event(
                    app_id=standin.app_id,
                    token=standin.verification_token,
                    open_id=open_id,
                    message_id="om_item",
                    value={"d": f"it:ok:{item_id}"},
                    event_id=f"press-{n}",
                )
            )
            for n, open_id in enumerate(open_ids)
        ]

        confirmed, tally, pending = await killed_mid_burst_then_redelivered(
            config,
            port,
            bot_database_url,
            item_id,
            FEISHU_MEMBERS,
            presses,
            lambda requests: post_signed(hook, requests),
        )
    assert (confirmed, tally, pending) == (FEISHU_MEMBERS, FEISHU_MEMBERS, 0)


async def prepare_feishu(url: str, open_ids: list[str]) -> int:
    """Members known only on Feishu, all sent one study item; the item's id."""
    config = parse_config({"database": {"url": url}}, env={})
    db = Database(url)
    try:
        org_id = await prepare_database(config, db)
        org = OrgBuilder(db, org_id)
        secretary = await org.member("书记", role=Role.SECRETARY, telegram_id=9)
        async with db.write() as session:
            for n, open_id in enumerate(open_ids):
                member = Member(
                    organisation_id=org_id,
                    name=f"党员{n}",
                    branch_id=secretary.branch_id,
                    group_id=secretary.group_id,
                )
                session.add(member)
                await session.flush()
                chat = alias(FEISHU, open_id)
                session.add(
                    Contact(chat_id=chat, channel=FEISHU, external_id=open_id, member_id=member.id)
                )
                member.chat_id = chat
            await session.commit()
        return await post_item(Deps(config, db, org_id), secretary)
    finally:
        await db.dispose()


async def post_signed(
    url: str, requests: list[tuple[bytes, dict[str, str]]], *, connections: int = 32
) -> list[int]:
    """Post as Feishu does, many at once; the status of each, in order (0: no answer)."""
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[int, tuple[bytes, dict[str, str]]]] = asyncio.Queue()
    for index, request in enumerate(requests):
        queue.put_nowait((index, request))
    timeout = aiohttp.ClientTimeout(total=5)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            index, (body, headers) = queue.get_nowait()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    statuses[index] = response.status
            except (aiohttp.ClientError, TimeoutError):
                statuses[index] = 0

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return [statuses.get(n, 0) for n in range(len(requests))]
