"""End-to-end: the bot's real HTTP client against the sandbox Bot API server on loopback."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Config, parse_config
from bot.sandbox import BotApiSandbox, run_sandbox
from tests.conftest import PG_ENV

ADMIN_ID = 9000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get(PG_ENV) else ["sqlite"]


@pytest.fixture(params=_backends())
async def bot_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL the bot process itself can open: a file, or a fresh PostgreSQL database
    (a URL cannot carry the per-test schema the other tiers use)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    base = make_url(os.environ[PG_ENV])
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[BotApiSandbox, str]]:
    sb = BotApiSandbox()
    async with run_sandbox(sb) as base:
        yield sb, base


def e2e_config(base: str, token: str, database_url: str, **telegram: Any) -> Config:
    data: dict[str, Any] = {
        "telegram": {"token": token, "api_base_url": f"{base}/bot", **telegram},
        "database": {"url": database_url},
        "organisation": {"name": "测试局机关党委", "admins": [ADMIN_ID]},
        # Tests run at any hour: no quiet hours.
        "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
        # Polling mode's /healthz and /metrics on any free port (Metrics.served_at says which).
        "health": {"port": 0},
    }
    if telegram.get("mode") == "webhook":
        port = free_port()
        data["webhook"] = {
            "listen": "127.0.0.1",
            "port": port,
            "path": "/tg-hook",
            "public_url": f"http://127.0.0.1:{port}",
            "secret_token": "e2e_secret-token",
        }
    return parse_config(data, env={})
