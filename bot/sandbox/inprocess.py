"""A PTB request backend that talks to a BotApiSandbox directly: no sockets at all."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.sandbox.server import BotApiSandbox

__all__ = ["SandboxRequest"]

_FILE_RE = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
_API_RE = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/]+)$")


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


class SandboxRequest(BaseRequest):
    """Use as `Bot(token, request=SandboxRequest(sandbox))` or with ApplicationBuilder.request.

    The same instance may serve as both `request` and `get_updates_request`.
    """

    __slots__ = ("_read_timeout", "sandbox")

    def __init__(self, sandbox: BotApiSandbox, *, read_timeout: float | None = 5.0) -> None:
        self.sandbox = sandbox
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        # A sandbox that served HTTP before ended its long polls on shutdown; serve them again.
        self.sandbox.reopen()

    async def shutdown(self) -> None:
        # The sandbox is shared and outlives any one bot; its owner closes it.
        return None

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
        # Yield once per request, as a socket would: a bot polling with timeout=0 must not
        # monopolise the event loop.
        await asyncio.sleep(0)
        path = unquote(urlsplit(url).path)
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._dispatch(path, request_data)
        except TimeoutError:
            raise TimedOut(f"Sandbox did not answer {path} within {timeout}s") from None

    async def _dispatch(self, path: str, request_data: RequestData | None) -> tuple[int, bytes]:
        file_match = _FILE_RE.search(path)
        if file_match is not None:
            content = self.sandbox.file_bytes(file_match["path"])
            if file_match["token"] != self.sandbox.token or content is None:
                return 404, _json_bytes(
                    {"ok": False, "error_code": 404, "description": "Not Found"}
                )
            return 200, content
        api_match = _API_RE.search(path)
        if api_match is None:
            return 404, _json_bytes({"ok": False, "error_code": 404, "description": "Not Found"})
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        if request_data is not None:
            # A JSON round trip gives the sandbox exactly what it would get over the wire.
            params = json.loads(json.dumps(request_data.parameters))
            for name, (file_name, upload, mime_type) in request_data.multipart_data.items():
                data = upload if isinstance(upload, bytes) else upload.read()
                files[name] = (file_name, data, mime_type)
        status, body = await self.sandbox.call(
            api_match["token"], api_match["method"], params, files
        )
        return status, _json_bytes(body)


class SandboxBotApi:
    """The outbox sender's Bot API client, wired straight into a sandbox (no HTTP)."""

    def __init__(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> Any:
        from bot.telegram_http import raise_for_api_error

        uploads = {field: (name, data, "") for field, (name, data) in (files or {}).items()}
        status, body = await self.sandbox.call(self.sandbox.token, method, dict(params), uploads)
        return raise_for_api_error(status, body)
