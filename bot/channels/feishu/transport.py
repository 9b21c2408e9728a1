"""How Feishu's events reach the bot: Feishu's long connection (the bot dials out, so an office
needs no public address), or HTTP callbacks to a public URL (webhook mode)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from aiohttp import web

from bot.channels.feishu.events import FeishuEvents, Rejected, open_request
from bot.config import FeishuConfig

log = logging.getLogger(__name__)

# Feishu's events are small; a press or a message is a few kilobytes.
MAX_BODY_BYTES = 1024 * 1024
# How long the SDK's thread waits for an event to be kept before giving up on it (Feishu then
# delivers it again).
HANDOFF_SECONDS = 10.0


def make_app() -> web.Application:
    return web.Application(client_max_size=MAX_BODY_BYTES)


def add_routes(app: web.Application, config: FeishuConfig, events: FeishuEvents) -> None:
    async def callback(request: web.Request) -> web.Response:
        # The whole body (the application's client_max_size refuses a larger one with 413).
        body = await request.read()
        try:
            event = open_request(body, request.headers, config)
        except Rejected as exc:
            log.warning("refused a Feishu callback: %s", exc)
            return web.json_response({"msg": "refused"}, status=401)
        try:
            answer = await events.handle(event)
        except Exception:
            # Not kept: a non-200 answer makes Feishu deliver the event again.
            log.exception("a Feishu event could not be kept")
            return web.json_response({"msg": "try again"}, status=503)
        return web.json_response(answer)

    app.router.add_post(config.path, callback)


def dispatcher(config: FeishuConfig, events: FeishuEvents, loop: asyncio.AbstractEventLoop) -> Any:
    """The SDK's event dispatcher for the long connection: each event (already decrypted by the
    SDK's connection) goes to `events` on the bot's own loop."""
    import lark_oapi as lark

    def deliver(data: Any) -> dict[str, Any]:
        event = json.loads(lark.JSON.marshal(data))
        future = asyncio.run_coroutine_threadsafe(events.handle(event), loop)
        return future.result(timeout=HANDOFF_SECONDS)

    def on_message(data: Any) -> None:
        deliver(data)

    def on_press(data: Any) -> Any:
        deliver(data)
        # No toast: the card changes in place once the press has been handled.
        return _empty_answer()

    return (
        lark.EventDispatcherHandler.builder(config.encrypt_key, config.verification_token)
        .register_p2_customized_event("im.message.receive_v1", on_message)
        .register_p2_card_action_trigger(on_press)
        .build()
    )


def _empty_answer() -> Any:
    from lark_oapi.event.callback.model.p2_card_action_trigger import (
        P2CardActionTriggerResponse,
    )

    return P2CardActionTriggerResponse({})


class LongConnection:
    """The SDK's WebSocket client, in a thread of its own (it runs its own event loop)."""

    def __init__(self, config: FeishuConfig, events: FeishuEvents) -> None:
        self.config = config
        self.events = events
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="feishu-long-connection", daemon=True
        )
        self._thread.start()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        own = asyncio.new_event_loop()
        asyncio.set_event_loop(own)
        import lark_oapi as lark
        from lark_oapi.ws import client as ws_client

        # The SDK keeps the loop it found at import time; here it must be this thread's own.
        ws_client.loop = own
        client = lark.ws.Client(
            self.config.app_id,
            self.config.app_secret,
            event_handler=dispatcher(self.config, self.events, loop),
            domain=self.config.base_url,
            log_level=lark.LogLevel.WARNING,
        )
        try:
            client.start()
        except Exception:
            log.exception("the Feishu long connection stopped")
