"""The composition root: the one place that builds the application and runs it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import datetime, timedelta

from aiohttp import web
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, Defaults
from telegram.request import BaseRequest

from bot import menus
from bot.background import start_runner
from bot.channels.address import FEISHU, TELEGRAM
from bot.channels.feishu.bot_api import FeishuBotApi
from bot.channels.feishu.client import FeishuClient
from bot.channels.feishu.events import FeishuEvents
from bot.channels.feishu.transport import LongConnection
from bot.channels.feishu.transport import add_routes as add_feishu_routes
from bot.channels.feishu.transport import make_app as make_feishu_app
from bot.channels.routing import ChannelRequest
from bot.config import Config, require_token
from bot.delivery import BotApi, QuietHours, Sender
from bot.inbound import MemberLanes, Poller
from bot.jobs import FIRE_LATE, job_handlers, skip_targets
from bot.scheduler import Clock, Scheduler
from bot.services import compliance as compliance_service
from bot.services import dialogs as dialog_states
from bot.services import dues as dues_service
from bot.services import holiday_notices as holiday_notices_service
from bot.services import organisation, updates
from bot.telegram_http import AiohttpRequest, HttpBotApi
from bot.texts import plain, t
from bot.web.dashboard import Dashboard
from bot.web.dashboard import add_routes as add_dashboard
from bot.web.health import Loop, Monitor, bound_url, serve_health
from bot.web.health import add_routes as add_health
from bot.web.server import make_web_app
from handlers import (
    admin,
    checkin,
    compliance,
    dashboard,
    dialogs,
    dues,
    followup,
    holidays,
    meeting_records,
    meetings,
    onboarding,
    reminders,
    reports,
    study,
    system,
    tasks,
    timepolls,
    volunteer_records,
    volunteers,
)
from handlers.common import App, Deps
from storage import migrate
from storage.db import Database
from storage.models import utcnow
from storage.single_writer import SchedulerLock, try_lock

log = logging.getLogger(__name__)

# python-telegram-bot needs a token to build a Bot; an office on Feishu alone has none, and
# bot.channels.routing answers the few bot-wide calls without Telegram.
OFFLINE_TOKEN = "0:feishu-only"


async def prepare_database(config: Config, db: Database, now: datetime | None = None) -> int:
    """Migrate, then make sure the organisation and its configured admins exist."""
    await migrate.upgrade(db)
    async with db.write() as session:
        org_id = await organisation.ensure_organisation(
            session, config.organisation.name, config.organisation.timezone
        )
    async with db.write() as session:
        await organisation.promote_admins(
            session, org_id, config.organisation.admins, config.feishu.admins
        )
    async with db.write() as session:
        await compliance_service.ensure_job(session, org_id, config, now=now or utcnow())
    async with db.write() as session:
        await dues_service.ensure_job(session, org_id, config, now=now or utcnow())
    async with db.write() as session:
        await holiday_notices_service.ensure_job(session, org_id, config, now=now or utcnow())
    async with db.write() as session:
        await updates.prune(session)
    async with db.write() as session:
        await dialog_states.prune(session, now=now or utcnow())
    return org_id


def build_application(
    deps: Deps, *, request: BaseRequest | None = None, feishu: FeishuBotApi | None = None
) -> App:
    cfg = deps.config
    builder = (
        ApplicationBuilder()
        .token(cfg.telegram.token or OFFLINE_TOKEN)
        .base_url(cfg.telegram.api_base_url)
        .base_file_url(cfg.telegram.file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=cfg.organisation.tz))
    )
    telegram: BaseRequest | None
    polls: BaseRequest | None
    if request is not None:
        telegram = polls = request
    elif cfg.telegram.token:
        # Sends and long polls get separate pools, so a broadcast never starves getUpdates.
        # Replies come from up to `telegram.concurrency` updates at once.
        pool = max(cfg.telegram.concurrency, cfg.delivery.concurrency * 2, 16)
        # Both through telegram.proxy (or the environment's proxy) when there is one.
        proxy = cfg.telegram.proxy
        telegram = AiohttpRequest(connection_pool_size=pool, proxy=proxy)
        polls = AiohttpRequest(connection_pool_size=2, proxy=proxy)
    else:
        telegram = polls = None
    # Every call goes to the channel of the chat it is for (bot.channels.routing).
    builder = builder.request(ChannelRequest(telegram, feishu)).get_updates_request(
        ChannelRequest(polls, None)
    )
    # Every update goes through the inbound path: kept, then handled in its chat's lane.
    builder = builder.updater(None).concurrent_updates(
        MemberLanes(deps.inbound, cfg.telegram.concurrency)
    )
    application: App = builder.build()
    deps.inbound.attach(application)
    deps.inbound.flood_text = plain(t(cfg.organisation.language, "flood.wait"))
    deps.inbound.metrics = deps.metrics
    # Order matters: repeats and edits stop first (group -2), then an open dialog takes the
    # member's next message (group -1), then features, then the fallbacks that only answer what
    # no feature handler matched.
    system.register_first(application, deps)
    # An open dialog takes the member's next message before any feature sees it.
    dialogs.register(application, deps)
    onboarding.register(application, deps)
    admin.register(application, deps)
    study.register(application, deps)
    reminders.register(application, deps)
    followup.register(application, deps)
    meetings.register(application, deps)
    checkin.register(application, deps)
    meeting_records.register(application, deps)
    timepolls.register(application, deps)
    compliance.register(application, deps)
    volunteers.register(application, deps)
    volunteer_records.register(application, deps)
    dues.register(application, deps)
    tasks.register(application, deps)
    reports.register(application, deps)
    dashboard.register(application, deps)
    holidays.register(application, deps)
    system.register_last(application, deps)
    return application


@asynccontextmanager
async def running(
    config: Config, *, request: BaseRequest | None = None, clock: Clock = utcnow
) -> AsyncIterator[tuple[App, Deps]]:
    """Start the bot (polling or webhook) and stop it cleanly when the block exits."""
    if not config.feishu.enabled:
        require_token(config)
    db = Database(
        config.database.url,
        pool_size=config.database.pool_for(config.telegram.concurrency),
    )
    try:
        org_id = await prepare_database(config, db, clock())
        deps = Deps(config, db, org_id, clock=clock)
        feishu = feishu_api(deps)
        application = build_application(deps, request=request, feishu=feishu)
        if feishu is not None:
            feishu.fetch_file = telegram_file_fetcher(application)
        async with application:
            if config.telegram.token:
                # Menus and the bot's description: a convenience, set beside the start-up.
                deps.spawn(menus.set_up(application.bot, config, db))
            await application.start()
            workers: Workers | Standby = start_workers(deps) or Standby(deps)
            # Heavy work (exports, reports, roster imports) in worker processes, off the lanes.
            heavy = start_runner(db, config, org_id, application.bot, clock=clock)
            inbound = InboundTasks(application, deps)
            monitor = Monitor(
                db, deps.metrics, workers.loops, grace_seconds=config.health.grace_seconds
            )
            runners = await _start_transport(application, deps, inbound, monitor)
            runners += await start_feishu(deps, feishu)
            try:
                yield application, deps
            finally:
                await deps.cancel_tasks()
                await _stop_transport(runners)
                await inbound.stop()
                await heavy.stop()
                await workers.stop()
                await application.stop()
    finally:
        await db.dispose()


def feishu_api(deps: Deps) -> FeishuBotApi | None:
    """Feishu's side of the Bot API calls, when [feishu] names an app; all of a process's share
    one record of Feishu's people and messages (deps.feishu_store)."""
    if not deps.config.feishu.enabled:
        return None
    return FeishuBotApi(FeishuClient(deps.config.feishu), deps.feishu_store)


