"""The aiohttp server: Telegram's webhook (health and metrics: bot.web.health)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from telegram import Update

from bot.logs import log_redacted, member_texts

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Real updates are a few kilobytes; a larger body is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024

# Keeps updates and queues the new ones (bot.inbound.Inbound.receive); raises when it could not.
Receive = Callable[[Sequence[dict[str, Any]], Sequence[Update]], Awaitable[int]]

BOT_KEY: web.AppKey[Any] = web.AppKey("bot", object)
RECEIVE_KEY: web.AppKey[Receive] = web.AppKey("receive", object)  # type: ignore[arg-type]
SECRET_KEY: web.AppKey[str] = web.AppKey("secret_token", str)


async def telegram_update(request: web.Request) -> web.Response:
    secret = request.app[SECRET_KEY]
    given = request.headers.get(SECRET_HEADER, "")
    # Constant-time comparison: the secret is the only thing that tells Telegram from anyone.
    if not hmac.compare_digest(given.encode(), secret.encode()):
        log.warning("webhook request without the right secret from %s", request.remote)
        return web.json_response({"ok": False, "error": "forbidden"}, status=403)
    try:
        body = await request.read()
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not an update")
        update = Update.de_json(data, request.app[BOT_KEY])
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception:
        log.warning("webhook body is not a valid update")
        return web.json_response({"ok": False, "error": "bad update"}, status=400)
    # Acknowledge only once the update is kept: an update lost in a crash before this point is
    # delivered again by Telegram. Handling goes on after the answer, from the queue.
    try:
        await request.app[RECEIVE_KEY]([data], [update])
    except Exception as exc:
        # A database error may quote the update it could not keep: the member's text is cut out.
        log_redacted(
            log,
            logging.ERROR,
            "could not keep update %s; Telegram will deliver it again",
            data["update_id"],
            error=exc,
            hide=member_texts(update),
        )
        return web.json_response({"ok": False, "error": "try again"}, status=503)
    return web.json_response({"ok": True})


def make_web_app(receive: Receive, bot: Any, *, path: str, secret_token: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[RECEIVE_KEY] = receive
    app[BOT_KEY] = bot
    app[SECRET_KEY] = secret_token
    app.router.add_post(path, telegram_update)
    return app
