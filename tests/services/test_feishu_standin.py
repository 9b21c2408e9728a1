"""Feishu event crypto (against lark_oapi's own code) and the local Feishu Open API stand-in."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

from bot.channels.feishu import crypto
from bot.sandbox.feishu import (
    FILES_PATH,
    IMAGES_PATH,
    MESSAGES_PATH,
    TOKEN_PATH,
    FeishuStandIn,
    chat_id_for,
    message_event,
    run_feishu_standin,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ALICE = "ou_alice"
BOB = "ou_bob"


def _lark(module: str) -> Any:
    # lark_oapi ships no type information; imported here only, and only by the tests using it.
    return importlib.import_module(module)


# ---------------------------------------------------------------------- crypto


@pytest.mark.parametrize("text", ["", "hello", "x" * 16, '{"schema":"2.0","text":"你好，飞书 ✓"}'])
def test_encrypt_round_trips(text: str) -> None:
    sealed = crypto.encrypt("ekey", text)
    assert crypto.decrypt("ekey", sealed) == text
    raw = base64.b64decode(sealed)
    # IV plus whole blocks, padding always adding at least one byte.
    assert len(raw) % 16 == 0 and len(raw) >= 16 + len(text.encode()) + 1
    # A fresh IV each time: the same plaintext never gives the same field twice.
    assert crypto.encrypt("ekey", text) != sealed


def test_lark_decrypts_what_we_encrypt() -> None:
    cipher = _lark("lark_oapi.core.utils.decryptor").AESCipher("my encrypt key")
    plain = json.dumps({"challenge": "abc", "text": "会议 9:30"}, ensure_ascii=False)
    assert cipher.decrypt_str(crypto.encrypt("my encrypt key", plain)) == plain


def test_documented_layout_decrypts() -> None:
    # Built by hand from the documented recipe, independently of `encrypt`.
    key = hashlib.sha256(b"kk").digest()
    iv = bytes(range(16))
    body = AES.new(key, AES.MODE_CBC, iv).encrypt(pad("事件".encode(), 16))
    assert crypto.decrypt("kk", base64.b64encode(iv + body).decode()) == "事件"


def test_tampering_and_garbage_raise_value_error() -> None:
    sealed = bytearray(base64.b64decode(crypto.encrypt("ekey", "short")))
    # The plaintext fits one block, so the IV's last byte lands on the padding byte.
    sealed[15] ^= 0x01
    with pytest.raises(ValueError, match="tampered"):
        crypto.decrypt("ekey", base64.b64encode(bytes(sealed)).decode())
    with pytest.raises(ValueError, match="base64"):
        crypto.decrypt("ekey", "not base64 at all!")
    with pytest.raises(ValueError, match="length"):
        crypto.decrypt("ekey", base64.b64encode(b"\x00" * 20).decode())
    key = hashlib.sha256(b"ekey").digest()
    iv = os.urandom(16)
    not_utf8 = AES.new(key, AES.MODE_CBC, iv).encrypt(pad(b"\xff\xfe\xfd", 16))
    with pytest.raises(ValueError, match="UTF-8"):
        crypto.decrypt("ekey", base64.b64encode(iv + not_utf8).decode())


def test_signature_matches_lark_and_checks() -> None:
    dispatcher = _lark("lark_oapi.event.dispatcher_handler")
    raw_request = _lark("lark_oapi.core.model.raw_request")
    body = b'{"encrypt":"abc"}'
    sig = crypto.signature("1700000000", "n0nce", "ekey", body)
    assert sig == hashlib.sha256(b"1700000000n0nceekey" + body).hexdigest()
    request = raw_request.RawRequest()
    request.body = body
    request.headers = {
        "X-Lark-Request-Timestamp": "1700000000",
        "X-Lark-Request-Nonce": "n0nce",
        "X-Lark-Signature": sig,
    }
    # lark's own check raises on a mismatch; passing means the formulas agree.
    dispatcher.EventDispatcherHandler()._verify_sign(request, "ekey")
    assert crypto.signature_ok("1700000000", "n0nce", "ekey", body, sig)
    assert not crypto.signature_ok("1700000001", "n0nce", "ekey", body, sig)
    assert not crypto.signature_ok("1700000000", "n0nce", "ekey", body + b" ", sig)
    assert not crypto.signature_ok("1700000000", "n0nce", "ekey", body, "é" + sig[1:])


def test_lark_dispatcher_accepts_standin_events() -> None:
    lark = _lark("lark_oapi")
    raw_request = _lark("lark_oapi.core.model.raw_request")
    standin = FeishuStandIn()
    seen: list[Any] = []
    handler = (
        lark.EventDispatcherHandler.builder("ekey", "vtoken")
        .register_p2_im_message_receive_v1(seen.append)
        .build()
    )
    event = message_event(app_id="cli_test", token="vtoken", open_id=ALICE, text="你好")
    request = raw_request.RawRequest()
    request.body, request.headers = standin.signed_request(event)
    response = handler.do(request)
    assert response.status_code == 200, response.content
    (received,) = seen
    assert received.event.sender.sender_id.open_id == ALICE
    assert json.loads(received.event.message.content) == {"text": "你好"}
    assert received.header.event_id == event["header"]["event_id"]


# ---------------------------------------------------------------------- the stand-in


@dataclass
class Receiver:
    """The bot's callback endpoint, reduced to checking what Feishu would have it check."""

    encrypt_key: str
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.raw.append((body, headers))
        if self.encrypt_key:
            ok = crypto.signature_ok(
                headers.get("X-Lark-Request-Timestamp", ""),
                headers.get("X-Lark-Request-Nonce", ""),
                self.encrypt_key,
                body,
                headers.get("X-Lark-Signature", ""),
            )
            if not ok:
                return web.json_response({"msg": "bad signature"}, status=401)
            event = json.loads(crypto.decrypt(self.encrypt_key, json.loads(body)["encrypt"]))
        else:
            event = json.loads(body)
        self.events.append(event)
        if event.get("type") == "url_verification":
            return web.json_response({"challenge": event["challenge"]})
        if event["header"]["event_type"] == "card.action.trigger":
            value = event["event"]["action"]["value"]
            return web.json_response({"toast": {"type": "info", "content": f"got {value['do']}"}})
        return web.json_response({})


