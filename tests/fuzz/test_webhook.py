"""The webhook endpoint under any body: 2xx for an update, 4xx for anything else, never a 5xx
or a crash; and never anything without the secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.web.server import SECRET_HEADER, make_web_app

SECRET = "s3cret_token-1"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
UPDATE_LIKE = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=0, max_value=2**31)},
    optional={
        "message": JSON_VALUES,
        "callback_query": JSON_VALUES,
        "edited_message": JSON_VALUES,
    },
)
BODIES = st.one_of(
    st.binary(max_size=3000),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    UPDATE_LIKE.map(lambda v: json.dumps(v).encode()),
)


class Endpoint:
    """The real aiohttp app on a loopback test server, driven from a synchronous test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

        async def receive(payloads: Sequence[dict[str, Any]], parsed: Sequence[Any]) -> int:
            for data in payloads:
                self.queue.put_nowait(data)
            return len(payloads)

        app = make_web_app(receive, None, path="/telegram", secret_token=SECRET)

        async def start() -> TestClient[Any, Any]:
            client: TestClient[Any, Any] = TestClient(TestServer(app))
            await client.start_server()
            return client

        self.client = self.loop.run_until_complete(start())

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        async def send() -> int:
            response = await self.client.post("/telegram", data=body, headers=headers)
            await response.read()
            return response.status

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    yield served
    served.close()


FAST = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(body=BODIES)
def test_any_body_with_the_secret_gets_2xx_or_4xx(endpoint: Endpoint, body: bytes) -> None:
    status = endpoint.post(body, {SECRET_HEADER: SECRET})
    assert 200 <= status < 300 or 400 <= status < 500, status
    if status == 200:
        assert isinstance(endpoint.queue.get_nowait()["update_id"], int)


@FAST
@given(body=BODIES, secret=st.text(max_size=40).filter(lambda s: s != SECRET))
def test_without_the_secret_nothing_gets_in(endpoint: Endpoint, body: bytes, secret: str) -> None:
    headers = {SECRET_HEADER: secret} if secret.isascii() and secret.isprintable() else {}
    assert endpoint.post(body, headers) == 403
    assert endpoint.queue.empty()
