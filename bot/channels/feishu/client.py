"""Feishu's Open API over HTTP: the tenant access token, and the IM calls the bot makes.

Errors come back as Feishu's `code`; they are sorted here into what the outbox and the handlers
already know how to treat (telegram.error's kinds): a rate limit is RetryAfter, a person the
bot cannot reach is Forbidden, a refused request is BadRequest, anything on the way is
NetworkError (tried again with backoff)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.config import FeishuConfig
from bot.telegram_http import FILE_SECONDS, header_safe

log = logging.getLogger(__name__)

# The token is refreshed this long before Feishu says it expires.
REFRESH_MARGIN_SECONDS = 300
# Feishu's codes for a token that is missing, invalid or expired: refresh and try once more.
_TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991665, 99991668})
# The app's request rate (99991400, 99991402) and the IM API's own send limits (230020 for
# one chat, 11232/11233/11247 for messages): wait, then the outbox tries again.
_RATE_LIMITED = frozenset({99991400, 99991402, 230020, 11232, 11233, 11247})
# The person left the tenant, blocked the bot, or is outside the app's availability.
# A file a member sends (a roster, a document): Feishu's own cap on files is 30 MB.
MAX_DOWNLOAD_BYTES = 30 * 1024 * 1024
_UNREACHABLE = frozenset({230013, 230002, 230035, 230053, 232009})


class FeishuClient:
    def __init__(self, config: FeishuConfig, *, timeout: float = 20.0) -> None:
        self.config = config
        self.base = config.base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._files_timeout = aiohttp.ClientTimeout(total=FILE_SECONDS)
        self._session: aiohttp.ClientSession | None = None
        self._token = ""
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()
        self.token_grants = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def token(self, *, fresh: bool = False) -> str:
        async with self._token_lock:
            if fresh or not self._token or time.monotonic() >= self._token_until:
                await self._grant()
            return self._token

    async def _grant(self) -> None:
        url = f"{self.base}/open-apis/auth/v3/tenant_access_token/internal"
        body = {"app_id": self.config.app_id, "app_secret": self.config.app_secret}
        try:
            async with self._http().post(url, json=body) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise NetworkError(f"feishu token: {type(exc).__name__}") from exc
        if not isinstance(data, dict) or data.get("code") != 0:
            # Wrong credentials: every send would fail the same way; say so plainly.
            code = data.get("code") if isinstance(data, dict) else None
            raise NetworkError(f"feishu refused the app credentials (code {code})")
        self._token = str(data["tenant_access_token"])
        expire = float(data.get("expire", 7200))
        self._token_until = time.monotonic() + max(expire - REFRESH_MARGIN_SECONDS, expire / 2)
        self.token_grants += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
        raw: bool = False,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> Any:
        """One Open API call; `data` of the answer (or the bytes, with raw, at most
        `max_bytes`)."""
        for attempt in range(2):
            token = await self.token(fresh=attempt > 0)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                async with self._http().request(
                    method,
                    f"{self.base}{path}",
                    params=params,
                    json=body,
                    data=form,
                    headers=headers,
                    # An upload or a download takes longer than a message.
                    timeout=self._files_timeout if form is not None or raw else self._timeout,
                ) as response:
                    if raw and response.status == 200:
                        return await _read_capped(response, max_bytes)
                    status = response.status
                    reset = response.headers.get("x-ogw-ratelimit-reset", "")
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise NetworkError(f"feishu {method} {path}: {type(exc).__name__}") from exc
            try:
                data = json.loads(text) if text else {}
            except json.JSONDecodeError:
                data = {}
            code = data.get("code") if isinstance(data, dict) else None
            if code == 0:
                return data.get("data", {})
            if code in _TOKEN_CODES:
                if attempt == 0:
                    continue
                # A token granted a moment ago refused too: Feishu's side, try again later.
                raise NetworkError("feishu refused a fresh tenant token")
            self._raise(status, code, str(data.get("msg", "")) if data else text[:200], reset)
        raise AssertionError("unreachable")

    @staticmethod
    def _raise(status: int, code: Any, msg: str, reset: str) -> None:
        where = f"feishu code {code}: {msg}"
        if status == 429 or code in _RATE_LIMITED:
            raise RetryAfter(int(reset) if reset.isdigit() else 1)
        if code in _UNREACHABLE:
            raise Forbidden(where)
        if status >= 500 or code is None:
            raise NetworkError(f"feishu answered HTTP {status}")
        raise BadRequest(where)

    async def send(
        self, open_id: str, msg_type: str, content: dict[str, Any], uuid: str | None = None
    ) -> str:
        body: dict[str, Any] = {
            "receive_id": open_id,
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if uuid:
            # Feishu's own idempotency: a retry with the same uuid is not sent twice.
            body["uuid"] = uuid[:50]
        data = await self.request(
            "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "open_id"}, body=body
        )
        return str(data["message_id"])

    async def user_name(self, open_id: str) -> str | None:
        """A person's name in the tenant's directory; None without the permission to read it
        (contact:user.base:readonly) or when Feishu will not say."""
        try:
            data = await self.request(
                "GET",
                f"/open-apis/contact/v3/users/{open_id}",
                params={"user_id_type": "open_id"},
            )
        except TelegramError as exc:
            log.info("Feishu did not give a person's name (%s); they go by their roster name", exc)
            return None
        name = (data.get("user") or {}).get("name") if isinstance(data, dict) else None
        return str(name) if name else None

    async def update_card(self, message_id: str, card: dict[str, Any]) -> None:
        await self.request(
            "PATCH",
            f"/open-apis/im/v1/messages/{message_id}",
            body={"content": json.dumps(card, ensure_ascii=False)},
        )

    async def recall(self, message_id: str) -> None:
        await self.request("DELETE", f"/open-apis/im/v1/messages/{message_id}")

    async def upload_file(self, name: str, data: bytes) -> str:
        # Unquoted, or aiohttp would percent-encode a Chinese file name.
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("file_type", _file_type(name))
        form.add_field("file_name", name)
        form.add_field("file", data, filename=header_safe(name))
        result = await self.request("POST", "/open-apis/im/v1/files", form=form)
        return str(result["file_key"])

    async def upload_image(self, data: bytes, name: str = "image.png") -> str:
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("image_type", "message")
        form.add_field("image", data, filename=header_safe(name))
        result = await self.request("POST", "/open-apis/im/v1/images", form=form)
        return str(result["image_key"])

    async def download(self, message_id: str, key: str, kind: str = "file") -> bytes:
        data = await self.request(
            "GET",
            f"/open-apis/im/v1/messages/{message_id}/resources/{key}",
            params={"type": kind},
            raw=True,
        )
        return bytes(data)


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"Bad Request: file is too big (over {limit // (1024 * 1024)} MB)")
    return bytes(data)


def _file_type(name: str) -> str:
    """Feishu's file_type for an upload: office files keep theirs, the rest are 'stream'."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "xls": "xls",
        "xlsx": "xls",
        "csv": "stream",
        "doc": "doc",
        "docx": "doc",
        "pdf": "pdf",
        "ppt": "ppt",
        "pptx": "ppt",
    }.get(ext, "stream")
