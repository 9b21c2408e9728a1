"""Webhook load from outside: what members meet. Every server is its own process on 127.0.0.1
(a recording Bot API stub, branchbot's `python -m bot run` in webhook mode on a SQLite file and
on PostgreSQL, a bare aiogram 3 bot and a bare python-telegram-bot 22 bot); updates are POSTed
as Telegram does (secret header, bounded connections) and an update counts as answered when the
stub has seen its answer. Prints tables; asserts nothing.

    python bench/webhook_load.py [--only throughput,burst,fairness,roster] [--updates 1200]
        [--members 300] [--burst 500] [--scale 5000] [--roster-rows 100000] [--probe-members 20]
        [--timeout 120] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_webhook]
        [--skip-postgres] [--skip-sqlite] [--skip-aiogram] [--logs DIR]

Figures:
- throughput: `--updates` updates from `--members` members (60 % 「已学习」 presses on the pushed
  item, first and repeated; 20 % /me; 20 % /help; seed 7) over 32 connections, to every target
  (after 16 warm-up updates): updates/s from the first POST to the last answer, answer latency,
  and the CPU time the target and this generator spent.
- burst: the stub answers every call after 50 ms; `--burst` members press 「已学习」 for the first
  time, together, over 40 connections; then the database must hold one confirmation each.
- fairness: one member sends 50 /todo at once and an admin a full-year /export (of the records
  bench/scale.py's populate writes for `--scale` members, and ours) while /help goes out every
  100 ms, from `--probe-members` members in turn: their reply latency. (One member sending
  all of them, `--probe-members 1`, is 600 a minute: over a per-member limit such as
  `telegram.member_per_minute`, which then drops most of them by design.)
- roster: a secretary uploads a `--roster-rows` roster CSV (as a document the stub serves through
  getFile) while /help goes out every 100 ms from `--probe-members` other members in turn: the
  first reply, the preview (the reply with the confirm button), and their reply latency.

The database (PostgreSQL: `--database-url`, created here and dropped after; an existing one is
refused) is seeded before the bot starts, in this process: to measure another checkout, put it
first on PYTHONPATH (`PYTHONPATH=/tmp/head python bench/webhook_load.py`); the children inherit
it. Every phase is bounded by `--timeout` and reports how many of its updates were answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from scale import populate
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import bot as bot_package
from bot.app import make_sender, prepare_database
from bot.config import parse_config
from bot.services import items
from bot.services.audience import Audience
from bot.services.members import get_actor
from bot.services.roster_csv import MAX_ROSTER_BYTES
from bot.telegram_http import HttpBotApi
from handlers.common import Deps
from storage import migrate
from storage.db import Database
from storage.models import AuditEntry, Branch, ItemTally, Member, Receipt, Role

HERE = Path(__file__).resolve().parent
TOKEN = "123456:bench-webhook-token"
SECRET = "bench-webhook-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ORG = "规模测试"  # the name bench/scale.py's populate gives the organisation
EXPORT_PERIOD = "2026"  # the year populate writes
PHASES = ("throughput", "burst", "fairness", "roster")
# Telegram ids of the members seeded here (populate's start at 10,000,000).
A_BASE, B_BASE, ADMIN_ID, ROSTER_SECRETARY = 20_000_000, 21_000_000, 22_000_000, 23_000_000
BOT_USER = {"id": 1, "is_bot": True, "first_name": "stub", "username": "stub_bot"}
POST_TIMEOUT = aiohttp.ClientTimeout(total=30)
RUNNING: list[Server] = []  # children to stop, whatever happens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml(sections: dict[str, dict[str, Any]]) -> str:
    """Enough TOML for a config file: JSON's strings, numbers and booleans are TOML's too."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [
            f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in values.items()
        ]
        lines.append("")
    return "\n".join(lines)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:,.0f}" if values else "-"


# --- child processes --------------------------------------------------------------------------