def telegram_file_fetcher(application: App) -> Callable[[str], Awaitable[tuple[str, bytes]]]:
    """A study document uploaded on Telegram, fetched to be uploaded again to Feishu."""

    async def fetch(file_id: str) -> tuple[str, bytes]:
        found = await application.bot.get_file(file_id)
        data = bytes(await found.download_as_bytearray())
        return (found.file_path or "document").rsplit("/", 1)[-1], data

    return fetch


async def start_feishu(deps: Deps, feishu: FeishuBotApi | None) -> list[web.AppRunner]:
    """Feishu's events in: over the long connection, or on the callback server."""
    cfg = deps.config.feishu
    if feishu is None:
        return []
    events = FeishuEvents(
        deps.feishu_store, deps.inbound.receive, cfg.app_id, feishu.client.user_name
    )
    if cfg.mode == "long_connection":
        LongConnection(cfg, events).start()
        log.info("Feishu: long connection started")
        return []
    web_app = make_feishu_app()
    add_feishu_routes(web_app, cfg, events)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, cfg.listen, cfg.port).start()
    deps.metrics.feishu_at = bound_url(runner)
    log.info("Feishu callbacks on %s:%s%s", cfg.listen, cfg.port, cfg.path)
    return [runner]


class Workers:
    """The scheduler and the sender, running beside the update handlers."""

    def __init__(
        self,
        scheduler: Scheduler,
        senders: list[Sender],
        apis: list[HttpBotApi | FeishuBotApi],
        lock: SchedulerLock | None = None,
    ) -> None:
        self.apis = apis
        self.lock = lock
        self._stop = asyncio.Event()

        def wake_all() -> None:
            for sender in senders:
                sender.wake()

        self._tasks = [
            asyncio.create_task(scheduler.run(self._stop, on_fired=wake_all), name="scheduler")
        ]
        loops = [Loop("scheduler", scheduler.heartbeat, self._tasks[0])]
        for sender in senders:
            # Telegram's keeps the name /healthz has always shown; another channel's is named.
            name = "sender" if sender.channel == TELEGRAM else f"sender-{sender.channel}"
            task = asyncio.create_task(sender.run(self._stop), name=name)
            self._tasks.append(task)
            loops.append(Loop(name, sender.heartbeat, task))
        self._loops = tuple(loops)

    def loops(self) -> tuple[Loop, ...]:
        """What /healthz watches."""
        return self._loops

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for api in self.apis:
            await api.close()
        if self.lock is not None:
            self.lock.release()


