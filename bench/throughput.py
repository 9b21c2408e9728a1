"""Update throughput: the full stack (de-duplication, the caller's lookup, handlers, services,
the database, replies into the in-process Bot API sandbox) against a bare python-telegram-bot
application that does no work, both fed the same realistic mix of updates through
`Application.process_update`. Prints a table; asserts nothing.

    python bench/throughput.py [--updates 3000] [--members 200] [--database-url URL]

The mix: 60 % 「已学习」 presses on a pushed study item (the first confirms, repeats answer with a
notice), 20 % /me, 10 % /todo, 10 % /help. Without --database-url: a temporary SQLite file; with
it, an empty database (PostgreSQL: create one and drop it afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler

from bot.app import build_application, make_sender, prepare_database
from bot.config import parse_config
from bot.sandbox import BotApiSandbox, SandboxBotApi, SandboxRequest
from bot.services import items, updates
from bot.services.audience import Audience
from bot.services.members import get_actor
from handlers.common import Deps
from storage import migrate
from storage.db import Database
from storage.models import Branch, Member, Role, utcnow


async def make_updates(
    sandbox: BotApiSandbox, users: list[int], item_id: int, count: int
) -> list[dict[str, Any]]:
    rng = random.Random(7)
    updates = []
    for n in range(count):
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.6:
            message = sandbox.messages_to(user)[0]
            data = f"it:ok:{item_id}"
            updates.append(await sandbox.press_button(user, message.message_id, data))
        else:
            text = "/me" if roll < 0.8 else "/todo" if roll < 0.9 else "/help"
            updates.append(await sandbox.user_message(user, text))
        updates[-1]["update_id"] = 1_000_000 + n
    return updates


async def feed(app: Any, updates: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for data in updates:
        await app.process_update(Update.de_json(data, app.bot))
    return len(updates) / (time.perf_counter() - started)


async def full_stack(url: str, members: int, count: int) -> tuple[float, float]:
    db = Database(url)
    try:
        sandbox = BotApiSandbox()
        config = parse_config(
            {
                "telegram": {"token": sandbox.token},
                "database": {"url": url},
                "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
                "meetings": {"compliance_remind_days": 0},
            },
            env={},
        )
        org_id = await prepare_database(config, db)
        users = [10_000 + i for i in range(members)]
        async with db.write() as session:
            branch = Branch(organisation_id=org_id, name="机关第一支部")
            session.add(branch)
            await session.flush()
            session.add_all(
                Member(
                    organisation_id=org_id,
                    name=f"党员{i:03d}",
                    branch_id=branch.id,
                    telegram_user_id=user,
                    role=Role.SECRETARY if i == 0 else Role.MEMBER,
                    active=True,
                )
                for i, user in enumerate(users)
            )
            await session.commit()
        deps = Deps(config, db, org_id)
        async with db.read() as session:
            secretary = await get_actor(session, users[0], "zh")
        assert secretary is not None
        async with db.write() as session:
            posted = await items.post(
                session,
                deps.push,
                secretary,
                items.Draft(items.KIND_STUDY, "学习", "正文", Audience("branch", branch.id, "")),
                now=deps.now(),
            )
        # The sender delivers the pushes, so every member has a message to press on.
        sender = make_sender(deps, SandboxBotApi(sandbox))
        while await sender.run_once():
            pass
        updates = await make_updates(sandbox, users, posted.item_id, count)
        app = build_application(deps, request=SandboxRequest(sandbox))
        async with app:
            rate = await feed(app, updates)
        bare = ApplicationBuilder().token(sandbox.token).request(SandboxRequest(sandbox)).build()

        async def nothing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            return None

        bare.add_handler(TypeHandler(Update, nothing))
        async with bare:
            bare_rate = await feed(bare, updates)
        return rate, bare_rate
    finally:
        await db.dispose()


async def floors(url: str, rounds: int = 2000) -> tuple[float, float]:
    """What one database transaction costs through the same engine (µs): a read of one row,
    and the de-duplication's own write (one insert, one commit). Every update needs at least
    the write (Telegram delivers at least once), so this bounds the full stack from above."""
    db = Database(url)
    try:
        await migrate.upgrade(db)
        started = time.perf_counter()
        for _ in range(rounds):
            async with db.read() as session:
                await session.execute(text("SELECT 1"))
        read = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for n in range(rounds):
            async with db.write() as session:
                now = utcnow()
                await updates.admit(session, [{"update_id": 9_000_000 + n}], now, now)
                await session.commit()
        write = (time.perf_counter() - started) / rounds * 1e6
        return read, write
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        rate, bare = await full_stack(url, args.members, args.updates)
        read, write = await floors(url)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite file"
    print(f"{args.updates} updates, {args.members} members, {backend}")
    print(f"{'':44}{'updates/s':>12}{'µs each':>10}")
    for name, per_second in (
        ("bare python-telegram-bot", bare),
        ("branchbot full stack", rate),
        ("at most, one write transaction per update", 1e6 / write),
    ):
        print(f"{name:44}{per_second:>12.0f}{1e6 / per_second:>10.0f}")
    print(f"{'one read transaction (SELECT 1)':44}{'':>12}{read:>10.0f}")
    print(f"{'ratio full stack / bare (target >= 0.50)':44}{rate / bare:>12.2f}")
    print(f"{'ratio one write / bare (the ceiling)':44}{1e6 / write / bare:>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
