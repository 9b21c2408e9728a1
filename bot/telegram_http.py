"""HTTP to the Bot API on aiohttp's client: python-telegram-bot's transport, and the sender's.

PTB's default transport (httpx) tops out at a few hundred requests a second on a small machine,
below Telegram's 1,000-a-second paid broadcast ceiling; aiohttp's client, already part of the
stack, does several thousand. `BaseRequest` is PTB's documented extension point for this.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyConnector, ProxyError, ProxyTimeoutError
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

from bot.config import hide_password


def open_session(proxy: str = "", *, limit: int, **kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session for Bot API requests, through `proxy` when one is given (validated
    with the config): http:// and https:// proxies with aiohttp's own support (CONNECT for an
    https:// Bot API), socks5:// and socks5h:// with aiohttp-socks, which has the proxy look up
    host names (a local resolver may not answer for api.telegram.org). Credentials come from
    the URL's user:password@."""
    if not proxy:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), **kwargs)
    scheme, rest = proxy.split("://", 1)
    if scheme.lower().startswith("socks"):
        connector = ProxyConnector.from_url(f"socks5://{rest}", rdns=True, limit=limit)
        return aiohttp.ClientSession(connector=connector, **kwargs)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), proxy=proxy, **kwargs)


# A SOCKS proxy's failures (aiohttp-socks raises its own types, not aiohttp's).
_SOCKS_FAILED = (ProxyConnectionError, ProxyError)


# A bot token in a Bot API path. Neither it nor a proxy's password (aiohttp quotes the proxy's
# URL, credentials and all, in its errors) may reach a log line or a stored error.
_TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


def _scrubbed(text: str) -> str:
    return _TOKEN.sub("/bot<token>", hide_password(text))


def _network_error(exc: Exception) -> NetworkError:
    """A NetworkError naming the aiohttp (or aiohttp-socks) error, without a proxy password or
    the token: "aiohttp.ClientConnectorError: …", "aiohttp_socks.ProxyConnectionError: …".
    When the original's text held either, it is not chained (a traceback would print it)."""
    raw = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}: {exc}"
    shown = _scrubbed(raw)
    error = NetworkError(shown)
    error.__cause__ = exc if shown == raw else None
    error.__suppress_context__ = True
    return error


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
        proxy: str = "",
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = proxy
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
            self._session = open_session(
                self._proxy, limit=self._pool_size, headers={"User-Agent": self.USER_AGENT}
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
            # Unquoted: aiohttp would otherwise percent-encode a non-ASCII file name, and
            # Telegram shows it that way (台账.xlsx as %E5%8F%B0….xlsx), as httpx does not.
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (request_data.json_parameters if request_data else {}).items():
                form.add_field(name, value)
            for name, (file_name, content, mime) in files.items():
                form.add_field(name, content, filename=header_safe(file_name), content_type=mime)
            data = form
        elif request_data is not None:
            data = request_data.json_payload
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, ProxyTimeoutError) as exc:
            raise TimedOut from exc
        except (aiohttp.ClientError, *_SOCKS_FAILED) as exc:
            raise _network_error(exc)  # noqa: B904 (chained there, unless it held a secret)


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


# How long an upload or a download may take (a message has the client's own timeout).
FILE_SECONDS = 180.0


class HttpBotApi:
    """A minimal Bot API client for the outbox sender.

    The sender sends text it already rendered and keyboards it already serialised; skipping
    python-telegram-bot's object model on this one hot path doubles what a broadcast can push
    through one core. Errors are raised as python-telegram-bot's own exception types.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        pool_size: int = 64,
        timeout: float = 20.0,
        proxy: str = "",
        file_url: str = "",
    ) -> None:
        self._url = f"{base_url.rstrip('/')}{token}/"
        # Where files are downloaded (telegram.file_url), with the token as PTB writes it.
        self._file_url = f"{file_url.rstrip('/')}{token}"
        self._pool_size = pool_size
        self._proxy = proxy
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> Any:
        """One Bot API call; `files` (field: (name, bytes)) are uploaded as multipart."""
        if self._session is None or self._session.closed:
            self._session = open_session(self._proxy, limit=self._pool_size, timeout=self._timeout)
        request: dict[str, Any] = {"json": params}
        if files:
            # Unquoted, or aiohttp would percent-encode a Chinese file name (see AiohttpRequest).
            form = aiohttp.FormData(quote_fields=False)
            for key, value in params.items():
                form.add_field(key, value if isinstance(value, str) else json.dumps(value))
            for field, (name, data) in files.items():
                form.add_field(field, data, filename=header_safe(name))
            # A file of tens of megabytes takes longer than a message.
            request = {"data": form, "timeout": aiohttp.ClientTimeout(total=FILE_SECONDS)}
        try:
            async with self._session.post(self._url + method, **request) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (TimeoutError, ProxyTimeoutError) as exc:
            raise TimedOut from exc
        except (aiohttp.ClientError, *_SOCKS_FAILED) as exc:
            raise _network_error(exc)  # noqa: B904 (chained there, unless it held a secret)
        return raise_for_api_error(status, body)

    async def warm(self) -> None:
        """Open the connection before the first message needs it (getMe: also checks the
        token)."""
        await self.call("getMe", {})

    async def fetch_file(self, file_id: str) -> tuple[str, bytes]:
        """A file on Telegram, (name, bytes): a study document sent on to another channel."""
        found = await self.call("getFile", {"file_id": file_id})
        path = str(found["file_path"])
        assert self._session is not None  # opened by the call above
        try:
            async with self._session.get(
                f"{self._file_url}/{path}", timeout=aiohttp.ClientTimeout(total=FILE_SECONDS)
            ) as response:
                if response.status != 200:
                    raise NetworkError(f"Telegram answered {response.status} for a file")
                data = await response.read()
        except (TimeoutError, ProxyTimeoutError) as exc:
            raise TimedOut from exc
        except (aiohttp.ClientError, *_SOCKS_FAILED) as exc:
            raise _network_error(exc)  # noqa: B904 (chained there, unless it held a secret)
        return path.rsplit("/", 1)[-1], data

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def header_safe(file_name: str | None) -> str | None:
    """A file name as it may stand unquoted in a Content-Disposition header."""
    if file_name is None:
        return None
    return re.sub(r'["\\\r\n]', "_", file_name)