@dataclass
class Env:
    standin: FeishuStandIn
    base: str
    http: aiohttp.ClientSession
    receiver: Receiver

    async def token(self) -> str:
        status, body = await self.call(
            "POST", TOKEN_PATH, json={"app_id": "cli_test", "app_secret": "secret"}
        )
        assert status == 200 and body["code"] == 0, body
        return str(body["tenant_access_token"])

    async def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as r:
            return r.status, await r.json()

    async def send(
        self, token: str, open_id: str, msg_type: str, content: Any, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        body = {"receive_id": open_id, "msg_type": msg_type, "content": content, **extra}
        return await self.call(
            "POST", MESSAGES_PATH, token=token, params={"receive_id_type": "open_id"}, json=body
        )

    async def upload_image(self, token: str, data: bytes = PNG) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("image_type", "message")
        form.add_field("image", data, filename="chart.png", content_type="image/png")
        return await self.call("POST", IMAGES_PATH, token=token, data=form)

    async def upload_file(
        self, token: str, name: str, data: bytes, file_type: str = "stream"
    ) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("file_type", file_type)
        form.add_field("file_name", name)
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
        return await self.call("POST", FILES_PATH, token=token, data=form)


async def _env(encrypt_key: str) -> AsyncIterator[Env]:
    standin = FeishuStandIn(encrypt_key=encrypt_key)
    standin.add_user(ALICE, "Alice")
    receiver = Receiver(encrypt_key)
    app = web.Application()
    app.router.add_post("/feishu/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        standin.callback_url = f"http://127.0.0.1:{runner.addresses[0][1]}/feishu/events"
        async with run_feishu_standin(standin) as base, aiohttp.ClientSession() as http:
            yield Env(standin, base, http, receiver)
    finally:
        await runner.cleanup()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for value in _env("ekey"):
        yield value


@pytest.fixture
async def plain_env() -> AsyncIterator[Env]:
    async for value in _env(""):
        yield value


def card(*elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"config": {"wide_screen_mode": True}, "elements": list(elements), **extra}


def div(text: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "lark_md", "content": text}}


def button(label: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"tag": "button", "text": {"tag": "plain_text", "content": label}}
    b["type"] = "primary"
    if value is not None:
        b["value"] = value
    b.update(extra)
    return b


def actions(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"tag": "action", "actions": list(buttons)}


async def test_token_grant_and_refusals(env: Env) -> None:
    assert env.base.startswith("http://127.0.0.1:")
    status, body = await env.call(
        "POST", TOKEN_PATH, json={"app_id": "cli_test", "app_secret": "secret"}
    )
    assert status == 200
    assert body["code"] == 0 and body["expire"] == 7200
    token = body["tenant_access_token"]
    assert token.startswith("t-") and "data" not in body
    assert env.standin.token_grants == 1

    status, body = await env.call(
        "POST", TOKEN_PATH, json={"app_id": "cli_test", "app_secret": "x"}
    )
    assert (status, body["code"], body["msg"]) == (400, 10014, "app secret invalid")
    assert env.standin.token_grants == 1

    status, body = await env.send("", ALICE, "text", {"text": "hi"})
    assert (status, body["code"]) == (400, 99991661)
    status, body = await env.send("t-bogus", ALICE, "text", {"text": "hi"})
    assert (status, body["code"]) == (400, 99991663)
    assert body["msg"].startswith("Invalid access token for authorization.")

    assert (await env.send(token, ALICE, "text", {"text": "hi"}))[0] == 200
    env.standin.expire_tokens()
    status, body = await env.send(token, ALICE, "text", {"text": "again"})
    assert (status, body["code"]) == (400, 99991663)
    fresh = await env.token()
    assert fresh != token and env.standin.token_grants == 2
    assert (await env.send(fresh, ALICE, "text", {"text": "again"}))[0] == 200
    # Tokens also lapse with time.
    env.standin.advance(7201)
    assert (await env.send(fresh, ALICE, "text", {"text": "late"}))[1]["code"] == 99991663
    assert [m.text for m in env.standin.messages_to(ALICE)] == ["hi", "again"]


async def test_send_text_and_read_back(env: Env) -> None:
    token = await env.token()
    status, body = await env.send(token, ALICE, "text", {"text": "你好 Alice"})
    assert status == 200 and body["code"] == 0
    data = body["data"]
    assert data["message_id"].startswith("om_") and data["msg_type"] == "text"
    assert data["chat_id"] == chat_id_for(ALICE) and data["create_time"].isdigit()
    message = await env.standin.wait_for_message(ALICE)
    assert message is env.standin.message(data["message_id"])
    assert (message.text, message.content, message.buttons) == (
        "你好 Alice",
        {"text": "你好 Alice"},
        [],
    )
    post = {
        "zh_cn": {
            "title": "Notice",
            "content": [
                [
                    {"tag": "text", "text": "Dues "},
                    {"tag": "a", "text": "here", "href": "https://e.org"},
                ]
            ],
        }
    }
    assert (await env.send(token, ALICE, "post", post))[0] == 200
    assert env.standin.messages_to(ALICE)[1].text == "Notice\nDues here"
    assert (await env.send(token, ALICE, "post", {"zh_cn": {"content": "x"}}))[1]["code"] == 230001
    call, *_ = env.standin.calls_to("POST", MESSAGES_PATH)
    assert call.query == {"receive_id_type": "open_id"} and call.body["receive_id"] == ALICE
    assert call.status == 200 and call.code == 0


async def test_send_refusals(env: Env) -> None:
    token = await env.token()
    status, body = await env.send(token, BOB, "text", {"text": "hi"})
    assert (status, body["code"], body["msg"]) == (
        400,
        230013,
        "Bot has NO availability to this user.",
    )
    env.standin.block(ALICE)
    assert (await env.send(token, ALICE, "text", {"text": "hi"}))[1]["code"] == 230013
    env.standin.unblock(ALICE)

    status, body = await env.call(
        "POST",
        MESSAGES_PATH,
        token=token,
        params={"receive_id_type": "user_id"},
        json={"receive_id": ALICE, "msg_type": "text", "content": '{"text":"x"}'},
    )
    assert (status, body["code"], body["msg"]) == (400, 99992402, "field validation failed")
    assert (await env.send(token, ALICE, "sticker", {"text": "x"}))[1]["code"] == 99992402
    # The content must be a JSON string, not an object.
    status, body = await env.call(
        "POST",
        MESSAGES_PATH,
        token=token,
        params={"receive_id_type": "open_id"},
        json={"receive_id": ALICE, "msg_type": "text", "content": {"text": "x"}},
    )
    assert (status, body["code"], body["msg"]) == (400, 230001, "invalid message content")
    assert (await env.send(token, ALICE, "text", {"text": " "}))[1]["code"] == 230001
    assert (await env.send(token, ALICE, "text", "not json"))[1]["code"] == 230001
    status, body = await env.send(token, ALICE, "text", {"text": "x" * (150 * 1024)})
    assert (status, body["code"]) == (400, 230025)
    assert (await env.send(token, ALICE, "image", {"image_key": "img_v3_nope"}))[1][
        "code"
    ] == 230001
    assert env.standin.messages_to(ALICE) == [] and env.standin.messages_to(BOB) == []


async def test_card_is_stored_with_text_and_buttons(env: Env) -> None:
    token = await env.token()
    status, body = await env.upload_image(token)
    image_key = body["data"]["image_key"]
    assert status == 200 and image_key.startswith("img_v3_")
    assert env.standin.file_bytes(image_key) == PNG
    sent = card(
        div("**Meeting** at 9:30"),
        {"tag": "markdown", "content": "Room 3"},
        {"tag": "hr"},
        {"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": "chart"}},
        actions(
            button("Yes", {"do": "yes", "id": 7}),
            button("Map", url="https://example.org/map", type="default"),
        ),
        {"tag": "note", "elements": [{"tag": "plain_text", "content": "reply by Friday"}]},
        header={"title": {"tag": "plain_text", "content": "Invite"}, "template": "blue"},
    )
    status, body = await env.send(token, ALICE, "interactive", sent)
    assert status == 200, body
    message = env.standin.message(body["data"]["message_id"])
    assert message is not None and message.content == sent
    assert message.title == "Invite"
    assert message.text == "**Meeting** at 9:30\nRoom 3\nreply by Friday"
    assert message.buttons == [("Yes", {"do": "yes", "id": 7}), ("Map", "https://example.org/map")]

    status, body = await env.send(token, ALICE, "image", {"image_key": image_key})
    assert status == 200 and env.standin.messages_to(ALICE)[-1].text == "[image]"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (card(div("x"), config=[]), "config must be an object"),
        ({"elements": []}, "elements must be a non-empty list"),
        (card(div("x"), i18n={}), "unknown top-level keys"),
        (card({"tag": "table"}), "elements[0].tag 'table'"),
        (card({"tag": "div", "text": {"tag": "html", "content": "x"}}), "elements[0].text.tag"),
        (card({"tag": "markdown"}), "elements[0].content must be a string"),
        (card(actions()), "actions must be a non-empty list"),
        (card(actions(button("", {"a": 1}))), "text.content is empty"),
        (card(actions(button("Go", {"a": 1}, type="warning"))), "type must be one of"),
        (card(actions(button("Go", "yes"))), "value must be an object"),
        (card(actions(button("Go"))), "exactly one of value and url"),
        (card(actions(button("Go", url="ftp://x"))), "http(s) URL"),
        (card(actions(button("Go", {"blob": "x" * 3000}))), "over 2048"),
        (
            card(
                {"tag": "img", "img_key": "img_v3_x", "alt": {"tag": "plain_text", "content": ""}}
            ),
            "was not uploaded",
        ),
        (
            card(
                div("x"),
                header={"title": {"tag": "plain_text", "content": "t"}, "template": "pink"},
            ),
            "template",
        ),
        (card(*[div("y" * 1000) for _ in range(40)]), "over 30720"),
    ],
)
async def test_bad_cards_are_refused_with_reason(env: Env, bad: Any, why: str) -> None:
    token = await env.token()
    status, body = await env.send(token, ALICE, "interactive", bad)
    assert (status, body["code"]) == (400, 230099)
    assert body["msg"].startswith("card content invalid: ") and why in body["msg"], body["msg"]
    assert env.standin.messages_to(ALICE) == []