class Server:
    """A child process serving HTTP on loopback; its output goes to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, health: str) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.health = health
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRANCHBOT_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.log.parent
            )

    async def start(self, wait_s: float = 90.0) -> Server:
        self._spawn()
        RUNNING.append(self)
        deadline = time.monotonic() + wait_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    async with session.get(self.health) as response:
                        if response.status == 200:
                            return self
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {wait_s:.0f} s: {self.tail()}")
                await asyncio.sleep(0.1)

    def _terminate(self, grace: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def stop(self, grace: float = 15.0) -> None:
        await asyncio.to_thread(self._terminate, grace)
        if self in RUNNING:
            RUNNING.remove(self)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def stub_server(folder: Path, name: str, latency_ms: float, files: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(HERE / "webhook_stub.py"), "--port", str(port)]
    argv += ["--latency-ms", str(latency_ms), "--files", str(files)]
    return Server(name, argv, folder / f"{name}.log", f"http://127.0.0.1:{port}/_health")


def base_of(server: Server) -> str:
    return server.health.rsplit("/", 1)[0]


def bare_server(folder: Path, kind: str, stub: Server) -> Server:
    port = free_port()
    script = HERE / f"webhook_{kind}.py"
    argv = [sys.executable, str(script), "--port", str(port), "--api", base_of(stub)]
    argv += ["--token", TOKEN, "--secret", SECRET]
    return Server(kind, argv, folder / f"{kind}.log", f"http://127.0.0.1:{port}/healthz")


def bot_sections(url: str, stub_base: str) -> dict[str, dict[str, Any]]:
    return {
        "telegram": {
            "token": TOKEN,
            "api_base_url": stub_base + "/bot",
            "bot_username": "stub_bot",
        },
        "database": {"url": url},
        "organisation": {"name": ORG},
        "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
        # No standing job may fire and send during a measurement.
        "meetings": {"compliance_remind_days": 0},
        "dues": {"remind_day": 0},
    }


def branchbot_server(folder: Path, backend: Backend, phase: str, stub: Server) -> Server:
    port = free_port()
    sections = bot_sections(backend.url, base_of(stub))
    sections["telegram"]["mode"] = "webhook"
    sections["webhook"] = {
        "listen": "127.0.0.1",
        "port": port,
        "path": "/telegram",
        "public_url": "https://bench.invalid",
        "secret_token": SECRET,
    }
    name = f"branchbot-{backend.key}-{phase}"
    config = folder / f"{name}.toml"
    config.write_text(toml(sections), encoding="utf-8")
    argv = [sys.executable, "-m", "bot", "run", "--config", str(config)]
    return Server(name, argv, folder / f"{name}.log", f"http://127.0.0.1:{port}/healthz")


def webhook_url(server: Server) -> str:
    return base_of(server) + "/telegram"


# --- the stub's record and the answers ---------------------------------------------------------


class StubView:
    """Reads the stub's call record incrementally."""

    def __init__(self, session: aiohttp.ClientSession, server: Server) -> None:
        self.session = session
        self.url = base_of(server) + "/_stats"
        self.seen = 0

    async def new_calls(self) -> list[list[Any]]:
        async with self.session.get(self.url, params={"since": str(self.seen)}) as response:
            data = await response.json()
        self.seen += len(data["calls"])
        return data["calls"]


@dataclass
class Job:
    key: int  # the update_id
    update: dict[str, Any]
    press: str | None = None  # answered by answerCallbackQuery with this id
    chat: int | None = None  # or by `method` to this chat
    method: str = "sendMessage"


@dataclass
class Answers:
    """Pairs each update with its answer: a press with the answerCallbackQuery carrying its id,
    a command with the next unpaired `method` call to its chat (first posted, first paired)."""

    presses: dict[str, int] = field(default_factory=dict)
    chats: dict[tuple[str, int], deque[int]] = field(default_factory=lambda: defaultdict(deque))
    posted: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)  # the answer's first characters
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    watched: dict[int, list[tuple[float, str, str, bool]]] = field(default_factory=dict)

    def expect(self, job: Job) -> None:
        if job.press is not None:
            self.presses[job.press] = job.key
        else:
            assert job.chat is not None
            self.chats[(job.method, job.chat)].append(job.key)
        self.posted[job.key] = time.monotonic()

    def watch(self, chat: int) -> list[tuple[float, str, str, bool]]:
        """Every call to `chat` from now on: (arrival, method, text, has buttons)."""
        return self.watched.setdefault(chat, [])

    def feed(self, calls: Iterable[list[Any]]) -> None:
        for at, method, chat, query, _, snippet, markup in calls:
            self.counts[(method, chat)] += 1
            if chat in self.watched:
                self.watched[chat].append((at, method, snippet, markup))
            key = None
            if method == "answerCallbackQuery" and query in self.presses:
                key = self.presses.pop(query)
            elif self.chats.get((method, chat)):
                key = self.chats[(method, chat)].popleft()
            if key is not None:
                self.answered[key] = at
                self.texts[key] = snippet

    def done(self, keys: Iterable[int]) -> bool:
        return all(key in self.answered for key in keys)

    def latencies(self, keys: Iterable[int]) -> list[float]:
        return [self.answered[k] - self.posted[k] for k in keys if k in self.answered]

    def non_200(self) -> str:
        bad = {k: v for k, v in self.statuses.items() if k != "200"}
        return ", ".join(f"{v}×{k}" for k, v in bad.items()) or "0"


