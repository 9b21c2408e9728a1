"""Heavy work off the path that answers taps.

/export, /summary, the /stats chart and roster uploads and imports are queued by their handlers
as rows of `background_jobs`, in the update's own transaction, and answered at once. A `Runner`
beside the scheduler and the sender claims due rows with a lease, has a worker process do the
work (`ProcessPool`, spawned: the bot's event loop and its CPU stay free for updates), sends the
result to the requester's chat through the Bot API, and marks the row done.

- A claim is one UPDATE … RETURNING (PostgreSQL: its candidates FOR UPDATE SKIP LOCKED), so
  several runners (instances) never take the same row.
- While the work runs the runner renews the lease. After a crash the lease runs out and the row
  is claimed again, by a restarted process or another instance. Every write the work makes to
  its row (a roster import's batches) names the lease token, so an attempt that lost its claim
  writes nothing more.
- A done or failed row is never claimed again. An attempt that raises is retried after a pause,
  up to MAX_ATTEMPTS; then the requester is told briefly and the row is failed. A refusal (the
  requester's role changed, a file over the row limit) is told at once and not retried.
- While a request is queued or running, the same request queues nothing (`dedupe_key`).

The dashboard's downloads use the same pool (`shared_pool`): one process-wide limit of
`background.workers` on heavy work, whoever asks for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram.error import Forbidden, TelegramError

from bot import logs, menus
from bot.auth import Actor
from bot.config import Config
from bot.errors import DomainError
from bot.texts import t
from storage.db import Database
from storage.models import BackgroundJob, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")

KINDS = ("export", "summary", "stats_chart", "roster_preview", "roster_apply")
# A claimed job not renewed for this long is taken to have crashed with its runner.
LEASE_SECONDS = 60.0
# Attempts (a crash counts as one) before the requester is told it failed.
MAX_ATTEMPTS = 3
# The pause before the next attempt, times the attempts so far.
RETRY_SECONDS = 30.0
# Telegram may take its time over a large upload.
UPLOAD_TIMEOUT = 300.0


class LeaseLost(Exception):
    """Another runner holds the job now (this attempt's lease ran out): stop writing for it."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"background job {job_id}: the lease was lost")
        self.job_id = job_id

    def __reduce__(self) -> tuple[type[LeaseLost], tuple[int]]:
        # Raised in a worker process, it comes back through a pipe.
        return (LeaseLost, (self.job_id,))


# ---------------------------------------------------------------- the queue


@dataclass(frozen=True)
class Request:
    """Work a handler asks for, answered to `chat_id` in `language`."""

    kind: str
    params: dict[str, Any]
    requester_member_id: int
    chat_id: int
    language: str
    # What makes two requests the same (see `same_request`); None: never merged.
    dedupe_key: str | None = None


def same_request(kind: str, member_id: int, *parts: object) -> str:
    """A fixed-length key for "this member asked for this kind of work with these parts"."""
    raw = json.dumps([kind, member_id, *parts], ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


async def submit(session: AsyncSession, request: Request, *, now: datetime) -> bool:
    """Queue the work and commit the caller's transaction with it (a roster upload taken for
    applying goes in the same commit). False when the same request is already queued or
    running: nothing new is queued."""
    if request.kind not in KINDS:
        raise ValueError(f"unknown background job kind {request.kind!r}")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    job_id = await session.scalar(
        insert(BackgroundJob)
        .values(
            kind=request.kind,
            params=json.dumps(request.params, ensure_ascii=False),
            dedupe_key=request.dedupe_key,
            requester_member_id=request.requester_member_id,
            chat_id=request.chat_id,
            language=request.language,
            status="pending",
            run_after=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(BackgroundJob.id)
    )
    await session.commit()
    return job_id is not None


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    params: dict[str, Any]
    requester_member_id: int
    chat_id: int
    language: str
    # Including this one.
    attempts: int
    lease_token: str


async def claim(db: Database, limit: int, *, now: datetime, lease: timedelta) -> list[Claimed]:
    """Take up to `limit` due jobs: pending ones whose time has come, and running ones whose
    lease ran out (their runner crashed). One statement; concurrent claims never overlap."""
    token = secrets.token_hex(8)
    due = or_(
        (BackgroundJob.status == "pending") & (BackgroundJob.run_after <= now),
        (BackgroundJob.status == "running") & (BackgroundJob.lease_until < now),
    )
    # Polled twice a second: look first, so an idle queue costs a read, never the write lock.
    async with db.read() as session:
        if await session.scalar(select(BackgroundJob.id).where(due).limit(1)) is None:
            return []
    candidates = (
        select(BackgroundJob.id)
        .where(due)
        .order_by(BackgroundJob.id)
        .limit(limit)
        # PostgreSQL: rows another runner holds are skipped, not waited for. SQLite renders
        # nothing here; its BEGIN IMMEDIATE already makes the claim exclusive.
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(BackgroundJob)
        .where(BackgroundJob.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            lease_until=now + lease,
            lease_token=token,
            attempts=BackgroundJob.attempts + 1,
        )
        .returning(
            BackgroundJob.id,
            BackgroundJob.kind,
            BackgroundJob.params,
            BackgroundJob.requester_member_id,
            BackgroundJob.chat_id,
            BackgroundJob.language,
            BackgroundJob.attempts,
        )
    )
    async with db.write() as session:
        rows = sorted((await session.execute(statement)).all())
        await session.commit()
    return [
        Claimed(row[0], row[1], json.loads(row[2] or "{}"), row[3], row[4], row[5], row[6], token)
        for row in rows
    ]


def _held(job_id: int, token: str) -> Any:
    return (
        (BackgroundJob.id == job_id)
        & (BackgroundJob.lease_token == token)
        & (BackgroundJob.status == "running")
    )


async def _update_held(db: Database, job: Claimed, **values: Any) -> bool:
    async with db.write() as session:
        result = await session.execute(
            update(BackgroundJob).where(_held(job.id, job.lease_token)).values(**values)
        )
        await session.commit()
    return _rowcount(result) == 1


def _rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


async def renew(db: Database, job: Claimed, *, until: datetime) -> bool:
    """Keep the claim while the work runs; False when another runner has taken it."""
    return await _update_held(db, job, lease_until=until)


async def finish(
    db: Database, job: Claimed, *, now: datetime, failed: bool = False, error: str | None = None
) -> bool:
    """Done (or failed) for good; the same request may be made again."""
    return await _update_held(
        db,
        job,
        status="failed" if failed else "done",
        finished_at=now,
        lease_until=None,
        dedupe_key=None,
        error=error[:300] if error else None,
    )


async def retry_later(db: Database, job: Claimed, *, at: datetime, error: str) -> bool:
    return await _update_held(
        db,
        job,
        status="pending",
        run_after=at,
        lease_until=None,
        lease_token=None,
        error=error[:300],
    )


async def release(db: Database, job: Claimed, *, now: datetime) -> bool:
    """A clean shutdown hands the job back at once, without counting the attempt."""
    return await _update_held(
        db,
        job,
        status="pending",
        run_after=now,
        lease_until=None,
        lease_token=None,
        attempts=BackgroundJob.attempts - 1,
    )


async def load_progress(db: Database, job_id: int) -> str | None:
    async with db.read() as session:
        progress: str | None = await session.scalar(
            select(BackgroundJob.progress).where(BackgroundJob.id == job_id)
        )
    return progress


async def save_progress(session: AsyncSession, job_id: int, token: str, progress: str) -> None:
    """Record progress inside the caller's transaction, only while the lease is this attempt's
    (raises LeaseLost otherwise, and the caller's transaction must roll back)."""
    result = await session.execute(
        update(BackgroundJob).where(_held(job_id, token)).values(progress=progress)
    )
    if _rowcount(result) != 1:
        raise LeaseLost(job_id)


# ---------------------------------------------------------------- the work and its results


@dataclass(frozen=True)
class Work:
    """One piece of heavy work as handed to a worker process (everything in it pickles)."""

    kind: str
    params: dict[str, Any]
    config: Config
    org_id: int
    database_url: str
    engine_options: dict[str, Any]
    language: str
    now: datetime
    # Where the worker writes its files; the caller removes it.
    workdir: str
    # The dashboard's session, checked by the page; a job re-reads its requester instead.
    actor: Actor | None = None
    requester_member_id: int | None = None
    job_id: int | None = None
    lease_token: str | None = None
    # A file the runner downloaded for the work (a roster upload).
    data: bytes | None = None

    @classmethod
    def of(
        cls,
        db: Database,
        config: Config,
        org_id: int,
        kind: str,
        params: dict[str, Any],
        *,
        language: str,
        now: datetime,
        workdir: str,
        **more: Any,
    ) -> Work:
        return cls(
            kind=kind,
            params=params,
            config=config,
            org_id=org_id,
            database_url=db.url,
            engine_options=dict(db.engine_kwargs),
            language=language,
            now=now,
            workdir=workdir,
            **more,
        )


@dataclass(frozen=True)
class Document:
    path: str
    filename: str
    caption: str | None = None


@dataclass(frozen=True)
class Photo:
    path: str
    caption: str | None = None


@dataclass(frozen=True)
class Message:
    text: str
    # An InlineKeyboardMarkup as a dict.
    markup: dict[str, Any] | None = None


Output = Document | Photo | Message


@dataclass(frozen=True)
class Outcome:
    outputs: list[Output] = field(default_factory=list)
    # Members whose role or activity the work changed (a roster import): their command menus
    # are set again once the job is done.
    menu_members: list[int] = field(default_factory=list)


def perform(work: Work) -> Outcome:
    """A worker process's entry point: the work on its own event loop and database engine.

    A refusal is raised as the service's DomainError (it pickles back to the caller)."""
    return asyncio.run(_perform(work))


async def _perform(work: Work) -> Outcome:
    # Imported here, in the worker: the work's modules (openpyxl, matplotlib, python-docx) are
    # the worker's weight, not the bot's; and bot.heavy builds on this module.
    from bot import heavy

    db = Database(work.database_url, **work.engine_options)
    try:
        return await heavy.run(db, work)
    finally:
        await db.dispose()


class Executor(Protocol):
    async def run(self, work: Work) -> Outcome: ...

    def close(self) -> None: ...


def _worker_started(log_setup: tuple[str, str] | None = None) -> None:
    # The bot's [logging] level and format: a JSON log stays one object a line.
    if log_setup is not None:
        logs.configure(*log_setup)
    # Heavy work yields the CPU to the bot's own process when both want it.
    with suppress(OSError, AttributeError):
        os.nice(5)
    # Ctrl+C reaches the whole process group: the bot stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPool:
    """Worker processes for heavy work, started on first use. Spawned, not forked: a child
    inherits no event loop, sockets or locks of the bot."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_started,
                initargs=(logs.current(),),
            )
        return self._executor

    async def run(self, work: Work) -> Outcome:
        pool = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, perform, work)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the next piece of work gets a fresh pool.
            if self._executor is pool:
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        """Stop the workers. Work in progress is abandoned, not waited for (an export can take
        minutes): its job's lease runs out and it runs again after the restart."""
        pool, self._executor = self._executor, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with suppress(Exception):
                process.terminate()


class InProcess:
    """The work in a thread of this process: for tests (fast, and patchable)."""

    async def run(self, work: Work) -> Outcome:
        # A fresh context: nothing of the caller's (an update's commit guard) reaches the work.
        return await asyncio.to_thread(contextvars.Context().run, perform, work)

    def close(self) -> None:
        return None


_shared: ProcessPool | None = None


def shared_pool(workers: int) -> ProcessPool:
    """This process's pool: the runner and the dashboard share it, so `background.workers`
    bounds all the heavy work the process does at once."""
    global _shared
    if _shared is None:
        _shared = ProcessPool(workers)
    return _shared


# ---------------------------------------------------------------- the runner


class Runner:
    """Claims due jobs, has the executor do them, sends the results. Up to `capacity` jobs run
    at once (the pool's workers); several runners may share a database."""

    def __init__(
        self,
        db: Database,
        config: Config,
        org_id: int,
        bot: Bot,
        executor: Executor,
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 0.5,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.config = config
        self.org_id = org_id
        self.bot = bot
        self.executor = executor
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.capacity = max(1, config.background.workers)
        self._running: dict[int, tuple[Claimed, asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Runner:
        self._task = asyncio.create_task(self.run(self._stop), name="background")
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.executor.close()

    async def claim(self, limit: int) -> list[Claimed]:
        return await claim(self.db, limit, now=self.clock(), lease=self.lease)

    async def run_once(self) -> int:
        """Claim and do every due job, one after another; how many were taken."""
        taken = 0
        while jobs := await self.claim(1):
            await self.do(jobs[0])
            taken += 1
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self.capacity - len(self._running)
            if free > 0:
                try:
                    for job in await self.claim(free):
                        task = asyncio.create_task(self.do(job), name=f"background-{job.id}")
                        self._running[job.id] = (job, task)
                        task.add_done_callback(self._done)
                except Exception:
                    log.exception("claiming background jobs failed; retrying")
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {stopping, *(task for _, task in self._running.values())},
                timeout=self.poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            stopping.cancel()
        await self._hand_back()

    def _done(self, task: asyncio.Task[None]) -> None:
        for job_id, (_, running) in list(self._running.items()):
            if running is task:
                del self._running[job_id]

    async def _hand_back(self) -> None:
        """Stopping: jobs still at work go back to the queue for the next start."""
        held = list(self._running.values())
        for _, task in held:
            task.cancel()
        await asyncio.gather(*(task for _, task in held), return_exceptions=True)
        for job, _ in held:
            with suppress(Exception):
                await release(self.db, job, now=self.clock())

    async def do(self, job: Claimed) -> None:
        """One attempt at one claimed job, start to finish; never raises (but for cancel)."""
        what = t(job.language, f"background.kind.{job.kind}")
        if job.attempts > MAX_ATTEMPTS:
            # Claimed again after its runner crashed every time: give up.
            await self._give_up(job, what, "no attempt finished")
            return
        workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix=f"branchbot-job{job.id}-")
        try:
            outcome = await self._leased(job, self._perform(job, workdir))
            await self._deliver(job.chat_id, outcome.outputs)
            await finish(self.db, job, now=self.clock())
            if outcome.menu_members:
                await menus.refresh_members(
                    self.db, self.bot, outcome.menu_members, self.config.organisation.language
                )
        except LeaseLost:
            log.warning("background job %s: another runner took it over", job.id)
        except DomainError as exc:
            # Refused: the requester's role changed, the file is unusable. Said once.
            with suppress(TelegramError):
                await self.bot.send_message(job.chat_id, t(job.language, exc.key, **exc.params))
            await self._quietly(finish(self.db, job, now=self.clock(), failed=True, error=exc.key))
        except Exception as exc:
            log.exception(
                "background job %s (%s) failed, attempt %s", job.id, job.kind, job.attempts
            )
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, Forbidden):
                # The requester blocked the bot: nobody to send it to.
                await self._quietly(
                    finish(self.db, job, now=self.clock(), failed=True, error=error)
                )
            elif job.attempts >= MAX_ATTEMPTS:
                await self._give_up(job, what, error)
            else:
                at = self.clock() + timedelta(seconds=RETRY_SECONDS * job.attempts)
                await self._quietly(retry_later(self.db, job, at=at, error=error))
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _quietly(self, work: Awaitable[object]) -> None:
        """Bookkeeping that may fail (the database is down): the lease then runs out and the
        job is claimed again later."""
        try:
            await work
        except Exception:
            log.exception("recording a background job's outcome failed")

    async def _give_up(self, job: Claimed, what: str, error: str) -> None:
        with suppress(TelegramError):
            await self.bot.send_message(
                job.chat_id, t(job.language, "background.failed", what=what)
            )
        await self._quietly(finish(self.db, job, now=self.clock(), failed=True, error=error))

    async def _perform(self, job: Claimed, workdir: str) -> Outcome:
        data = None
        if job.kind == "roster_preview":
            # Network I/O only: the parsing and checking happen in the worker.
            telegram_file = await self.bot.get_file(job.params["file_id"])
            data = bytes(await telegram_file.download_as_bytearray())
        work = Work.of(
            self.db,
            self.config,
            self.org_id,
            job.kind,
            job.params,
            language=job.language,
            now=self.clock(),
            workdir=workdir,
            requester_member_id=job.requester_member_id,
            job_id=job.id,
            lease_token=job.lease_token,
            data=data,
        )
        return await self.executor.run(work)

    async def _leased(self, job: Claimed, work: Awaitable[T]) -> T:
        """Await the work, renewing the lease meanwhile; LeaseLost if another runner took it
        (the worker's copy may go on, but its writes to the job are refused)."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.lease.total_seconds() / 3)
                if done:
                    return task.result()
                if not await renew(self.db, job, until=self.clock() + self.lease):
                    raise LeaseLost(job.id)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _deliver(self, chat_id: int, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Message):
                markup = (
                    InlineKeyboardMarkup.de_json(output.markup, self.bot) if output.markup else None
                )
                await self.bot.send_message(chat_id, output.text, reply_markup=markup)
                continue
            data = await asyncio.to_thread(Path(output.path).read_bytes)
            if isinstance(output, Document):
                await self.bot.send_document(
                    chat_id,
                    InputFile(data, filename=output.filename),
                    caption=output.caption,
                    write_timeout=UPLOAD_TIMEOUT,
                )
            else:
                await self.bot.send_photo(
                    chat_id,
                    InputFile(data, filename="chart.png"),
                    caption=output.caption,
                    write_timeout=UPLOAD_TIMEOUT,
                )


def start_runner(db: Database, config: Config, org_id: int, bot: Bot, *, clock: Clock) -> Runner:
    """The runner of `branchbot run`, on this process's shared pool."""
    return Runner(
        db, config, org_id, bot, shared_pool(config.background.workers), clock=clock
    ).start()