async def test_files_up_and_down(env: Env) -> None:
    token = await env.token()
    status, body = await env.upload_file(token, "名单.xlsx", b"PK\x03\x04 roster")
    file_key = body["data"]["file_key"]
    assert status == 200 and file_key.startswith("file_v3_")
    assert (env.standin.file_name(file_key), env.standin.file_bytes(file_key)) == (
        "名单.xlsx",
        b"PK\x03\x04 roster",
    )
    status, body = await env.send(token, ALICE, "file", {"file_key": file_key})
    assert status == 200
    assert env.standin.messages_to(ALICE)[0].text == "名单.xlsx"

    assert (await env.upload_file(token, "empty.txt", b""))[1]["code"] == 234010
    assert (await env.upload_file(token, "a.txt", b"x", file_type="exe"))[1]["code"] == 234001
    assert (await env.upload_image(token, b"GIF? no, text"))[1]["code"] == 234011
    assert (await env.send(token, ALICE, "file", {"file_key": "file_v3_x"}))[1]["code"] == 230001
    (upload, *_) = env.standin.calls_to("POST", FILES_PATH)
    assert (
        upload.body["file_name"] == "名单.xlsx"
        and upload.body["file"] == "<file 名单.xlsx, 11 bytes>"
    )


async def test_uuid_makes_sending_idempotent(env: Env) -> None:
    token = await env.token()
    first = await env.send(token, ALICE, "text", {"text": "once"}, uuid="push-1")
    again = await env.send(token, ALICE, "text", {"text": "once"}, uuid="push-1")
    assert first[0] == again[0] == 200
    assert first[1]["data"]["message_id"] == again[1]["data"]["message_id"]
    assert [m.text for m in env.standin.messages_to(ALICE)] == ["once"]
    other = await env.send(token, ALICE, "text", {"text": "other"}, uuid="push-2")
    assert other[1]["data"]["message_id"] != first[1]["data"]["message_id"]
    env.standin.advance(3601)
    late = await env.send(token, ALICE, "text", {"text": "once"}, uuid="push-1")
    assert late[1]["data"]["message_id"] != first[1]["data"]["message_id"]
    assert [m.text for m in env.standin.messages_to(ALICE)] == ["once", "other", "once"]


