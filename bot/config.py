"""Configuration: a TOML file loaded explicitly into frozen dataclasses.

Every error names the offending key, because a secretary deploying the bot reads the message,
not the code.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.services.periods import MAX_YEAR, MIN_YEAR

TelegramMode = Literal["polling", "webhook"]
FeishuMode = Literal["long_connection", "webhook"]
FeishuDomain = Literal["feishu", "lark"]
# How often a meeting kind is required ("off": not tracked) and who it invites by default.
MeetingEvery = Literal["month", "quarter", "off"]
MeetingAudience = Literal["branch", "committee", "group"]
Language = Literal["zh", "en"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]

ENV_TOKEN = "BRANCHBOT_TELEGRAM_TOKEN"
ENV_DATABASE_URL = "BRANCHBOT_DATABASE_URL"
ENV_DASHBOARD_SECRET = "BRANCHBOT_DASHBOARD_SECRET"

_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """A configuration problem; the message names the key.

    Validation reports every problem at once: `problems` holds each (key, problem), one a line
    in the message; `key` and `problem` are the first's."""

    def __init__(self, key: str, problem: str, *more: tuple[str, str]) -> None:
        self.problems: tuple[tuple[str, str], ...] = ((key, problem), *more)
        super().__init__("\n".join(f"{k}: {p}" for k, p in self.problems))
        self.key = key
        self.problem = problem


