"""The dashboard's JSON API against its own OpenAPI document, with schemathesis: generated
requests (good and bad parameters, with a secretary's session) never get a server error, and
every answer matches the document."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from itsdangerous import URLSafeTimedSerializer

from bot.services.organisation import ensure_organisation
from bot.web.dashboard import Dashboard, add_routes
from bot.web.openapi import openapi_document
from bot.web.session import SESSION_SALT
from storage import migrate
from storage.db import Database
from storage.models import DashboardSession, Role
from tests.scenario import NOW, build_scenario
from tests.web.conftest import free_port

schema = schemathesis.openapi.from_dict(openapi_document())
# The test server signs sessions with this key; the scenario's secretary is member 1 of a fresh
# database, and holds the session SESSION_ID (kept, as always, as a hash) from when the server
# starts. Schemathesis applies the session to each request (and leaves it out when it tests that
# a missing session is refused).
SECRET = "schemathesis-test-key-of-32-chars-at-least"
SECRETARY_ID = 1
SESSION_ID = "schemathesis-session-id"


@schema.auth()
class SessionCookie:
    def get(self, case: schemathesis.Case[Any], ctx: object) -> str:
        serializer = URLSafeTimedSerializer(SECRET, salt=SESSION_SALT)
        return str(serializer.dumps({"s": SESSION_ID, "c": "test"}))

    def set(self, case: schemathesis.Case[Any], data: str, ctx: object) -> None:
        case.cookies = {**(case.cookies or {}), "branchbot_session": data}


@dataclass(frozen=True)
class LiveApi:
    url: str


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    """The API on a loopback port, in a thread with its own event loop."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    port = free_port()

    async def serve(folder: Path) -> None:
        db = Database(f"sqlite+aiosqlite:///{folder / 'api.db'}")
        await migrate.upgrade(db)
        async with db.write() as session:
            org_id = await ensure_organisation(session, "测试局机关党委", "Asia/Shanghai")
        scenario = await build_scenario(db, org_id)
        assert scenario.secretary.member_id == SECRETARY_ID
        config = scenario.deps.config
        config = replace(config, dashboard=replace(config.dashboard, secret_key=SECRET))
        deps = replace(scenario.deps, config=config, clock=lambda: NOW)
        board = Dashboard(deps, "branchbot_test_bot")
        async with db.write() as session:
            session.add(
                DashboardSession(
                    token_hash=hashlib.sha256(SESSION_ID.encode()).hexdigest(),
                    member_id=SECRETARY_ID,
                    role=Role.SECRETARY.value,
                    created_at=NOW,
                    expires_at=NOW + timedelta(hours=8),
                )
            )
            await session.commit()
        app = web.Application()
        add_routes(app, board)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await stop.wait()
        await runner.cleanup()
        await db.dispose()

    def run() -> None:
        asyncio.set_event_loop(loop)
        with tempfile.TemporaryDirectory() as folder:
            loop.run_until_complete(serve(Path(folder)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the API did not start"
    try:
        yield LiveApi(f"http://127.0.0.1:{port}")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_to_its_document(case: schemathesis.Case[Any], live_api: LiveApi) -> None:
    response = case.call(base_url=live_api.url)
    assert response.status_code < 500, response.text
    case.validate_response(response)


def test_without_a_session_every_endpoint_says_401(live_api: LiveApi) -> None:
    import requests

    for path in openapi_document()["paths"]:
        concrete = path.replace("{kind}", "meeting").replace("{id}", "1")
        response = requests.get(live_api.url + concrete, timeout=10)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"