async def test_throttle_gives_429_then_works(env: Env) -> None:
    token = await env.token()
    env.standin.throttle(MESSAGES_PATH, 2)
    for _ in range(2):
        async with env.http.post(
            env.base + MESSAGES_PATH,
            params={"receive_id_type": "open_id"},
            headers={"Authorization": f"Bearer {token}"},
            json={"receive_id": ALICE, "msg_type": "text", "content": '{"text":"hi"}'},
        ) as response:
            assert response.status == 429
            assert response.headers["x-ogw-ratelimit-reset"] == "1"
            assert await response.json() == {
                "code": 99991400,
                "msg": "request trigger frequency limit",
            }
    # Other paths are not affected.
    assert (await env.token()).startswith("t-")
    assert (await env.send(token, ALICE, "text", {"text": "hi"}))[0] == 200
    assert [c.status for c in env.standin.calls_to("POST", MESSAGES_PATH)] == [429, 429, 200]
    assert len(env.standin.messages_to(ALICE)) == 1


async def test_patch_and_recall(env: Env) -> None:
    token = await env.token()
    _, body = await env.send(
        token, ALICE, "interactive", card(div("before"), actions(button("Go", {"do": "go"})))
    )
    card_id = body["data"]["message_id"]
    _, body = await env.send(token, ALICE, "text", {"text": "plain"})
    text_id = body["data"]["message_id"]
    path = f"{MESSAGES_PATH}/{card_id}"

    status, body = await env.call(
        "PATCH", path, token=token, json={"content": json.dumps(card(div("after")))}
    )
    assert (status, body["code"]) == (200, 0)
    message = await env.standin.wait_for_edit(card_id)
    assert (message.edits, message.text, message.buttons) == (1, "after", [])

    status, body = await env.call(
        "PATCH", path, token=token, json={"content": json.dumps({"elements": "x"})}
    )
    assert (status, body["code"]) == (400, 230099)
    assert message.text == "after" and message.edits == 1
    status, body = await env.call(
        "PATCH",
        f"{MESSAGES_PATH}/{text_id}",
        token=token,
        json={"content": json.dumps(card(div("x")))},
    )
    assert (status, body["code"]) == (400, 230001)
    status, body = await env.call(
        "PATCH",
        f"{MESSAGES_PATH}/om_missing",
        token=token,
        json={"content": json.dumps(card(div("x")))},
    )
    assert (status, body["code"]) == (400, 230011)

    status, body = await env.call("DELETE", path, token=token)
    assert (status, body["code"]) == (200, 0)
    assert message.recalled
    status, body = await env.call(
        "PATCH", path, token=token, json={"content": json.dumps(card(div("x")))}
    )
    assert body["code"] == 230011
    with pytest.raises(AssertionError, match="edited 1 time"):
        await env.standin.wait_for_edit(card_id, edits=2, timeout=0.05)


