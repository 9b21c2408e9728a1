"""End-to-end: the bot's real HTTP client against the sandbox Bot API server on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.sandbox import BotApiSandbox, run_sandbox

ADMIN_ID = 9000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[BotApiSandbox, str]]:
    sb = BotApiSandbox()
    async with run_sandbox(sb) as base:
        yield sb, base


def e2e_config(base: str, token: str, db_path: Path, **telegram: Any) -> Config:
    data: dict[str, Any] = {
        "telegram": {"token": token, "api_base_url": f"{base}/bot", **telegram},
        "database": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "organisation": {"name": "测试局机关党委", "admins": [ADMIN_ID]},
        # Tests run at any hour: no quiet hours.
        "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
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