class Poster:
    def __init__(self, session: aiohttp.ClientSession, url: str, answers: Answers) -> None:
        self.session = session
        self.url = url
        self.answers = answers

    async def one(self, job: Job) -> None:
        body = json.dumps(job.update, ensure_ascii=False).encode()
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        self.answers.expect(job)
        try:
            async with self.session.post(
                self.url, data=body, headers=headers, timeout=POST_TIMEOUT
            ) as response:
                await response.read()
                self.answers.statuses[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.answers.statuses[type(exc).__name__] += 1

    async def many(self, jobs: list[Job], connections: int) -> None:
        """Like Telegram: at most `connections` requests open, each waiting for its answer."""
        queue = iter(jobs)

        async def worker() -> None:
            for job in queue:
                await self.one(job)

        await asyncio.gather(*(worker() for _ in range(connections)))

    async def every(self, interval: float, jobs: Iterable[Job], stop: asyncio.Event) -> list[int]:
        """One job every `interval` seconds, not waiting for the previous answer, until stop."""
        keys: list[int] = []
        tasks: set[asyncio.Task[None]] = set()
        due = time.monotonic()
        for job in jobs:
            if stop.is_set():
                break
            keys.append(job.key)
            task = asyncio.create_task(self.one(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
        await asyncio.gather(*tasks)
        return keys


async def wait_until(
    view: StubView, answers: Answers, done: Callable[[], bool], deadline: float
) -> bool:
    while True:
        answers.feed(await view.new_calls())
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


class Updates:
    """Telegram-shaped updates with increasing ids (unique across the run: branchbot records
    every update id it has processed)."""

    def __init__(self) -> None:
        self.ids = itertools.count(1_000_000)
        self.message_ids = itertools.count(1)

    @staticmethod
    def _user(user: int) -> dict[str, Any]:
        return {"id": user, "is_bot": False, "first_name": f"u{user}", "language_code": "zh"}

    def _message(self, user: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": f"u{user}"},
            "from": self._user(user),
            **content,
        }

    def command(self, user: int, command: str) -> Job:
        key = next(self.ids)
        entity = {"type": "bot_command", "offset": 0, "length": len(command.split()[0])}
        message = self._message(user, text=command, entities=[entity])
        return Job(key, {"update_id": key, "message": message}, chat=user)

    def press(self, user: int, message_id: int, data: str) -> Job:
        key = next(self.ids)
        query = {
            "id": str(key),
            "from": self._user(user),
            "chat_instance": f"ci{user}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private", "first_name": f"u{user}"},
                "from": BOT_USER,
                "text": "学习",
            },
        }
        return Job(key, {"update_id": key, "callback_query": query}, press=str(key))

    def document(self, user: int, file_id: str, name: str, size: int) -> Job:
        key = next(self.ids)
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "mime_type": "text/csv",
            "file_size": size,
        }
        message = self._message(user, document=document)
        return Job(key, {"update_id": key, "message": message}, chat=user)


# --- databases and seeding ---------------------------------------------------------------------


@dataclass
class Backend:
    key: str  # "sqlite" / "postgres"
    label: str
    url: str
    item_a: int = 0
    item_b: int = 0
    a_users: list[int] = field(default_factory=list)
    b_users: list[int] = field(default_factory=list)
    pushed: dict[int, int] = field(default_factory=dict)  # chat -> the push's message id

    @property
    def target(self) -> str:
        return f"branchbot, {self.label}"


async def create_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
            if exists:
                raise SystemExit(
                    f"database {parsed.database!r} already exists: drop it or name another "
                    "with --database-url (this script drops what it creates)"
                )
            await conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        await admin.dispose()


