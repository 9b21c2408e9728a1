"""A recording Bot API stand-in for the webhook benchmark (bench/webhook_load.py).

    python bench/webhook_stub.py --port PORT [--latency-ms N] [--files DIR]

Answers every Bot API method quickly (`--latency-ms` adds an asyncio.sleep to every call, never
blocking the loop): the send and edit methods with a minimal Message and an increasing message
id, getMe with a bot user, getMyDescription and getMyShortDescription with empty texts, getFile
with a file whose path is its id, and anything else with `true`. Files named by getFile are
served from `--files` at `/file/bot<token>/<path>`.

Every call is recorded as `[arrival (time.monotonic), method, chat_id, callback_query_id,
message_id, the text's first 60 characters, whether it has buttons]`; `GET /_stats?since=N` returns
`{"count": total, "calls": calls[N:]}`. CLOCK_MONOTONIC is one clock for every process on the
machine, so a load generator can subtract its own monotonic send times from these.
`GET /_health` answers once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

BOT = {"id": 1, "is_bot": True, "first_name": "stub", "username": "stub_bot"}
MESSAGE_METHODS = {
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "editMessageMedia",
    "copyMessage",
    "forwardMessage",
}
# A 100,000-row roster and a large XLSX export both come through here.
MAX_BODY = 512 * 1024 * 1024


class Stub:
    def __init__(self, latency: float, files: Path | None) -> None:
        self.latency = latency
        self.files = files
        self.calls: list[list[Any]] = []
        self.ids = itertools.count(1)

    async def api(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        method = request.match_info["method"]
        params = await _params(request)
        chat = _number(params.get("chat_id"))
        message_id = None
        result: Any = True
        if method in MESSAGE_METHODS:
            message_id = next(self.ids)
            result = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat or 0, "type": "private"},
                "from": BOT,
                "text": str(params.get("text", "")),
            }
        elif method == "getMe":
            result = BOT
        elif method == "getFile":
            file_id = str(params.get("file_id", ""))
            path = self.files / Path(file_id).name if self.files else None
            size = path.stat().st_size if path and path.exists() else 0
            result = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": size,
                "file_path": Path(file_id).name,
            }
        elif method == "getWebhookInfo":
            result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        elif method == "getMyDescription":
            result = {"description": ""}
        elif method == "getMyShortDescription":
            result = {"short_description": ""}
        query = params.get("callback_query_id")
        snippet = str(params.get("text") or params.get("caption") or "")[:60]
        markup = bool(params.get("reply_markup"))
        self.calls.append([arrived, method, chat, query, message_id, snippet, markup])
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response({"ok": True, "result": result})

    async def file(self, request: web.Request) -> web.StreamResponse:
        self.calls.append([time.monotonic(), "file", None, None, None, "", False])
        name = Path(request.match_info["path"]).name
        if self.files is None or not (self.files / name).is_file():
            return web.json_response({"ok": False, "error_code": 404}, status=404)
        return web.FileResponse(self.files / name)

    async def stats(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response({"count": len(self.calls), "calls": self.calls[since:]})


async def _params(request: web.Request) -> dict[str, Any]:
    """JSON bodies (branchbot's transport and sender), form bodies (httpx, aiogram), query."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.read()
        if body:
            loaded = json.loads(body)
            if isinstance(loaded, dict):
                params.update(loaded)
    elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--files", type=Path, help="folder served to getFile downloads")
    args = parser.parse_args()
    stub = Stub(args.latency_ms / 1000, args.files)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/bot{token}/{method}", stub.api)
    app.router.add_get("/file/bot{token}/{path:.+}", stub.file)
    app.router.add_get("/_stats", stub.stats)
    app.router.add_get("/_health", health)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=lambda *_: print("ready", flush=True),
    )


if __name__ == "__main__":
    main()
