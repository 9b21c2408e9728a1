"""HTTP transport for the sandbox: the Bot API as PTB calls it, plus a JSON side door."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.models import sent_message_json

if TYPE_CHECKING:
    from bot.sandbox.server import BotApiSandbox

__all__ = ["SANDBOX_KEY", "build_app"]

SANDBOX_KEY: web.AppKey[Any] = web.AppKey("bot_api_sandbox", object)
# Generous, because bots upload exports; the real limit for bots is 50 MB.
MAX_BODY_BYTES = 50 * 1024 * 1024


def _sandbox(request: web.Request) -> BotApiSandbox:
    sandbox: BotApiSandbox = request.app[SANDBOX_KEY]
    return sandbox


def _fail(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )


async def _api(request: web.Request) -> web.Response:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, bytes, str]] = {}
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return _fail(400, "Bad Request: can't parse JSON")
            if not isinstance(body, dict):
                return _fail(400, "Bad Request: JSON body must be an object")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read(), value.content_type)
                elif isinstance(value, str):
                    params[key] = value
                else:
                    params[key] = bytes(value).decode()
    sandbox = _sandbox(request)
    fault = sandbox.take_transport_fault(request.match_info["method"])
    if fault is not None and fault.kind == "drop":
        # The connection goes before anything is done: the client sees it break.
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)
    status, body = await sandbox.call(
        request.match_info["token"], request.match_info["method"], params, files
    )
    if fault is not None:
        # Done, but answered after the client has given up: it cannot know it worked.
        await asyncio.sleep(fault.seconds)
    return web.json_response(body, status=status)


async def _file(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    path = request.match_info["file_path"]
    content = sandbox.file_bytes(path)
    # The real file server answers 404 for a wrong token too.
    if request.match_info["token"] != sandbox.token or content is None:
        return _fail(404, "Not Found")
    return web.Response(body=content, content_type=sandbox.file_mime_type(path))


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _field(body: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = body.get(key)
    if kind is int and isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, kind):
        raise web.HTTPBadRequest(text=f"{key} ({kind.__name__}) is required")
    return value


def _optional(body: dict[str, Any], key: str, kind: type[Any]) -> Any:
    return None if body.get(key) is None else _field(body, key, kind)


def _user_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key in ("first_name", "username", "language_code"):
        value = _optional(body, key, str)
        if value is not None:
            kwargs[key] = value
    return kwargs


async def _side_message(request: web.Request) -> web.Response:
    body = await _json(request)
    update = await _sandbox(request).user_message(
        _field(body, "user_id", int), _field(body, "text", str), **_user_kwargs(body)
    )
    return web.json_response(update)


async def _side_document(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        content = base64.b64decode(_field(body, "content_base64", str), validate=True)
    except binascii.Error:
        raise web.HTTPBadRequest(text="content_base64 is not valid base64") from None
    kwargs = _user_kwargs(body)
    mime_type = _optional(body, "mime_type", str)
    if mime_type is not None:
        kwargs["mime_type"] = mime_type
    update = await _sandbox(request).user_document(
        _field(body, "user_id", int),
        _field(body, "file_name", str),
        content,
        caption=_optional(body, "caption", str),
        **kwargs,
    )
    return web.json_response(update)


async def _side_press(request: web.Request) -> web.Response:
    body = await _json(request)
    update = await _sandbox(request).press_button(
        _field(body, "user_id", int),
        _field(body, "message_id", int),
        _field(body, "callback_data", str),
        **_user_kwargs(body),
    )
    return web.json_response(update)


async def _side_redeliver(request: web.Request) -> web.Response:
    body = await _json(request)
    await _sandbox(request).redeliver(_field(body, "update", dict))
    return web.json_response({"ok": True})


async def _side_fault(request: web.Request) -> web.Response:
    body = await _json(request)
    times = _optional(body, "times", int)
    _sandbox(request).inject_fault(
        _field(body, "method", str),
        _field(body, "status", int),
        _field(body, "description", str),
        retry_after=_optional(body, "retry_after", int),
        times=1 if times is None else times,
        chat_id=_optional(body, "chat_id", int),
    )
    return web.json_response({"ok": True})


async def _side_block(request: web.Request) -> web.Response:
    body = await _json(request)
    _sandbox(request).block_user(_field(body, "user_id", int))
    return web.json_response({"ok": True})


def _query_int(request: web.Request, key: str, default: int | None) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{key} must be an integer") from None


async def _side_sent(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    chat_id = _query_int(request, "chat_id", None)
    messages = sandbox.sent if chat_id is None else sandbox.messages_to(chat_id)
    return web.json_response([sent_message_json(m) for m in messages])


async def _side_wait(request: web.Request) -> web.Response:
    chat_id = _query_int(request, "chat_id", None)
    if chat_id is None:
        raise web.HTTPBadRequest(text="chat_id is required")
    after = _query_int(request, "after", 0) or 0
    try:
        timeout = float(request.query.get("timeout", "5"))
    except ValueError:
        raise web.HTTPBadRequest(text="timeout must be a number") from None
    try:
        message = await _sandbox(request).wait_for_message(chat_id, after=after, timeout=timeout)
    except TimeoutError as exc:
        return web.json_response({"ok": False, "description": str(exc)}, status=504)
    return web.json_response(sent_message_json(message))


async def _side_transcript(request: web.Request) -> web.Response:
    return web.Response(
        text="\n".join(_sandbox(request).transcript) + "\n", content_type="text/plain"
    )


async def _side_calls(request: web.Request) -> web.Response:
    calls = [
        {"method": c.method, "params": c.params, "status": c.status, "response": c.response}
        for c in _sandbox(request).calls
    ]
    return web.Response(text=json.dumps(calls, default=repr), content_type="application/json")


def build_app(sandbox: BotApiSandbox) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SANDBOX_KEY] = sandbox
    app.router.add_route("POST", "/bot{token}/{method}", _api)
    app.router.add_route("GET", "/bot{token}/{method}", _api)
    app.router.add_get("/file/bot{token}/{file_path:.+}", _file)
    app.router.add_post("/_sandbox/message", _side_message)
    app.router.add_post("/_sandbox/document", _side_document)
    app.router.add_post("/_sandbox/press", _side_press)
    app.router.add_post("/_sandbox/redeliver", _side_redeliver)
    app.router.add_post("/_sandbox/fault", _side_fault)
    app.router.add_post("/_sandbox/block", _side_block)
    app.router.add_get("/_sandbox/sent", _side_sent)
    app.router.add_get("/_sandbox/wait", _side_wait)
    app.router.add_get("/_sandbox/transcript", _side_transcript)
    app.router.add_get("/_sandbox/calls", _side_calls)
    return app
