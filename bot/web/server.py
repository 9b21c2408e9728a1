"""The aiohttp server: Telegram's webhook and a health check."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update

from storage.db import Database

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Real updates are a few kilobytes; a larger body is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024

APPLICATION_KEY: web.AppKey[Any] = web.AppKey("application", object)
DATABASE_KEY: web.AppKey[Database] = web.AppKey("database", Database)
SECRET_KEY: web.AppKey[str] = web.AppKey("secret_token", str)


async def telegram_update(request: web.Request) -> web.Response:
    application = request.app[APPLICATION_KEY]
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
        update = Update.de_json(data, application.bot)
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception:
        log.warning("webhook body is not a valid update")
        return web.json_response({"ok": False, "error": "bad update"}, status=400)
    # Acknowledge at once; the application processes from its queue.
    await application.update_queue.put(update)
    return web.json_response({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    reachable = await request.app[DATABASE_KEY].ping()
    return web.json_response(
        {"status": "ok" if reachable else "degraded", "database": reachable},
        status=200 if reachable else 503,
    )


def make_web_app(
    application: Any, db: Database, *, path: str, secret_token: str
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[APPLICATION_KEY] = application
    app[DATABASE_KEY] = db
    app[SECRET_KEY] = secret_token
    app.router.add_get("/healthz", healthz)
    app.router.add_post(path, telegram_update)
    return app