async def drop_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def seed(backend: Backend, args: argparse.Namespace, stub: Server, view: StubView) -> str:
    """Populate's year of records (`--scale` members), then our branches: A (`--members`
    members, the throughput's and fairness's), B (`--burst` members, the burst's), an office
    with the admin, and an empty branch whose secretary uploads the roster. One study item is
    pushed to A and one to B, and the sender delivers both to the stub before any bot starts."""
    started = time.perf_counter()
    db = Database(backend.url)
    try:
        if args.scale:
            await migrate.upgrade(db)
            await populate(db, args.scale, 3)
        sections = bot_sections(backend.url, base_of(stub))
        sections["delivery"].update(
            rate_per_second=1_000_000, per_chat_interval_seconds=0, concurrency=64
        )
        config = parse_config(sections, env={})
        org_id = await prepare_database(config, db)
        backend.a_users = [A_BASE + i for i in range(args.members)]
        backend.b_users = [B_BASE + i for i in range(args.burst)]
        async with db.write() as session:
            names = ("机关第一支部", "机关第二支部", "党委办公室", "名册支部")
            branches = [Branch(organisation_id=org_id, name=name) for name in names]
            session.add_all(branches)
            await session.flush()
            a, b, office, roster = (branch.id for branch in branches)
            rows = [
                (f"成员A{i:05d}", a, Role.SECRETARY if i == 0 else Role.MEMBER, user)
                for i, user in enumerate(backend.a_users)
            ]
            rows += [
                (f"成员B{i:05d}", b, Role.SECRETARY if i == 0 else Role.MEMBER, user)
                for i, user in enumerate(backend.b_users)
            ]
            rows += [("管理员", office, Role.ADMIN, ADMIN_ID)]
            rows += [("名册书记", roster, Role.SECRETARY, ROSTER_SECRETARY)]
            await session.execute(
                insert(Member),
                [
                    {
                        "organisation_id": org_id,
                        "name": name,
                        "branch_id": branch_id,
                        "role": role,
                        "telegram_user_id": user,
                        "active": True,
                    }
                    for name, branch_id, role, user in rows
                ],
            )
            await session.commit()
        deps = Deps(config, db, org_id)
        for users, branch_id, title in (
            (backend.a_users, a, "学习A"),
            (backend.b_users, b, "学习B"),
        ):
            async with db.read() as session:
                secretary = await get_actor(session, users[0], "zh")
            assert secretary is not None
            draft = items.Draft(items.KIND_STUDY, title, "正文", Audience("branch", branch_id, ""))
            async with db.write() as session:
                posted = await items.post(session, deps.push, secretary, draft, now=deps.now())
            if title == "学习A":
                backend.item_a = posted.item_id
            else:
                backend.item_b = posted.item_id
        await view.new_calls()  # skip what came before
        api = HttpBotApi(base_of(stub) + "/bot", TOKEN, pool_size=64)
        try:
            sender = make_sender(deps, api)
            while await sender.run_once():
                pass
        finally:
            await api.close()
        for _, method, chat, _, message_id, *_ in await view.new_calls():
            if method == "sendMessage" and chat is not None:
                backend.pushed[chat] = message_id
        async with db.engine.begin() as conn:
            # As autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would, in time.
            await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()
    missing = [u for u in backend.a_users + backend.b_users if u not in backend.pushed]
    return (
        f"{backend.label}: seeded in {time.perf_counter() - started:.1f} s "
        f"(populate {args.scale:,} members; pushes delivered to "
        f"{len(backend.pushed):,}, missing {len(missing)})"
    )


