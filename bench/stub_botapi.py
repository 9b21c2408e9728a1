"""A Bot API stand-in that does nothing but answer: for measuring the client, not the server.

    python bench/stub_botapi.py PORT

Prints "ready" once listening. sendMessage/sendDocument answer with a minimal Message and an
increasing message id; getMe answers with a bot user; anything else answers `true`.
"""

from __future__ import annotations

import itertools
import json
import sys

from aiohttp import web

_ids = itertools.count(1)
_BOT = {"id": 1, "is_bot": True, "first_name": "stub", "username": "stub_bot"}


async def handle(request: web.Request) -> web.Response:
    body = await request.read()
    method = request.match_info["method"]
    if method in ("sendMessage", "sendDocument"):
        params = json.loads(body) if body else {}
        result: object = {
            "message_id": next(_ids),
            "date": 0,
            "chat": {"id": params.get("chat_id", 0), "type": "private"},
            "from": _BOT,
            "text": params.get("text", ""),
        }
    elif method == "getMe":
        result = _BOT
    else:
        result = True
    return web.json_response({"ok": True, "result": result})


def main() -> None:
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handle)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=lambda *_: print("ready", flush=True),
    )


if __name__ == "__main__":
    main()
