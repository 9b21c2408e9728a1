"""HTTP to the Bot API on aiohttp's client: python-telegram-bot's transport, and the sender's.

PTB's default transport (httpx) tops out at a few hundred requests a second on a small machine,
below Telegram's 1,000-a-second paid broadcast ceiling; aiohttp's client, already part of the
stack, does several thousand. `BaseRequest` is PTB's documented extension point for this.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout PTB passed explicitly, or ours when it passed its "use the default" marker."""
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 10.0,
        write_timeout: float | None = 10.0,
        connect_timeout: float | None = 10.0,
        media_write_timeout: float | None = 30.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = (
            request_data.multipart_data if request_data and request_data.contains_files else None
        )
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        total = None if read is None or write is None else read + write
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if files:
            form = aiohttp.FormData()
            for name, value in (request_data.json_parameters if request_data else {}).items():
                form.add_field(name, value)
            for name, (file_name, content, mime) in files.items():
                form.add_field(name, content, filename=file_name, content_type=mime)
            data = form
        elif request_data is not None:
            data = request_data.json_payload
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc


def raise_for_api_error(status: int, body: Any) -> Any:
    """The `result` of a Bot API answer, or the python-telegram-bot error it stands for."""
    if isinstance(body, dict) and body.get("ok"):
        return body.get("result")
    if not isinstance(body, dict):
        raise NetworkError(f"Bot API answered {status} without a JSON body")
    code = int(body.get("error_code") or status)
    description = str(body.get("description") or f"error {code}")
    parameters = body.get("parameters") or {}
    if parameters.get("retry_after") is not None:
        raise RetryAfter(int(parameters["retry_after"]))
    if code == 403:
        raise Forbidden(description)
    if code == 400:
        raise BadRequest(description)
    if code in (401, 404):
        raise InvalidToken(description)
    # 5xx and anything unexpected: worth another try later.
    raise NetworkError(f"{code} {description}")


class HttpBotApi:
    """A minimal Bot API client for the outbox sender.

    The sender sends text it already rendered and keyboards it already serialised; skipping
    python-telegram-bot's object model on this one hot path doubles what a broadcast can push
    through one core. Errors are raised as python-telegram-bot's own exception types.
    """

    def __init__(
        self, base_url: str, token: str, *, pool_size: int = 64, timeout: float = 20.0
    ) -> None:
        self._url = f"{base_url.rstrip('/')}{token}/"
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size), timeout=self._timeout
            )
        try:
            async with self._session.post(self._url + method, json=params) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        return raise_for_api_error(status, body)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