class _Problems:
    """What validation found, collected so that one run names every bad key."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, problem: str) -> None:
        self.found.append((key, problem))

    def error(self, exc: ConfigError) -> None:
        self.found.extend(exc.problems)

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError(*self.found[0], *self.found[1:])


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    api_base_url: str = "https://api.telegram.org/bot"
    # Derived from api_base_url when empty: the Bot API serves files under /file/bot<token>/.
    api_base_file_url: str = ""
    mode: TelegramMode = "polling"
    # Optional: saves a getMe call when printing invite links from the command line.
    bot_username: str = ""
    # Members' updates handled at once (each chat's own updates always in order).
    concurrency: int = 64
    # What one member may send: `member_burst` updates at once, then `member_per_minute` a
    # minute; the excess is dropped with one "please wait". Strangers (not joined) get less.
    member_burst: int = 20
    member_per_minute: int = 60
    stranger_burst: int = 8
    stranger_per_minute: int = 12
    # An update whose handling has not finished this long after it was received (a crash) is
    # handled again, by this process after a restart or by another instance.
    update_lease_seconds: int = 60
    # Every Bot API request goes through this proxy: http://, https:// or socks5:// (socks5h://),
    # with optional user:password@. Empty: HTTPS_PROXY (HTTP_PROXY for an http:// api_base_url)
    # or ALL_PROXY from the environment, unless NO_PROXY names the Bot API's host.
    proxy: str = ""

    @property
    def file_url(self) -> str:
        if self.api_base_file_url:
            return self.api_base_file_url
        base = self.api_base_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"


@dataclass(frozen=True)
class WebhookConfig:
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"
    public_url: str = ""
    secret_token: str = ""


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///branchbot.db"
    # Connections kept open; 0: sized from telegram.concurrency (PostgreSQL at most 32). On
    # SQLite every update handled at once reads through its own connection (WAL lets readers run
    # beside the one writer); a pool smaller than that would close and reopen connections, and
    # each opening runs the PRAGMAs again.
    pool_size: int = 0

    def pool_for(self, concurrency: int) -> int:
        if self.pool_size:
            return self.pool_size
        return concurrency if self.url.startswith("sqlite") else min(concurrency, 32)


@dataclass(frozen=True)
class OrganisationConfig:
    name: str = "branchbot"
    timezone: str = "Asia/Shanghai"
    language: Language = "zh"
    admins: tuple[int, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class InvitesConfig:
    valid_days: int = 30


@dataclass(frozen=True)
class DeliveryConfig:
    # Telegram allows about 30 messages a second overall; stay under it.
    rate_per_second: float = 25.0
    # Telegram allows about one message a second to one chat.
    per_chat_interval_seconds: float = 1.0
    # Paid broadcasts (billed in Stars) lift the overall limit to 1,000 a second.
    allow_paid_broadcast: bool = False
    paid_rate_per_second: float = 1000.0
    quiet_start: str = "22:00"
    quiet_end: str = "07:30"
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    lease_seconds: int = 60
    # How many sends may be in flight at once; a crash repeats at most these.
    concurrency: int = 8


@dataclass(frozen=True)
class SchedulerConfig:
    # A job missed by more than this while the bot was down is skipped, not fired late.
    grace_hours: int = 24
    tick_seconds: float = 5.0


@dataclass(frozen=True)
class FollowupConfig:
    # The escalation ladder; 0 turns a step off.
    second_after_hours: int = 24
    before_deadline_hours: int = 24
    leader_after_hours: int = 48
    secretary_after_hours: int = 72
    # Nudges and escalations a member gets at most per day (their first push always goes).
    daily_cap: int = 3


@dataclass(frozen=True)
class MeetingsConfig:
    """三会一课: defaults from the Party's rules; each kind's frequency and audience can change."""

    general_every: MeetingEvery = "quarter"
    general_times: int = 1
    general_audience: MeetingAudience = "branch"
    committee_every: MeetingEvery = "month"
    committee_times: int = 1
    committee_audience: MeetingAudience = "committee"
    group_every: MeetingEvery = "month"
    group_times: int = 1
    group_audience: MeetingAudience = "group"
    lecture_every: MeetingEvery = "quarter"
    lecture_times: int = 1
    lecture_audience: MeetingAudience = "branch"
    # Reminders to invitees this many hours before the start.
    remind_before_hours: tuple[int, ...] = (24, 1)
    checkin_before_minutes: int = 30
    checkin_after_minutes: int = 30
    # The check-in code changes every minute; the previous one still works this long.
    code_grace_seconds: int = 20
    # Non-voters of a time poll are reminded this long after it opens (0: never).
    poll_remind_hours: int = 24
    # The organiser's 「提醒未投票」 works once per poll in this many hours (0: no cooldown).
    poll_remind_cooldown_hours: int = 6
    # Secretaries hear this many days before a month or quarter ends that a meeting is missing.
    compliance_remind_days: int = 5
    compliance_remind_time: str = "09:00"
    # "YYYY-MM-DD": meetings are owed from the month or quarter of this day (a unit that came
    # later, from its own). Empty: each branch and group from the period it came into being.
    count_from: str = ""

    @property
    def count_from_date(self) -> date | None:
        """`count_from` as a date (validated with the config), or None when empty."""
        return date.fromisoformat(self.count_from) if self.count_from else None


@dataclass(frozen=True)
class VolunteersConfig:
    """志愿服务: reminders, the waitlist offer and the check-in/out window of an activity."""

    # Reminders to those signed up, this many hours before the start.
    remind_before_hours: tuple[int, ...] = (24, 2)
    # A place freed by a cancellation is offered to the first on the waitlist for this long.
    offer_hours: int = 12
    # Check-in opens this many minutes before the start; check-out stays open this long after
    # the end, and then the hours are final.
    checkin_before_minutes: int = 30
    checkout_after_minutes: int = 60


@dataclass(frozen=True)
class DuesConfig:
    """党费: the monthly reminder to members who have an amount and have not reported paying."""

    # Day of the month (1-28, so every month has it); 0 turns the reminder off.
    remind_day: int = 5
    remind_time: str = "09:00"


@dataclass(frozen=True)
class TasksConfig:
    """任务清单: reminders to the owner before the due date, escalation to the creator after."""

    remind_before_days: tuple[int, ...] = (3, 1)
    # Reminders go out, and an overdue task is escalated the day after its due date, at this time.
    remind_time: str = "09:00"


@dataclass(frozen=True)
class HolidaysConfig:
    """The official holiday arrangement: while next year's is missing (neither in the installed
    calendar nor imported), admins are told in November and December, once a month."""

    notice_reminder: bool = True
    # Local time of the daily check (it says something only in November and December).
    notice_reminder_time: str = "09:00"


@dataclass(frozen=True)
class DashboardConfig:
    """The secretaries' web dashboard, served by the bot's own aiohttp server."""

    enabled: bool = False
    # Polling mode serves it here; in webhook mode it shares the webhook server.
    listen: str = "127.0.0.1"
    port: int = 8080
    # Where a browser reaches it (behind the proxy): the login links start with this.
    public_url: str = "http://127.0.0.1:8080"
    # Signs the session cookies; BRANCHBOT_DASHBOARD_SECRET_KEY (or the older
    # BRANCHBOT_DASHBOARD_SECRET) overrides. Empty: a random key per
    # start, so sessions end with a restart. Given, at least 32 characters.
    secret_key: str = ""
    link_minutes: int = 10
    session_hours: int = 8


@dataclass(frozen=True)
class BackgroundConfig:
    """Heavy work (exports, reports, charts, roster imports) runs in worker processes."""

    # Worker processes at once; each takes one job (or dashboard download) at a time.
    workers: int = 1


@dataclass(frozen=True)
class LoggingConfig:
    """What the log shows and how: text lines for a terminal, or one JSON object a line."""

    # DEBUG may include what members sent; INFO and above never do.
    level: LogLevel = "INFO"
    format: LogFormat = "text"


@dataclass(frozen=True)
class HealthConfig:
    """GET /healthz and GET /metrics: beside the webhook in webhook mode, on their own server
    (listen:port) in polling mode."""

    enabled: bool = True
    # Polling mode serves them here; 0 picks a free port (tests).
    listen: str = "127.0.0.1"
    port: int = 8081
    # The scheduler or the sender is stale when its last completed cycle is older than three of
    # its intervals (scheduler.tick_seconds; the sender's half second) plus this.
    grace_seconds: float = 60.0


@dataclass(frozen=True)
class FeishuConfig:
    """Feishu (飞书; Lark abroad) beside Telegram: an app of the office's tenant, set up as the
    operator's guide says. Off while app_id is empty."""

    app_id: str = ""
    app_secret: str = ""
    # long_connection: the bot dials out to Feishu (no public address needed); webhook: Feishu
    # posts events and button presses to public_url + path, served on listen:port.
    mode: FeishuMode = "long_connection"
    # From the app's 事件与回调 > 加密策略 page: every event is checked against the token, and
    # with an encrypt key it arrives encrypted and signed.
    verification_token: str = ""
    encrypt_key: str = ""
    domain: FeishuDomain = "feishu"
    # Empty: open.feishu.cn (or open.larksuite.com for lark). Tests and the demo name a stand-in.
    api_base_url: str = ""
    # Open ids (ou_…) of people made admins at start-up, as organisation.admins on Telegram.
    admins: tuple[str, ...] = ()
    listen: str = "127.0.0.1"
    port: int = 8444
    path: str = "/feishu"
    # Feishu allows an app 50 messages a second and 5 a second to one person; stay below.
    rate_per_second: float = 20.0
    per_chat_interval_seconds: float = 0.25

    @property
    def enabled(self) -> bool:
        return bool(self.app_id)

    @property
    def base_url(self) -> str:
        if self.api_base_url:
            return self.api_base_url.rstrip("/")
        return "https://open.larksuite.com" if self.domain == "lark" else "https://open.feishu.cn"