async def test_wait_for_message_explains_timeout(env: Env) -> None:
    token = await env.token()
    await env.send(token, ALICE, "text", {"text": "first words"})
    with pytest.raises(AssertionError) as excinfo:
        await env.standin.wait_for_message(ALICE, after=1, timeout=0.05)
    report = str(excinfo.value)
    assert "Alice" in report and "1 message(s)" in report and "'first words'" in report


async def test_events_are_encrypted_and_signed(env: Env) -> None:
    event = await env.standin.user_says(ALICE, "签到")
    ((raw, headers),) = env.receiver.raw
    envelope = json.loads(raw)
    assert list(envelope) == ["encrypt"]
    assert crypto.signature_ok(
        headers["X-Lark-Request-Timestamp"],
        headers["X-Lark-Request-Nonce"],
        "ekey",
        raw,
        headers["X-Lark-Signature"],
    )
    assert headers["X-Lark-Request-Timestamp"].isdigit()
    (received,) = env.receiver.events
    assert received == event == env.standin.last_event
    assert received["header"]["event_type"] == "im.message.receive_v1"
    assert received["header"]["token"] == "vtoken" and received["header"]["app_id"] == "cli_test"
    message = received["event"]["message"]
    assert json.loads(message["content"]) == {"text": "签到"}
    assert message["chat_id"] == chat_id_for(ALICE) and message["chat_type"] == "p2p"
    assert received["event"]["sender"]["sender_id"]["open_id"] == ALICE

    assert await env.standin.redeliver(event) == 200
    assert env.receiver.events[-1]["header"]["event_id"] == event["header"]["event_id"]
    # A forged signature reaches the bot as such.
    status, text = await env.standin.post_raw(raw, {**headers, "X-Lark-Signature": "0" * 64})
    assert status == 401 and "bad signature" in text
    assert [d.status for d in env.standin.deliveries] == [200, 200, 401]

    assert await env.standin.verify_url("chal-123") == {"challenge": "chal-123"}
    assert env.receiver.events[-1] == {
        "challenge": "chal-123",
        "token": "vtoken",
        "type": "url_verification",
    }