async def burst_check(backend: Backend) -> str:
    """Every presser must hold exactly one confirmation of item B: confirmed receipts, the
    audit records of confirming, and the running tally must all say `--burst`."""
    db = Database(backend.url)
    try:
        async with db.read() as session:
            total, confirmed = (
                await session.execute(
                    select(func.count(Receipt.id), func.count(Receipt.confirmed_at)).where(
                        Receipt.item_id == backend.item_b
                    )
                )
            ).one()
            audited = await session.scalar(
                select(func.count(AuditEntry.id)).where(
                    AuditEntry.entity == "item",
                    AuditEntry.entity_id == backend.item_b,
                    AuditEntry.action.like("%.confirmed"),
                )
            )
            twice = await session.scalar(
                select(func.count()).select_from(
                    select(AuditEntry.actor_member_id)
                    .where(
                        AuditEntry.entity == "item",
                        AuditEntry.entity_id == backend.item_b,
                        AuditEntry.action.like("%.confirmed"),
                    )
                    .group_by(AuditEntry.actor_member_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            tally = await session.scalar(
                select(func.sum(ItemTally.done)).where(ItemTally.item_id == backend.item_b)
            )
    finally:
        await db.dispose()
    return f"{confirmed}/{total} confirmed, audit {audited} ({twice} twice), tally {tally}"


# --- the phases --------------------------------------------------------------------------------


@dataclass
class Run:
    folder: Path
    args: argparse.Namespace
    session: aiohttp.ClientSession
    stub: Server
    view: StubView
    updates: Updates = field(default_factory=Updates)
    tables: list[tuple[str, list[str], list[list[str]], list[str]]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def deadline(self) -> float:
        return time.monotonic() + self.args.timeout

    def status(self, answered: int, expected: int, ok: bool) -> str:
        if ok:
            return ""
        return f"timed out after {self.args.timeout:.0f} s, {answered} of {expected} answered"


def throughput_jobs(run: Run, backend: Backend, rng_seed: int = 7) -> list[Job]:
    rng = random.Random(rng_seed)
    data = f"it:ok:{backend.item_a}"
    jobs = []
    for _ in range(run.args.updates):
        user = rng.choice(backend.a_users)
        roll = rng.random()
        if roll < 0.6:
            jobs.append(run.updates.press(user, backend.pushed.get(user, 1), data))
        else:
            jobs.append(run.updates.command(user, "/me" if roll < 0.8 else "/help"))
    return jobs


def cpu_seconds(server: Server) -> float:
    """User and system CPU time the child has used so far (Linux /proc)."""
    assert server.proc is not None
    try:
        fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def warm_up(
    run: Run, poster: Poster, answers: Answers, users: list[int], view: StubView | None = None
) -> None:
    """A running bot is warm: /help and /me from a few members first, answered (at most 30 s)
    before the clock starts, so imports, pools and caches are not what is timed."""
    jobs = [run.updates.command(u, c) for u in users for c in ("/help", "/me")]
    await poster.many(jobs, 4)
    keys = [job.key for job in jobs]
    await wait_until(view or run.view, answers, lambda: answers.done(keys), time.monotonic() + 30)
    # An answer still owed must not be paired with a measured update.
    answers.chats.clear()


async def measure_throughput(
    run: Run, target: str, server: Server, jobs: list[Job], warm: list[int]
) -> list[str]:
    await server.start()
    try:
        await run.view.new_calls()
        answers = Answers()
        poster = Poster(run.session, webhook_url(server), answers)
        await warm_up(run, poster, answers, warm)
        cpu, own_cpu = cpu_seconds(server), time.process_time()
        started = time.monotonic()
        posting = asyncio.create_task(poster.many(jobs, 32))
        keys = [job.key for job in jobs]
        ok = await wait_until(run.view, answers, lambda: answers.done(keys), run.deadline())
        cpu, own_cpu = cpu_seconds(server) - cpu, time.process_time() - own_cpu
        posting.cancel()
        await asyncio.gather(posting, return_exceptions=True)
    finally:
        await server.stop()
    latencies = answers.latencies(keys)
    answered = len(latencies)
    seconds = (max(answers.answered.values()) if ok else time.monotonic()) - started
    return [
        target,
        f"{answered}/{len(jobs)}",
        f"{seconds:.1f}",
        f"{answered / seconds:,.0f}",
        ms(latencies, 0.5),
        ms(latencies, 0.99),
        f"{cpu:.2f}",
        f"{own_cpu:.2f}",
        answers.non_200(),
        run.status(answered, len(jobs), ok),
    ]


async def phase_throughput(run: Run, backends: list[Backend]) -> None:
    rows: list[list[str]] = []
    # The same members, mix and order (seed 7) for every target; the item and message ids are
    # each database's own, and the bare frameworks get exactly the first backend's updates.
    first = throughput_jobs(run, backends[0])
    warm = backends[0].a_users[-8:]
    if not run.args.skip_aiogram:
        if importlib.util.find_spec("aiogram") is None:
            rows.append(["aiogram 3 (bare)", *["-"] * 8, "not installed"])
        else:
            server = bare_server(run.folder, "aiogram", run.stub)
            run.logs.append(server.log)
            rows.append(await measure_throughput(run, "aiogram 3 (bare)", server, first, warm))
    server = bare_server(run.folder, "ptb", run.stub)
    run.logs.append(server.log)
    target = "python-telegram-bot 22 (bare)"
    rows.append(await measure_throughput(run, target, server, first, warm))
    for n, backend in enumerate(backends):
        jobs = first if n == 0 else throughput_jobs(run, backend)
        server = branchbot_server(run.folder, backend, "throughput", run.stub)
        run.logs.append(server.log)
        rows.append(await measure_throughput(run, backend.target, server, jobs, warm))
    notes = []
    aiogram = next((r for r in rows if r[0].startswith("aiogram") and r[3] != "-"), None)
    for row in rows:
        if row[0].startswith("branchbot") and aiogram is not None and not row[-1]:
            ratio = float(row[3].replace(",", "")) / float(aiogram[3].replace(",", ""))
            by_cpu = float(aiogram[6]) / float(row[6]) if float(row[6]) else math.nan
            notes.append(
                f"ratio {row[0]} / aiogram: {ratio:.2f} in updates/s, {by_cpu:.2f} in CPU "
                "per update"
            )
    n_press = sum(1 for job in first if job.press)
    head = ["target", "answered", "seconds", "updates/s", "p50 ms", "p99 ms"]
    head += ["target CPU s", "load CPU s", "non-200", "note"]
    title = (
        f"throughput: {len(first):,} updates ({n_press} presses, {len(first) - n_press} /me and "
        f"/help) from {run.args.members} members over 32 connections; stub latency 0; "
        "after 16 warm-up updates"
    )
    notes.append("CPU s: the target's, and this load generator's own, during the timed part")
    run.tables.append((title, head, rows, notes))


async def one_burst(run: Run, backend: Backend, stub: Server, view: StubView) -> list[str]:
    server = branchbot_server(run.folder, backend, "burst", stub)
    run.logs.append(server.log)
    users = list(backend.b_users)
    random.Random(11).shuffle(users)
    data = f"it:ok:{backend.item_b}"
    jobs = [run.updates.press(u, backend.pushed.get(u, 1), data) for u in users]
    keys = [job.key for job in jobs]
    answers = Answers()
    await server.start()
    try:
        await view.new_calls()
        poster = Poster(run.session, webhook_url(server), answers)
        await warm_up(run, poster, answers, backend.a_users[-8:], view)
        started = time.monotonic()
        posting = asyncio.create_task(poster.many(jobs, 40))
        ok = await wait_until(view, answers, lambda: answers.done(keys), run.deadline())
        posting.cancel()
        await asyncio.gather(posting, return_exceptions=True)
    finally:
        await server.stop()
    latencies = answers.latencies(keys)
    end = max(answers.answered.values()) if ok else time.monotonic()
    return [
        backend.target,
        f"{len(latencies)}/{len(jobs)}",
        f"{end - started:.1f}",
        ms(latencies, 0.5),
        ms(latencies, 0.99),
        answers.non_200(),
        await burst_check(backend),
        run.status(len(latencies), len(jobs), ok),
    ]


async def phase_burst(run: Run, backends: list[Backend]) -> None:
    stub = await stub_server(run.folder, "stub-50ms", 50, run.folder / "files").start()
    run.logs.append(stub.log)
    try:
        view = StubView(run.session, stub)
        rows = [await one_burst(run, backend, stub, view) for backend in backends]
    finally:
        await stub.stop()
    head = ["target", "answered", "last s", "p50 ms", "p99 ms", "non-200", "database", "note"]
    title = (
        f"burst: {run.args.burst} first presses from {run.args.burst} members at once over "
        "40 connections; stub latency 50 ms per call"
    )
    run.tables.append((title, head, rows, []))


async def settle(run: Run, answers: Answers, chat: int, quiet: float = 0.7) -> int:
    """Messages to `chat` once none has come for `quiet` seconds (at most 20 s)."""
    last, changed, limit = -1, time.monotonic(), time.monotonic() + 20
    while time.monotonic() < limit:
        answers.feed(await run.view.new_calls())
        count = answers.counts[("sendMessage", chat)]
        if count != last:
            last, changed = count, time.monotonic()
        elif time.monotonic() - changed > quiet:
            break
        await asyncio.sleep(0.05)
    return last


async def help_latency(
    run: Run,
    poster: Poster,
    answers: Answers,
    users: list[int],
    until: Callable[[], bool],
) -> tuple[list[int], bool]:
    """/help from `users` in turn every 100 ms until `until()` or the timeout; then wait (at most
    15 s more) for the answers to those sent."""
    stop = asyncio.Event()
    jobs = (run.updates.command(users[n % len(users)], "/help") for n in itertools.count())
    ticker = asyncio.create_task(poster.every(0.1, jobs, stop))
    ok = await wait_until(run.view, answers, until, run.deadline())
    stop.set()
    keys = await ticker
    await wait_until(run.view, answers, lambda: answers.done(keys), time.monotonic() + 15)
    return keys, ok


async def one_fairness(run: Run, backend: Backend) -> list[str]:
    server = branchbot_server(run.folder, backend, "fairness", run.stub)
    run.logs.append(server.log)
    todo_user = backend.a_users[1]
    probes = backend.a_users[2 : 2 + run.args.probe_members]
    answers = Answers()
    await server.start()
    try:
        await run.view.new_calls()
        poster = Poster(run.session, webhook_url(server), answers)
        await warm_up(run, poster, answers, backend.a_users[-8:])
        # One /todo first, to learn how many messages it answers with.
        await poster.one(run.updates.command(todo_user, "/todo"))
        per_todo = max(1, await settle(run, answers, todo_user))
        replies = answers.watch(todo_user)
        todos = [run.updates.command(todo_user, "/todo") for _ in range(50)]
        export = run.updates.command(ADMIN_ID, f"/export {EXPORT_PERIOD}")
        export.method = "sendDocument"
        started = time.monotonic()

        def others_done() -> bool:
            """The export is in, and every /todo is answered, or (a bot that drops a flood)
            nothing more has come to that member for 2 s after the last reply and the export."""
            if export.key not in answers.answered:
                return False
            if len(replies) >= 50 * per_todo:
                return True
            last = max([answers.answered[export.key], *(r[0] for r in replies)])
            return time.monotonic() - last > 2.0

        flood = asyncio.create_task(poster.many([*todos, export], 40))
        keys, ok = await help_latency(run, poster, answers, probes, others_done)
        flood.cancel()
        await asyncio.gather(flood, return_exceptions=True)
    finally:
        await server.stop()
    latencies = answers.latencies(keys)
    exported = answers.latencies([export.key])
    return [
        backend.target,
        f"{len(latencies)}/{len(keys)}",
        ms(latencies, 0.5),
        ms(latencies, 0.95),
        ms(latencies, 0.99),
        ms(latencies, 1.0),
        f"{exported[0]:.1f}" if exported else "-",
        f"{len(replies)} of {50 * per_todo}",
        f"{replies[-1][0] - started:.1f}" if replies else "-",
        answers.non_200(),
        "" if ok else f"timed out after {run.args.timeout:.0f} s",
    ]


async def phase_fairness(run: Run, backends: list[Backend]) -> None:
    rows = [await one_fairness(run, backend) for backend in backends]
    head = ["target", "/help answered", "p50 ms", "p95 ms", "p99 ms", "max ms", "export s"]
    head += ["/todo replies", "last /todo s", "non-200", "note"]
    who = (
        "one member's /help"
        if run.args.probe_members == 1
        else f"/help from {run.args.probe_members} members in turn"
    )
    title = (
        f"fairness: {who} every 100 ms while another member sends 50 /todo at once and an "
        f"admin /export {EXPORT_PERIOD} (XLSX; populate at {run.args.scale:,} members)"
    )
    run.tables.append((title, head, rows, []))


def write_roster(path: Path, rows: int) -> int:
    """Name and group only: the branch is the uploading secretary's. Short rows, so that
    100,000 of them fit under MAX_ROSTER_BYTES (2 MiB)."""
    lines = ["姓名,党小组"] + [f"党员{i:05d},第{i % 9 + 1}组" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.stat().st_size


async def one_roster(run: Run, backend: Backend, name: str, size: int) -> list[str]:
    server = branchbot_server(run.folder, backend, "roster", run.stub)
    run.logs.append(server.log)
    probes = backend.a_users[-run.args.probe_members :]
    answers = Answers()
    upload = run.updates.document(ROSTER_SECRETARY, name, "花名册.csv", size)
    replies = answers.watch(ROSTER_SECRETARY)
    refused = size > MAX_ROSTER_BYTES

    def preview() -> tuple[float, str, str, bool] | None:
        """The preview carries the confirm and cancel buttons (a file over the size limit gets
        a refusal instead, its first reply)."""
        return next((r for r in replies if r[3] or refused), None)

    await server.start()
    try:
        await run.view.new_calls()
        poster = Poster(run.session, webhook_url(server), answers)
        await warm_up(run, poster, answers, backend.a_users[-8:])
        sending = asyncio.create_task(poster.one(upload))
        keys, ok = await help_latency(run, poster, answers, probes, lambda: preview() is not None)
        await sending
    finally:
        await server.stop()
    latencies = answers.latencies(keys)
    first = answers.latencies([upload.key])
    found = preview()
    posted = answers.posted[upload.key]
    shown = found or (replies[-1] if replies else None)
    return [
        backend.target,
        f"{first[0]:.1f}" if first else "-",
        f"{found[0] - posted:.1f}" if found else "-",
        f"{len(latencies)}/{len(keys)}",
        ms(latencies, 0.5),
        ms(latencies, 0.99),
        ms(latencies, 1.0),
        answers.non_200(),
        re.sub(r"<[^>]+>|\s+", " ", shown[2]).strip()[:30] if shown else "",
        "" if ok else f"timed out after {run.args.timeout:.0f} s, no preview",
    ]


async def phase_roster(run: Run, backends: list[Backend]) -> None:
    name = f"roster-{run.args.roster_rows}.csv"
    size = write_roster(run.folder / "files" / name, run.args.roster_rows)
    rows = [await one_roster(run, backend, name, size) for backend in backends]
    head = ["target", "first reply s", "preview s", "/help answered", "p50 ms", "p99 ms"]
    head += ["max ms", "non-200", "the preview (or last reply) began", "note"]
    over = " (over MAX_ROSTER_BYTES: expect a refusal)" if size > MAX_ROSTER_BYTES else ""
    title = (
        f"roster: a secretary uploads {run.args.roster_rows:,} rows ({size:,} bytes{over}) "
        f"while {run.args.probe_members} other members send /help in turn every 100 ms"
    )
    run.tables.append((title, head, rows, []))


# --- output ------------------------------------------------------------------------------------


def print_table(title: str, head: list[str], rows: list[list[str]], notes: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print(f"\n{title}")
    for row in [head, *rows]:
        cells = [
            str(cell).ljust(w) if i in (0, len(head) - 1) else str(cell).rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())
    for note in notes:
        print(f"  {note}")


_NOISE = re.compile(r"^\S+ \S+ |\(ref [0-9a-f]+\)|update \d+|\d{5,}")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Exit|Interrupt)\b(:|$)")


def print_logs(paths: list[Path]) -> None:
    print("\nchild logs (ERROR/CRITICAL lines and tracebacks):")
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text(errors="replace").splitlines()
        errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
        tracebacks = sum(line.startswith("Traceback") for line in lines)
        warnings = sum(" WARNING " in line for line in lines)
        if not errors and not tracebacks:
            print(f"  {path.name}: clean ({warnings} warnings)")
            continue
        print(f"  {path.name}: {len(errors)} errors, {tracebacks} tracebacks, {warnings} warnings")
        kinds = Counter(_NOISE.sub("", line)[:160] for line in errors)
        for line, count in kinds.most_common(3):
            print(f"    {count}× {line}")
        # The last line of each traceback: the exception.
        causes = Counter(line[:160] for line in lines if _EXCEPTION.match(line))
        for line, count in causes.most_common(3):
            print(f"    {count}× {line}")


# --- main --------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PHASES), help="phases, comma-separated")
    parser.add_argument("--updates", type=int, default=1200)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--burst", type=int, default=500, help="members pressing at once")
    parser.add_argument("--scale", type=int, default=5000, help="populate's members (0: none)")
    parser.add_argument("--roster-rows", type=int, default=100_000)
    parser.add_argument(
        "--probe-members",
        type=int,
        default=20,
        help="members whose /help, in turn every 100 ms, is timed in fairness and roster "
        "(1: one member sends them all, 600 a minute: over a per-member rate limit)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per measurement")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_webhook"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-aiogram", action="store_true")
    parser.add_argument("--logs", type=Path, help="keep the children's logs and configs here")
    args = parser.parse_args()
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.skip_sqlite and args.skip_postgres:
        parser.error("nothing to measure: --skip-sqlite and --skip-postgres")
    if args.members < max(8, args.probe_members + 3):
        parser.error("--members must be at least 8 and --probe-members + 3")
    began = time.perf_counter()
    print(
        f"webhook load: branchbot from {Path(bot_package.__file__).parent.parent}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; phases {', '.join(phases)}"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.logs or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "files").mkdir(exist_ok=True)
        backends = []
        if not args.skip_sqlite:
            url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
            backends.append(Backend("sqlite", "SQLite file", url))
        for leftover in ("bench.db", "bench.db-wal", "bench.db-shm"):
            (folder / leftover).unlink(missing_ok=True)
        if not args.skip_postgres:
            backends.append(Backend("postgres", "PostgreSQL", args.database_url))
            await create_postgres(args.database_url)
        stub = stub_server(folder, "stub", 0, folder / "files")
        try:
            await stub.start()
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
            ) as session:
                run = Run(folder, args, session, stub, StubView(session, stub))
                run.logs.append(stub.log)
                for backend in backends:
                    print(await seed(backend, args, stub, run.view), flush=True)
                for phase, work in (
                    ("throughput", phase_throughput),
                    ("burst", phase_burst),
                    ("fairness", phase_fairness),
                    ("roster", phase_roster),
                ):
                    if phase in phases:
                        phase_began = time.perf_counter()
                        await work(run, backends)
                        print_table(*run.tables[-1])
                        print(f"  ({phase} took {time.perf_counter() - phase_began:.0f} s)")
                print_logs(run.logs)
        finally:
            for server in list(RUNNING):
                await server.stop(grace=5)
            if not args.skip_postgres:
                await drop_postgres(args.database_url)
    print(f"\nwhole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