# How often an instance without the SQLite scheduler lock checks whether it is free.
STANDBY_RETRY_SECONDS = 2.0


class Standby:
    """An instance that found the scheduler lock taken: it tries again every few seconds and
    runs the scheduler and sender itself once the holder has stopped (or died)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.workers: Workers | None = None
        self._task = asyncio.create_task(self._wait(), name="scheduler-standby")

    async def _wait(self) -> None:
        while self.workers is None:
            await asyncio.sleep(STANDBY_RETRY_SECONDS)
            self.workers = start_workers(self.deps, announce=False)
        log.warning("took over the scheduler and sender for %s", self.deps.config.database.url)

    def loops(self) -> tuple[Loop, ...] | None:
        """None while standing by: another process runs them."""
        return None if self.workers is None else self.workers.loops()

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self.workers is not None:
            await self.workers.stop()


def make_scheduler(deps: Deps) -> Scheduler:
    cfg = deps.config
    return Scheduler(
        deps.db,
        job_handlers(deps.meetings, deps.volunteers, deps.dues, deps.tasks),
        cfg.organisation.tz,
        grace=timedelta(hours=cfg.scheduler.grace_hours),
        tick_seconds=cfg.scheduler.tick_seconds,
        fire_late=FIRE_LATE,
        skip_to=skip_targets(deps.push),
        clock=deps.clock,
        metrics=deps.metrics,
    )


def make_sender(deps: Deps, api: BotApi, channel: str = TELEGRAM) -> Sender:
    cfg = deps.config
    quiet = QuietHours.from_config(cfg.delivery, cfg.organisation.tz)
    delivery = cfg.delivery
    if channel == FEISHU:
        # The same outbox, leases, retries and backoff; Feishu's own rates.
        delivery = replace(
            delivery,
            rate_per_second=cfg.feishu.rate_per_second,
            per_chat_interval_seconds=cfg.feishu.per_chat_interval_seconds,
            allow_paid_broadcast=False,
        )
    return Sender(
        deps.db,
        api,
        delivery,
        quiet,
        wake=deps.outbox_ready,
        clock=deps.clock,
        metrics=deps.metrics,
        channel=channel,
    )


def start_workers(deps: Deps, *, announce: bool = True) -> Workers | None:
    """The scheduler and the sender; None when another process already runs them on this
    SQLite file (SQLite allows one writer, so one scheduler: several instances need PostgreSQL)."""
    cfg = deps.config
    held = try_lock(cfg.database.url)
    if held is None:
        if announce:
            log.error(
                "another branchbot process already runs the scheduler and sender for %s; this "
                "one only answers updates, and takes them over if that one stops. Several "
                "instances need PostgreSQL (database.url).",
                cfg.database.url,
            )
        return None
    senders: list[Sender] = []
    apis: list[HttpBotApi | FeishuBotApi] = []
    if cfg.telegram.token:
        api = HttpBotApi(
            cfg.telegram.api_base_url,
            cfg.telegram.token,
            pool_size=cfg.delivery.concurrency * 2,
            proxy=cfg.telegram.proxy,
            file_url=cfg.telegram.file_url,
        )
        senders.append(make_sender(deps, api))
        apis.append(api)
    feishu = feishu_api(deps)
    if feishu is not None:
        if cfg.telegram.token:
            # A study document uploaded on Telegram reaches Feishu's members too.
            feishu.fetch_file = api.fetch_file
        if senders:
            # A study document a secretary sent on Feishu reaches Telegram's members too.
            senders[0].documents = feishu.fetch
        senders.append(make_sender(deps, feishu, FEISHU))
        apis.append(feishu)
    lock = held if isinstance(held, SchedulerLock) else None
    return Workers(make_scheduler(deps), senders, apis, lock)


class InboundTasks:
    """Recovery of interrupted updates, and in polling mode the poller."""

    def __init__(self, application: App, deps: Deps) -> None:
        self._stop = asyncio.Event()
        every = max(1.0, deps.config.telegram.update_lease_seconds / 2)
        self._tasks = [
            asyncio.create_task(deps.inbound.run(self._stop, every), name="inbox-recovery")
        ]
        self.poller = Poller(application.bot, deps.inbound)

    def start_polling(self) -> None:
        self._tasks.append(asyncio.create_task(self.poller.run(self._stop), name="poller"))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            # A long poll would otherwise hold shutdown for its whole timeout.
            if task.get_name() == "poller":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _start_transport(
    application: App, deps: Deps, inbound: InboundTasks, monitor: Monitor
) -> list[web.AppRunner]:
    """Webhook mode serves the update route, /healthz and /metrics (when health is on) and the
    dashboard (when on) on one server; polling mode serves the dashboard and the health check
    each on its own address (one server when both name the same one)."""
    cfg = deps.config
    board = Dashboard(deps, application.bot.username) if cfg.dashboard.enabled else None
    if not cfg.telegram.token:
        log.info("branchbot is running (Feishu only: no telegram.token)")
        return await _serve_polling(deps, board, monitor)
    if cfg.telegram.mode == "polling":
        # A webhook left over from an earlier deployment would make getUpdates fail.
        await application.bot.delete_webhook()
        inbound.start_polling()
        log.info("branchbot is running (polling)")
        return await _serve_polling(deps, board, monitor)
    web_app = make_web_app(
        deps.inbound.receive,
        application.bot,
        path=cfg.webhook.path,
        secret_token=cfg.webhook.secret_token,
    )
    if board is not None:
        add_dashboard(web_app, board)
    if cfg.health.enabled:
        add_health(web_app, monitor)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, cfg.webhook.listen, cfg.webhook.port).start()
    if cfg.health.enabled:
        deps.metrics.served_at = bound_url(runner)
    await application.bot.set_webhook(
        url=cfg.webhook.public_url.rstrip("/") + cfg.webhook.path,
        secret_token=cfg.webhook.secret_token,
        allowed_updates=Update.ALL_TYPES,
    )
    log.info("branchbot is running (webhook on %s:%s)", cfg.webhook.listen, cfg.webhook.port)
    return [runner]


async def _serve_polling(
    deps: Deps, board: Dashboard | None, monitor: Monitor
) -> list[web.AppRunner]:
    cfg = deps.config
    dash_at = (cfg.dashboard.listen, cfg.dashboard.port)
    health_at = (cfg.health.listen, cfg.health.port)
    runners: list[web.AppRunner] = []
    if board is not None:
        web_app = web.Application()
        add_dashboard(web_app, board)
        # One server when both name the same address (a fixed port: 0 means one each).
        shared = cfg.health.enabled and dash_at == health_at and cfg.health.port != 0
        if shared:
            add_health(web_app, monitor)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, *dash_at).start()
        runners.append(runner)
        log.info("dashboard on %s:%s", *dash_at)
        if shared:
            deps.metrics.served_at = bound_url(runner)
            return runners
    if cfg.health.enabled:
        health_app = web.Application()
        add_health(health_app, monitor)
        health_runner = await serve_health(health_app, cfg.health)
        if health_runner is not None:
            runners.append(health_runner)
            deps.metrics.served_at = bound_url(health_runner)
            log.info("/healthz and /metrics on %s", deps.metrics.served_at)
    return runners


async def _stop_transport(runners: list[web.AppRunner]) -> None:
    for runner in reversed(runners):
        await runner.cleanup()


async def run_until_signalled(config: Config) -> None:
    """`branchbot run`: serve until SIGTERM or SIGINT, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with running(config):
        await stop.wait()
        log.info("shutting down")