async def test_press_posts_button_value(env: Env) -> None:
    token = await env.token()
    sent = card(
        div("Join?"),
        actions(button("Join", {"do": "join", "m": 3}), button("Site", url="https://e.org")),
    )
    _, body = await env.send(token, ALICE, "interactive", sent)
    message_id = body["data"]["message_id"]
    answer = await env.standin.press(ALICE, message_id, "Join")
    assert answer == {"toast": {"type": "info", "content": "got join"}}
    pressed = env.receiver.events[-1]
    assert pressed["header"]["event_type"] == "card.action.trigger"
    assert pressed["event"]["action"] == {"value": {"do": "join", "m": 3}, "tag": "button"}
    assert pressed["event"]["operator"]["open_id"] == ALICE
    assert pressed["event"]["context"] == {
        "open_message_id": message_id,
        "open_chat_id": chat_id_for(ALICE),
    }
    with pytest.raises(AssertionError, match=r"no button 'Leave'.*\['Join', 'Site'\]"):
        await env.standin.press(ALICE, message_id, "Leave")
    with pytest.raises(AssertionError, match="sends no callback"):
        await env.standin.press(ALICE, message_id, "Site")


async def test_user_file_is_served_to_the_bot(env: Env) -> None:
    event = await env.standin.user_sends_file(BOB, "roster.csv", b"name\nBob\n")
    assert env.standin.users[BOB] == "User"
    message = env.receiver.events[-1]["event"]["message"]
    assert message["message_type"] == "file"
    content = json.loads(message["content"])
    assert content["file_name"] == "roster.csv" and env.receiver.events[-1] == event
    token = await env.token()
    url = f"{env.base}{MESSAGES_PATH}/{message['message_id']}/resources/{content['file_key']}"
    async with env.http.get(
        url, params={"type": "file"}, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200 and await r.read() == b"name\nBob\n"
    status, body = await env.call(
        "GET",
        f"{MESSAGES_PATH}/om_other/resources/{content['file_key']}",
        token=token,
        params={"type": "file"},
    )
    assert (status, body["code"]) == (400, 234003)
    status, body = await env.call("GET", url.removeprefix(env.base), params={"type": "file"})
    assert body["code"] == 99991661


async def test_without_encrypt_key_events_are_plain(plain_env: Env) -> None:
    event = await plain_env.standin.user_says(ALICE, "hi")
    ((raw, headers),) = plain_env.receiver.raw
    assert json.loads(raw) == event
    assert "X-Lark-Signature" not in headers and "X-Lark-Request-Nonce" in headers