@dataclass(frozen=True)
class Config:
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    organisation: OrganisationConfig = field(default_factory=OrganisationConfig)
    invites: InvitesConfig = field(default_factory=InvitesConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    followup: FollowupConfig = field(default_factory=FollowupConfig)
    meetings: MeetingsConfig = field(default_factory=MeetingsConfig)
    volunteers: VolunteersConfig = field(default_factory=VolunteersConfig)
    dues: DuesConfig = field(default_factory=DuesConfig)
    tasks: TasksConfig = field(default_factory=TasksConfig)
    holidays: HolidaysConfig = field(default_factory=HolidaysConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    feishu: FeishuConfig = field(default_factory=FeishuConfig)


_SECTIONS: dict[str, type[Any]] = {
    "telegram": TelegramConfig,
    "webhook": WebhookConfig,
    "database": DatabaseConfig,
    "organisation": OrganisationConfig,
    "invites": InvitesConfig,
    "delivery": DeliveryConfig,
    "scheduler": SchedulerConfig,
    "followup": FollowupConfig,
    "meetings": MeetingsConfig,
    "volunteers": VolunteersConfig,
    "dues": DuesConfig,
    "tasks": TasksConfig,
    "holidays": HolidaysConfig,
    "dashboard": DashboardConfig,
    "background": BackgroundConfig,
    "health": HealthConfig,
    "logging": LoggingConfig,
    "feishu": FeishuConfig,
}


def _type_name(expected: Any) -> str:
    if expected == tuple[int, ...]:
        return "a list of integers"
    if expected == tuple[str, ...]:
        return "a list of strings"
    if expected is int:
        return "an integer"
    if expected is str:
        return "a string"
    if expected is float:
        return "a number"
    if expected is bool:
        return "true or false"
    choices = get_args(expected)
    return "one of " + ", ".join(repr(c) for c in choices)


def _convert(key: str, expected: Any, value: Any) -> Any:
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return value
    if expected is int:
        # bool is an int in Python, but `port = true` is a mistake, not a port.
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return value
    if expected is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return float(value)
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return value
    if expected == tuple[int, ...]:
        if not isinstance(value, list) or any(
            not isinstance(v, int) or isinstance(v, bool) for v in value
        ):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return tuple(value)
    if expected == tuple[str, ...]:
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
        return tuple(value)
    choices = get_args(expected)
    if value not in choices:
        raise ConfigError(key, f"expected {_type_name(expected)}, got {value!r}")
    return value


def _section(name: str, cls: type[Any], raw: Any, problems: _Problems) -> Any:
    """The section's dataclass; a bad key is reported and left at its default."""
    if not isinstance(raw, dict):
        problems.add(name, "expected a table, e.g. [" + name + "]")
        return cls()
    resolved = _resolved_types(cls)
    unknown = sorted(set(raw) - {f.name for f in fields(cls)})
    for key in unknown:
        problems.add(f"{name}.{key}", "unknown key")
    values = {}
    for k, v in raw.items():
        if k in unknown:
            continue
        try:
            values[k] = _convert(f"{name}.{k}", resolved[k], v)
        except ConfigError as exc:
            problems.error(exc)
    return cls(**values)


def _resolved_types(cls: type[Any]) -> dict[str, Any]:
    # `from __future__ import annotations` leaves strings in dataclass fields; resolve them here.
    return typing.get_type_hints(cls)


def _validate(cfg: Config, problems: _Problems) -> None:
    try:
        ZoneInfo(cfg.organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(
            "organisation.timezone",
            f"unknown time zone {cfg.organisation.timezone!r} (use an IANA name such as "
            "'Asia/Shanghai')",
        )
    _validate_feishu(cfg.feishu, problems)
    if not cfg.organisation.name.strip():
        problems.add("organisation.name", "must not be empty")
    if not cfg.telegram.api_base_url.startswith(("http://", "https://")):
        problems.add("telegram.api_base_url", "must start with http:// or https://")
    if cfg.telegram.proxy and (proxy_problem := _proxy_problem(cfg.telegram.proxy)):
        problems.add("telegram.proxy", proxy_problem)
    if not 1 <= cfg.webhook.port <= 65535:
        problems.add("webhook.port", f"must be between 1 and 65535, got {cfg.webhook.port}")
    if not cfg.webhook.path.startswith("/"):
        problems.add("webhook.path", "must start with '/'")
    if cfg.invites.valid_days < 1:
        problems.add("invites.valid_days", "must be at least 1")
    if not cfg.database.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.add("database.url", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    if cfg.webhook.secret_token and not _SECRET_TOKEN_RE.match(cfg.webhook.secret_token):
        problems.add("webhook.secret_token", "1-256 characters of A-Z, a-z, 0-9, '_' and '-' only")
    d = cfg.delivery
    for key, value in (
        ("delivery.quiet_start", d.quiet_start),
        ("delivery.quiet_end", d.quiet_end),
    ):
        if parse_hhmm(value) is None:
            problems.add(key, f"expected a time like '22:00', got {value!r}")
    for key, number in (
        ("delivery.rate_per_second", d.rate_per_second),
        ("delivery.paid_rate_per_second", d.paid_rate_per_second),
        ("delivery.max_attempts", d.max_attempts),
        ("delivery.lease_seconds", d.lease_seconds),
        ("delivery.concurrency", d.concurrency),
        ("telegram.concurrency", cfg.telegram.concurrency),
        ("telegram.member_burst", cfg.telegram.member_burst),
        ("telegram.member_per_minute", cfg.telegram.member_per_minute),
        ("telegram.stranger_burst", cfg.telegram.stranger_burst),
        ("telegram.stranger_per_minute", cfg.telegram.stranger_per_minute),
        ("telegram.update_lease_seconds", cfg.telegram.update_lease_seconds),
        ("scheduler.tick_seconds", cfg.scheduler.tick_seconds),
    ):
        if number <= 0:
            problems.add(key, "must be greater than 0")
    for key, number in (
        ("delivery.per_chat_interval_seconds", d.per_chat_interval_seconds),
        ("database.pool_size", cfg.database.pool_size),
        ("scheduler.grace_hours", cfg.scheduler.grace_hours),
        ("followup.daily_cap", cfg.followup.daily_cap),
        ("followup.second_after_hours", cfg.followup.second_after_hours),
        ("followup.before_deadline_hours", cfg.followup.before_deadline_hours),
        ("followup.leader_after_hours", cfg.followup.leader_after_hours),
        ("followup.secretary_after_hours", cfg.followup.secretary_after_hours),
        ("delivery.backoff_base_seconds", d.backoff_base_seconds),
        ("delivery.backoff_max_seconds", d.backoff_max_seconds),
    ):
        if number < 0:
            problems.add(key, "must not be negative")
    _validate_meetings(cfg.meetings, problems)
    _validate_volunteers(cfg.volunteers, problems)
    _validate_dues_and_tasks(cfg.dues, cfg.tasks, problems)
    if parse_hhmm(cfg.holidays.notice_reminder_time) is None:
        problems.add(
            "holidays.notice_reminder_time",
            f"expected a time like '09:00', got {cfg.holidays.notice_reminder_time!r}",
        )
    dash = cfg.dashboard
    if not dash.public_url.startswith(("http://", "https://")):
        problems.add("dashboard.public_url", "must start with http:// or https://")
    if not 1 <= dash.port <= 65535:
        problems.add("dashboard.port", f"must be between 1 and 65535, got {dash.port}")
    for key in ("link_minutes", "session_hours"):
        if getattr(dash, key) < 1:
            problems.add(f"dashboard.{key}", "must be at least 1")
    if dash.enabled and dash.secret_key and len(dash.secret_key) < 32:
        problems.add(
            "dashboard.secret_key",
            f"must be at least 32 characters, got {len(dash.secret_key)}; leave it empty for a "
            "random key at every start",
        )
    if cfg.background.workers < 1:
        problems.add("background.workers", "must be at least 1")
    if not 0 <= cfg.health.port <= 65535:
        problems.add("health.port", f"must be between 0 and 65535, got {cfg.health.port}")
    if cfg.health.grace_seconds < 0:
        problems.add("health.grace_seconds", "must not be negative")
    if cfg.telegram.mode == "webhook":
        if not cfg.webhook.secret_token:
            problems.add("webhook.secret_token", "required when telegram.mode = 'webhook'")
        if not cfg.webhook.public_url.startswith("https://") and not _is_loopback(
            cfg.webhook.public_url
        ):
            problems.add(
                "webhook.public_url", "required when telegram.mode = 'webhook' (an https:// URL)"
            )


def _validate_meetings(m: MeetingsConfig, problems: _Problems) -> None:
    for kind in ("general", "committee", "group", "lecture"):
        if getattr(m, f"{kind}_times") < 1:
            problems.add(f"meetings.{kind}_times", "must be at least 1")
    if any(h <= 0 for h in m.remind_before_hours):
        problems.add("meetings.remind_before_hours", "every entry must be greater than 0")
    for key in (
        "checkin_before_minutes",
        "checkin_after_minutes",
        "code_grace_seconds",
        "poll_remind_hours",
        "poll_remind_cooldown_hours",
        "compliance_remind_days",
    ):
        if getattr(m, key) < 0:
            problems.add(f"meetings.{key}", "must not be negative")
    if 0 <= m.checkin_after_minutes < 1:
        problems.add("meetings.checkin_after_minutes", "must be at least 1")
    if m.code_grace_seconds >= 60:
        problems.add("meetings.code_grace_seconds", "must be under 60 (codes change each minute)")
    if parse_hhmm(m.compliance_remind_time) is None:
        problems.add(
            "meetings.compliance_remind_time",
            f"expected a time like '09:00', got {m.compliance_remind_time!r}",
        )
    if m.count_from:
        try:
            day = date.fromisoformat(m.count_from) if len(m.count_from) == 10 else None
        except ValueError:
            day = None
        if day is None:
            problems.add(
                "meetings.count_from", f"expected a date like '2027-01-01', got {m.count_from!r}"
            )
        elif not MIN_YEAR <= day.year <= MAX_YEAR:
            problems.add("meetings.count_from", f"the year must be from {MIN_YEAR} to {MAX_YEAR}")


def _validate_volunteers(v: VolunteersConfig, problems: _Problems) -> None:
    if any(h <= 0 for h in v.remind_before_hours):
        problems.add("volunteers.remind_before_hours", "every entry must be greater than 0")
    if v.offer_hours < 1:
        problems.add("volunteers.offer_hours", "must be at least 1")
    for key in ("checkin_before_minutes", "checkout_after_minutes"):
        if getattr(v, key) < 0:
            problems.add(f"volunteers.{key}", "must not be negative")


def _validate_dues_and_tasks(d: DuesConfig, t: TasksConfig, problems: _Problems) -> None:
    if not 0 <= d.remind_day <= 28:
        problems.add("dues.remind_day", "must be from 1 to 28 (every month has it), or 0: off")
    if any(days <= 0 for days in t.remind_before_days):
        problems.add("tasks.remind_before_days", "every entry must be greater than 0")
    for key, value in (("dues.remind_time", d.remind_time), ("tasks.remind_time", t.remind_time)):
        if parse_hhmm(value) is None:
            problems.add(key, f"expected a time like '09:00', got {value!r}")


def _validate_feishu(f: FeishuConfig, problems: _Problems) -> None:
    if not f.enabled:
        return
    if not f.app_secret:
        problems.add("feishu.app_secret", "required when feishu.app_id is set")
    if f.api_base_url and not f.api_base_url.startswith(("http://", "https://")):
        problems.add("feishu.api_base_url", "must start with http:// or https://")
    if f.mode == "webhook" and not f.verification_token:
        problems.add("feishu.verification_token", "required in webhook mode")
    if not 0 <= f.port <= 65535:
        problems.add("feishu.port", f"must be between 0 (any free port) and 65535, got {f.port}")
    if not f.path.startswith("/"):
        problems.add("feishu.path", "must start with '/'")
    if f.rate_per_second <= 0:
        problems.add("feishu.rate_per_second", "must be positive")
    if f.per_chat_interval_seconds < 0:
        problems.add("feishu.per_chat_interval_seconds", "must not be negative")
    for open_id in f.admins:
        if not open_id.startswith("ou_"):
            problems.add("feishu.admins", f"expected open ids like 'ou_…', got {open_id!r}")


def parse_hhmm(text: str) -> time | None:
    """'HH:MM' as a time, or None."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    return time(int(match[1]), int(match[2])) if match else None


def _is_loopback(url: str) -> bool:
    # A local Bot API server may call a plain-http webhook on this machine; Telegram never does.
    return url.startswith(("http://127.", "http://localhost"))


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_PROXY_EXAMPLE = (
    "a URL like 'http://127.0.0.1:7890' or 'socks5://user:password@127.0.0.1:1080' "
    "(http, https or socks5)"
)


# A URL's user:password@, anywhere in a text (a URL, or an error message quoting one); the
# password runs to the last @ before the host, so an unescaped @ in it is hidden too.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*:)[^\s/'\"]*@")


def hide_password(text: str) -> str:
    """`text` with the password of every URL's user:password@ part replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _proxy_problem(url: str) -> str | None:
    shown = hide_password(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"expected {_PROXY_EXAMPLE}, got {shown!r}"
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        return f"expected {_PROXY_EXAMPLE}, got {shown!r}"
    if port is None and parts.scheme.startswith("socks"):
        return f"a SOCKS proxy needs a port (e.g. socks5://127.0.0.1:1080), got {shown!r}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"expected only scheme, host and port (no path), got {shown!r}"
    return None


def proxy_from_environment(api_base_url: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable, URL) of the proxy the environment gives for the Bot API, as curl and most
    tools read it: https_proxy (http_proxy for an http:// endpoint), then all_proxy, either
    case, unless no_proxy names the host. Like Go's net/http, a loopback endpoint (a local Bot
    API server) never takes a proxy from the environment; telegram.proxy still applies to it."""
    parts = urlsplit(api_base_url)
    host = (parts.hostname or "").lower()
    if host == "localhost" or _is_loopback_ip(host):
        return None
    if _no_proxy_covers(host, env.get("no_proxy") or env.get("NO_PROXY") or ""):
        return None
    scheme = "http" if parts.scheme == "http" else "https"
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = env.get(name, "").strip()
        if value:
            # "proxy.corp:3128" without a scheme is an HTTP proxy to curl and requests too.
            return name, value if "://" in value else f"http://{value}"
    return None


def _no_proxy_covers(host: str, no_proxy: str) -> bool:
    """Whether a no_proxy list (`*`, host names that also cover their subdomains, with or
    without a leading dot, and IP networks like 10.0.0.0/8) names `host`."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        name = entry.removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
        except ValueError:
            continue
    return False


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ENV_PREFIX = "BRANCHBOT_"
# Older names still read; the key's own BRANCHBOT_<SECTION>_<KEY> wins when both are set.
_ENV_ALIASES = {"dashboard.secret_key": ENV_DASHBOARD_SECRET}


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides `section.key`: BRANCHBOT_<SECTION>_<KEY>."""
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _from_variable(problem: str, variable: str | None) -> str:
    return f"{problem} (from the environment: {variable})" if variable else problem


def _from_text(expected: Any, text: str) -> Any:
    """An environment variable's text as the file would hold the value: strings as they are;
    numbers, true/false and lists (`[24, 1]`, or `24,1`) read as TOML reads them (true/false
    also as 1/0, yes/no, on/off). Text that reads as nothing is passed on for the type check
    to refuse with the file's own message."""
    if expected is str or typing.get_origin(expected) is Literal:
        return text
    if expected is bool:
        word = text.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
        return text
    candidates = [text]
    if expected == tuple[int, ...] and not text.strip().startswith("["):
        # `123` is a list of one, as `1,2` is a list of two.
        candidates.insert(0, f"[{text}]")
    if expected == tuple[str, ...] and not text.strip().startswith("["):
        # ou_a,ou_b: open ids need no quotes in a variable.
        return [part.strip() for part in text.split(",") if part.strip()]
    for candidate in candidates:
        try:
            return tomllib.loads(f"value = {candidate}")["value"]
        except tomllib.TOMLDecodeError:
            continue
    return text


def _apply_environment(
    cfg: Config, env: Mapping[str, str], problems: _Problems
) -> tuple[Config, dict[str, str]]:
    """Every BRANCHBOT_<SECTION>_<KEY> variable over the file's value (an empty one is
    ignored), checked as the file's value is; and the variable behind each key it set, for
    the messages of the checks that follow."""
    sources: dict[str, str] = {}
    for section, cls in _SECTIONS.items():
        resolved = _resolved_types(cls)
        changes: dict[str, Any] = {}
        for f in fields(cls):
            key = f"{section}.{f.name}"
            names = [env_name(section, f.name)]
            if key in _ENV_ALIASES:
                names.append(_ENV_ALIASES[key])
            variable = next((name for name in names if env.get(name)), None)
            if variable is None:
                continue
            try:
                changes[f.name] = _convert(
                    key, resolved[f.name], _from_text(resolved[f.name], env[variable])
                )
            except ConfigError as exc:
                for k, problem in exc.problems:
                    problems.add(k, _from_variable(problem, variable))
                continue
            sources[key] = variable
        if changes:
            cfg = replace(cfg, **{section: replace(getattr(cfg, section), **changes)})
    if not cfg.telegram.proxy:
        found = proxy_from_environment(cfg.telegram.api_base_url, env)
        if found is not None:
            cfg = replace(cfg, telegram=replace(cfg.telegram, proxy=found[1]))
            sources["telegram.proxy"] = found[0]
    return cfg, sources


def environment_warnings(env: Mapping[str, str] | None = None) -> list[str]:
    """BRANCHBOT_… variables that look meant for a key but name none (a typo): they are
    ignored, which the operator should hear about."""
    env = os.environ if env is None else env
    known = {env_name(s, f.name) for s, cls in _SECTIONS.items() for f in fields(cls)}
    known |= set(_ENV_ALIASES.values())
    sections = {s.upper(): s for s in _SECTIONS}
    warnings = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        head = name[len(ENV_PREFIX) :].split("_", 1)[0]
        # A key of a known section, or a section misspelt (BRANCHBOT_WEBHOK_PORT).
        if head not in sections and not difflib.get_close_matches(head, sections, cutoff=0.8):
            continue
        hint = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        warnings.append(
            f"{name}: no configuration key is read from this variable; it is ignored"
            + (f" (did you mean {hint[0]}?)" if hint else "")
        )
    return warnings


def parse_config(data: dict[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Build a Config from parsed TOML data and environment overrides."""
    problems = _Problems()
    for name in sorted(set(data) - set(_SECTIONS)):
        problems.add(name, "unknown section")
    sections = {
        name: _section(name, cls, data.get(name, {}), problems) for name, cls in _SECTIONS.items()
    }
    cfg = Config(**sections)
    env = dict(os.environ) if env is None else env
    cfg, sources = _apply_environment(cfg, env, problems)
    found = _Problems()
    _validate(cfg, found)
    for key, problem in found.found:
        problems.add(key, _from_variable(problem, sources.get(key)))
    problems.raise_any()
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at `path`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {p}") from None
    except UnicodeDecodeError:
        raise ConfigError("--config", f"{p} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{p} is not valid TOML: {exc}") from None
    return parse_config(data, env)


def require_token(cfg: Config) -> None:
    """Running against Telegram needs a token; checking the file or importing a roster does not."""
    if not cfg.telegram.token:
        raise ConfigError("telegram.token", f"required to run the bot (or set {ENV_TOKEN})")
