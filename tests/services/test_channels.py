"""Channels beside Telegram: chat-id aliases, Feishu cards, Feishu events in, the Feishu Bot API
against the local stand-in, and a member's accounts on several channels."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot import menus
from bot.auth import Access
from bot.channels import address
from bot.channels.address import FEISHU, TELEGRAM, alias, channel_of, event_update_id, is_alias
from bot.channels.feishu import cards, crypto
from bot.channels.feishu.bot_api import FeishuBotApi, feishu_file_id, parse_file_id
from bot.channels.feishu.client import FeishuClient
from bot.channels.feishu.events import FeishuEvents, Rejected, open_request
from bot.channels.feishu.transport import add_routes as add_feishu_routes
from bot.channels.feishu.transport import make_app as make_feishu_app
from bot.channels.message import neutral_buttons, telegram_keyboard
from bot.channels.routing import ChannelRequest
from bot.channels.store import AliasCollision, ChannelStore, message_number
from bot.config import DeliveryConfig, FeishuConfig, parse_config
from bot.delivery import Outgoing, QuietHours, Sender, enqueue
from bot.sandbox.feishu import (
    FILES_PATH,
    IMAGES_PATH,
    MESSAGES_PATH,
    FeishuStandIn,
    StoredUpload,
    card_action_event,
    file_message_event,
    message_event,
    run_feishu_standin,
    url_verification,
    validate_card,
)
from bot.services import accounts
from bot.services import updates as inbox_rows
from bot.services.checkin_codes import qr_target
from bot.services.invites import InviteLine, invites_csv
from storage.db import Database
from storage.models import Contact, Delivery, InboxUpdate, Member, utcnow
from tests.conftest import OrgBuilder

ALICE = "ou_alice"
APP = "cli_test"
SECRET = "secret"
VTOKEN = "vtoken"
EKEY = "ekey"
INT64_MIN = -(2**63)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
IMAGE_KEY = "img_v3_test"
IMAGES = {IMAGE_KEY: StoredUpload(IMAGE_KEY, "chart.png", PNG, "image")}


def _keyboard(*rows: list[dict[str, str]]) -> dict[str, Any]:
    return {"inline_keyboard": [list(row) for row in rows]}


# ---------------------------------------------------------------------- address


def test_alias_is_negative_below_telegram_and_fits_int64() -> None:
    for open_id in ("ou_alice", "ou_bob", "ou_" + "f" * 40, ""):
        chat = alias(FEISHU, open_id)
        assert chat < -(2**53)
        assert chat >= INT64_MIN
        assert is_alias(chat)
        assert channel_of(chat) == FEISHU


def test_alias_is_stable_and_distinct() -> None:
    assert alias(FEISHU, "ou_alice") == alias(FEISHU, "ou_alice")
    ids = [f"ou_{i}" for i in range(500)]
    assert len({alias(FEISHU, i) for i in ids}) == len(ids)
    # The value itself is fixed by the formula, not by the process (hash randomisation).
    assert alias(FEISHU, "ou_alice") == -(
        2**53 + 2**48 + int.from_bytes(hashlib.sha256(b"feishu:ou_alice").digest()[:6])
    )


@pytest.mark.parametrize(
    "chat_id",
    [1, 123456789, 2**52, 7_000_000_000, -1001234567890, -(2**52), -100, -(2**53) + 1, -(2**53)],
)
def test_telegram_ids_stay_telegram(chat_id: int) -> None:
    assert channel_of(chat_id) == TELEGRAM
    assert not is_alias(chat_id)


def test_is_alias_of_none() -> None:
    assert not is_alias(None)


def test_event_update_id_negative_and_stable() -> None:
    first = event_update_id(FEISHU, "ev_1")
    assert first < 0
    assert first == event_update_id(FEISHU, "ev_1")
    assert first != event_update_id(FEISHU, "ev_2")
    # Never the alias of a person whose open_id happens to equal the event id.
    assert first != alias(FEISHU, "ev_1")
    assert address.CHANNELS == (TELEGRAM, FEISHU)


# ---------------------------------------------------------------------- cards


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<b>Meeting</b> at <i>nine</i>", "**Meeting** at *nine*"),
        ('<a href="https://example.org/x">the form</a>', "[the form](https://example.org/x)"),
        ("run <code>a*b_c</code> now", "run `a*b_c` now"),
        ("<pre>x_y *z*</pre>", "```\nx_y *z*\n```"),
        ("<s>old</s>", "~~old~~"),
        ("one<br>two", "one\ntwo"),
        ("<u>kept text</u>", "kept text"),
    ],
)
def test_markdown_formatting(html: str, expected: str) -> None:
    assert cards.markdown(html) == expected


def test_markdown_escapes_member_text() -> None:
    assert cards.markdown("*_[]`~<") == r"\*\_\[\]\`\~\<"
    assert cards.markdown("<b>张三: a_b*c</b>") == r"**张三: a\_b\*c**"
    # Entities are read first, then escaped as the characters they stand for.
    assert cards.markdown("&lt;b&gt;not bold&lt;/b&gt; &amp; more") == r"\<b>not bold\</b> & more"


def test_markdown_escapes_line_start_markers() -> None:
    text = "intro\n- dash\n# hash\n> quote\n+ plus\n  - indented"
    assert cards.markdown(text) == "intro\n\\- dash\n\\# hash\n\\> quote\n\\+ plus\n  \\- indented"
    # Mid-line they are ordinary characters.
    assert cards.markdown("a - b # c > d + e") == "a - b # c > d + e"


def test_markdown_leaves_bullet_lists_alone() -> None:
    html = "<b>Tasks</b>\n• 学习 one\n• two_three\n1. first"
    assert cards.markdown(html) == "**Tasks**\n• 学习 one\n• two\\_three\n1. first"


def test_plain_text() -> None:
    assert cards.plain_text("<b>Hi</b> &lt;you&gt; <a href='x'>there</a> ") == "Hi <you> there"


def test_keyboard_rows_from_dict_json_and_nothing() -> None:
    markup = _keyboard([{"text": "A", "callback_data": "a"}], [])
    assert cards.keyboard_rows(markup) == [[{"label": "A", "action": "a"}]]
    assert cards.keyboard_rows(json.dumps(markup)) == [[{"label": "A", "action": "a"}]]
    assert cards.keyboard_rows(None) == []
    assert cards.keyboard_rows({"other": 1}) == []


def test_the_neutral_form_round_trips_to_telegram() -> None:
    keyboard = _keyboard(
        [{"text": "已学习", "callback_data": "it:ok:5"}, {"text": "原文", "url": "https://e.org"}]
    )
    stored = neutral_buttons(keyboard)
    assert stored == {
        "buttons": [
            [{"label": "已学习", "action": "it:ok:5"}, {"label": "原文", "url": "https://e.org"}]
        ]
    }
    assert neutral_buttons(stored) == stored
    assert json.loads(telegram_keyboard(json.dumps(stored)) or "") == keyboard
    # An outbox row written before the neutral form still renders on both channels.
    assert json.loads(telegram_keyboard(json.dumps(keyboard)) or "") == keyboard
    assert cards.keyboard_rows(json.dumps(keyboard)) == stored["buttons"]
    assert neutral_buttons(None) is None and telegram_keyboard(None) is None


def _actions(card: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [e["actions"] for e in card["elements"] if e["tag"] == "action"]


def test_card_text_and_buttons() -> None:
    markup = _keyboard(
        [{"text": "Done", "callback_data": "it:ok:5"}, {"text": "Open", "url": "https://e.org/a"}]
    )
    built = cards.card("<b>Task</b> due", markup)
    assert built["config"] == {"wide_screen_mode": True, "update_multi": True}
    assert built["elements"][0] == {"tag": "markdown", "content": "**Task** due"}
    (row,) = _actions(built)
    done, link = row
    assert done["value"] == {"d": "it:ok:5"} and "url" not in done
    assert done["text"] == {"tag": "plain_text", "content": "Done"}
    assert link["url"] == "https://e.org/a" and "value" not in link
    validate_card(built, images=IMAGES)


def test_card_wraps_seven_buttons_into_rows_of_five() -> None:
    row = [{"text": f"B{i}", "callback_data": f"b:{i}"} for i in range(7)]
    built = cards.card("pick", _keyboard(row, [{"text": "Z", "callback_data": "z"}]))
    rows = _actions(built)
    assert [len(r) for r in rows] == [5, 2, 1]
    assert [b["value"]["d"] for r in rows for b in r] == [f"b:{i}" for i in range(7)] + ["z"]
    assert all(len(r) <= cards.ROW_WIDTH for r in rows)
    validate_card(built, images=IMAGES)


def test_card_with_image_puts_it_first() -> None:
    built = cards.card(
        "<i>chart</i>",
        _keyboard([{"text": "More", "callback_data": "m"}]),
        image_key=IMAGE_KEY,
        image_alt="chart",
    )
    tags = [e["tag"] for e in built["elements"]]
    assert tags == ["img", "markdown", "action"]
    assert built["elements"][0]["img_key"] == IMAGE_KEY
    validate_card(built, images=IMAGES)
    only_image = cards.card("", image_key=IMAGE_KEY)
    assert [e["tag"] for e in only_image["elements"]] == ["img"]
    validate_card(only_image, images=IMAGES)


def test_empty_card_has_a_single_space() -> None:
    built = cards.card("")
    assert built["elements"] == [{"tag": "markdown", "content": " "}]
    validate_card(built, images=IMAGES)


def test_card_with_member_text_and_empty_label_validates() -> None:
    markup = _keyboard(
        [{"text": "", "callback_data": "x"}, {"text": "y" * 300, "callback_data": "y"}]
    )
    built = cards.card("*_[]`~< & 张三\n- item", markup)
    labels = [b["text"]["content"] for r in _actions(built) for b in r]
    assert labels == ["…", "y" * 100]
    validate_card(built, images=IMAGES)


# ---------------------------------------------------------------------- events: open_request


def _config(**changes: Any) -> FeishuConfig:
    values: dict[str, Any] = {
        "app_id": APP,
        "app_secret": SECRET,
        "verification_token": VTOKEN,
        "encrypt_key": EKEY,
    }
    values.update(changes)
    return FeishuConfig(**values)


def _text_event(text: str = "/me", **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"app_id": APP, "token": VTOKEN, "open_id": ALICE, "text": text}
    values.update(changes)
    return message_event(**values)


def test_open_request_decrypts_a_signed_event() -> None:
    event = _text_event("你好")
    body, headers = FeishuStandIn().signed_request(event)
    assert b"encrypt" in body and "你好".encode() not in body
    assert open_request(body, headers, _config()) == event


def test_open_request_refuses_a_bad_signature() -> None:
    body, headers = FeishuStandIn().signed_request(_text_event())
    headers["X-Lark-Signature"] = "0" * 64
    with pytest.raises(Rejected, match="bad signature"):
        open_request(body, headers, _config())
    # The same request with another encrypt key is not signed by Feishu either.
    body, headers = FeishuStandIn(encrypt_key="other").signed_request(_text_event())
    with pytest.raises(Rejected):
        open_request(body, headers, _config())


def test_open_request_refuses_a_wrong_token() -> None:
    body, headers = FeishuStandIn().signed_request(_text_event(token="not-ours"))
    with pytest.raises(Rejected, match="verification token"):
        open_request(body, headers, _config())


def test_open_request_refuses_not_json() -> None:
    with pytest.raises(Rejected, match="JSON"):
        open_request(b"not json {", {}, _config())
    with pytest.raises(Rejected, match="JSON"):
        open_request(b"[1, 2]", {}, _config())


def test_open_request_refuses_an_unsigned_encrypted_event() -> None:
    body, headers = FeishuStandIn().signed_request(_text_event())
    del headers["X-Lark-Signature"]
    with pytest.raises(Rejected, match="unsigned"):
        open_request(body, headers, _config())


def test_open_request_refuses_a_plain_body_when_encryption_is_on() -> None:
    body, headers = FeishuStandIn(encrypt_key="").signed_request(_text_event())
    with pytest.raises(Rejected, match="encrypted"):
        open_request(body, headers, _config())


def test_open_request_accepts_an_unsigned_url_verification() -> None:
    check = url_verification(token=VTOKEN, challenge="chal-1")
    body, headers = FeishuStandIn().signed_request(check)
    del headers["X-Lark-Signature"]
    assert open_request(body, headers, _config()) == check
    body, headers = FeishuStandIn().signed_request(url_verification(token="x", challenge="c"))
    del headers["X-Lark-Signature"]
    with pytest.raises(Rejected, match="verification token"):
        open_request(body, headers, _config())


def test_open_request_refuses_a_stale_timestamp() -> None:
    body, headers = FeishuStandIn().signed_request(_text_event())
    old = str(int(time.time()) - 3601 - 60)
    nonce = headers["X-Lark-Request-Nonce"]
    headers["X-Lark-Request-Timestamp"] = old
    # Correctly signed for the old timestamp: only its age is wrong.
    headers["X-Lark-Signature"] = crypto.signature(old, nonce, EKEY, body)
    with pytest.raises(Rejected, match="stale"):
        open_request(body, headers, _config())
    recent = str(int(time.time()) - 60)
    headers["X-Lark-Request-Timestamp"] = recent
    headers["X-Lark-Signature"] = crypto.signature(recent, nonce, EKEY, body)
    assert open_request(body, headers, _config())["header"]["event_type"] == "im.message.receive_v1"


def test_open_request_without_encryption_checks_the_token() -> None:
    plain = FeishuStandIn(encrypt_key="")
    event = _text_event("hi")
    body, headers = plain.signed_request(event)
    assert json.loads(body) == event
    assert open_request(body, headers, _config(encrypt_key="")) == event
    body, headers = plain.signed_request(_text_event(token="wrong"))
    with pytest.raises(Rejected, match="verification token"):
        open_request(body, headers, _config(encrypt_key=""))


# ---------------------------------------------------------------------- events: FeishuEvents


@dataclass
class FakeStore:
    messages: dict[int, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    remembered: list[str] = field(default_factory=list)

    async def remember(self, open_id: str, name_of: object = None) -> int:
        self.remembered.append(open_id)
        return alias(FEISHU, open_id)

    def name(self, chat_id: int) -> str:
        return ""

    async def message(self, number: int) -> tuple[str, int, dict[str, Any]] | None:
        return self.messages.get(number)


@dataclass
class Inbox:
    updates: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, updates: Sequence[dict[str, Any]]) -> int:
        self.updates.extend(updates)
        return len(updates)


def _events(store: FakeStore | None = None) -> tuple[FeishuEvents, Inbox, FakeStore]:
    store = store or FakeStore()
    inbox = Inbox()
    return FeishuEvents(cast(ChannelStore, store), inbox, APP), inbox, store


async def test_text_command_becomes_a_message_update() -> None:
    events, inbox, store = _events()
    event = _text_event("/me", message_id="om_1", event_id="ev_1")
    assert await events.handle(event) == {}
    (update,) = inbox.updates
    me = alias(FEISHU, ALICE)
    assert update["update_id"] == event_update_id(FEISHU, "ev_1")
    message = update["message"]
    assert message["text"] == "/me"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 3}]
    assert message["from"]["id"] == me and message["from"]["is_bot"] is False
    assert message["chat"] == {"id": me, "type": "private", "first_name": ""}
    assert message["message_id"] == message_number("om_1")
    assert store.remembered == [ALICE]


async def test_plain_text_has_no_command_entity() -> None:
    events, inbox, _ = _events()
    await events.handle(_text_event("hello /me"))
    (update,) = inbox.updates
    assert update["message"]["text"] == "hello /me"
    assert "entities" not in update["message"]


@pytest.mark.parametrize(
    ("typed", "text", "length"),
    [("／help", "/help", 5), ("@_user_1 /me", "/me", 3), ("  /todo  ", "/todo", 5)],
)
async def test_command_as_typed_on_feishu(typed: str, text: str, length: int) -> None:
    events, inbox, _ = _events()
    await events.handle(_text_event(typed))
    (update,) = inbox.updates
    assert update["message"]["text"] == text
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": length}]


async def test_group_chat_bot_sender_and_other_app_are_ignored() -> None:
    events, inbox, store = _events()
    group = _text_event("/me")
    group["event"]["message"]["chat_type"] = "group"
    assert await events.handle(group) == {}
    from_bot = _text_event("/me")
    from_bot["event"]["sender"]["sender_type"] = "app"
    assert await events.handle(from_bot) == {}
    assert await events.handle(_text_event("/me", app_id="cli_other")) == {}
    assert inbox.updates == []
    assert store.remembered == []
    # The same event for this app does go in: the three above were ignored for their reason.
    await events.handle(_text_event("/me"))
    assert len(inbox.updates) == 1


async def test_url_verification_returns_the_challenge() -> None:
    events, inbox, _ = _events()
    answer = await events.handle(url_verification(token=VTOKEN, challenge="abc123"))
    assert answer == {"challenge": "abc123"}
    assert inbox.updates == []


def _press(value: dict[str, Any], message_id: str = "om_card", **changes: Any) -> dict[str, Any]:
    return card_action_event(
        app_id=APP, token=VTOKEN, open_id=ALICE, message_id=message_id, value=value, **changes
    )


async def test_press_becomes_a_callback_query() -> None:
    markup = _keyboard([{"text": "OK", "callback_data": "it:ok:5"}])
    me = alias(FEISHU, ALICE)
    number = message_number("om_card")
    store = FakeStore({number: ("om_card", me, {"text": "<b>Item</b>", "markup": markup})})
    events, inbox, _ = _events(store)
    event = _press({"d": "it:ok:5"}, event_id="ev_press")
    await events.handle(event)
    (update,) = inbox.updates
    assert update["update_id"] == event_update_id(FEISHU, "ev_press")
    query = update["callback_query"]
    assert query["data"] == "it:ok:5"
    assert query["id"].startswith(f"feishu:{me}:")
    assert query["id"] == f"feishu:{me}:{event['event']['token']}"
    assert query["from"]["id"] == me
    shown = query["message"]
    assert shown["message_id"] == number and shown["chat"]["id"] == me
    assert shown["reply_markup"] == markup and shown["text"] == "<b>Item</b>"


async def test_press_on_an_unknown_message_has_no_markup() -> None:
    events, inbox, _ = _events()
    await events.handle(_press({"d": "it:ok:5"}, message_id="om_gone"))
    (update,) = inbox.updates
    assert update["callback_query"]["data"] == "it:ok:5"
    assert "reply_markup" not in update["callback_query"]["message"]


async def test_command_button_types_the_command() -> None:
    events, inbox, _ = _events()
    await events.handle(_press({"d": "cmd:/todo"}))
    (update,) = inbox.updates
    assert "callback_query" not in update
    message = update["message"]
    assert message["text"] == "/todo"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]
    assert message["from"]["id"] == alias(FEISHU, ALICE)


async def test_command_button_with_arguments_is_not_a_command() -> None:
    events, inbox, _ = _events()
    await events.handle(_press({"d": "cmd:/rm -rf"}))
    (update,) = inbox.updates
    # Not typed as a command: it goes in as a press with the button's data as it is.
    assert "message" not in update
    assert update["callback_query"]["data"] == "cmd:/rm -rf"


async def test_press_without_string_data_is_ignored() -> None:
    events, inbox, _ = _events()
    await events.handle(_press({"do": "x"}))
    await events.handle(_press({"d": 5}))
    assert inbox.updates == []


# ---------------------------------------------------------------------- client + bot API


@dataclass
class Feishu:
    standin: FeishuStandIn
    client: FeishuClient
    store: ChannelStore
    api: FeishuBotApi
    me: int
    base: str


@pytest.fixture
async def feishu(db: Database) -> AsyncIterator[Feishu]:
    standin = FeishuStandIn(APP, SECRET)
    standin.add_user(ALICE, "Alice")
    async with run_feishu_standin(standin) as base:
        client = FeishuClient(_config(api_base_url=base), timeout=10)
        store = ChannelStore(db, FEISHU)
        me = await store.remember(ALICE)
        try:
            yield Feishu(standin, client, store, FeishuBotApi(client, store), me, base)
        finally:
            await client.close()


def _markup_json(*rows: list[dict[str, str]]) -> str:
    return json.dumps(_keyboard(*rows))


async def test_send_message_arrives_as_a_card(feishu: Feishu) -> None:
    markup = _markup_json(
        [{"text": "OK", "callback_data": "it:ok:5"}, {"text": "Web", "url": "https://e.org"}]
    )
    sent = await feishu.api.call(
        "sendMessage", {"chat_id": feishu.me, "text": "<b>Hi</b> 张三", "reply_markup": markup}
    )
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.msg_type == "interactive"
    assert message.text == "**Hi** 张三"
    assert message.buttons == [("OK", {"d": "it:ok:5"}), ("Web", "https://e.org")]
    assert sent["chat"]["id"] == feishu.me and sent["text"] == "Hi 张三"
    assert sent["message_id"] == message_number(message.message_id)
    kept = await feishu.store.message(sent["message_id"])
    assert kept is not None
    assert kept[0] == message.message_id and kept[1] == feishu.me
    assert kept[2] == {"text": "<b>Hi</b> 张三", "markup": neutral_buttons(markup)}


async def test_edit_reply_markup_keeps_the_text(feishu: Feishu) -> None:
    first = _markup_json([{"text": "Join", "callback_data": "j:1"}])
    sent = await feishu.api.call(
        "sendMessage", {"chat_id": feishu.me, "text": "Meeting <i>Fri</i>", "reply_markup": first}
    )
    second = _markup_json([{"text": "Leave", "callback_data": "l:1"}])
    edited = await feishu.api.call(
        "editMessageReplyMarkup",
        {"chat_id": feishu.me, "message_id": sent["message_id"], "reply_markup": second},
    )
    (message,) = feishu.standin.messages_to(ALICE)
    (patch,) = feishu.standin.calls_to("PATCH", MESSAGES_PATH)
    assert patch.path == f"{MESSAGES_PATH}/{message.message_id}" and patch.status == 200
    assert message.edits == 1
    assert message.text == "Meeting *Fri*"
    assert message.buttons == [("Leave", {"d": "l:1"})]
    assert edited["text"] == "Meeting Fri"
    kept = await feishu.store.message(sent["message_id"])
    assert kept is not None and kept[2]["markup"] == neutral_buttons(second)


async def test_edit_to_the_same_content_is_not_modified(feishu: Feishu) -> None:
    markup = _markup_json([{"text": "OK", "callback_data": "ok"}])
    sent = await feishu.api.call(
        "sendMessage", {"chat_id": feishu.me, "text": "same", "reply_markup": markup}
    )
    with pytest.raises(BadRequest, match="not modified"):
        await feishu.api.call(
            "editMessageText",
            {
                "chat_id": feishu.me,
                "message_id": sent["message_id"],
                "text": "same",
                "reply_markup": markup,
            },
        )
    assert feishu.standin.calls_to("PATCH", MESSAGES_PATH) == []
    # Without reply_markup the edit drops the buttons: that is a change.
    await feishu.api.call(
        "editMessageText", {"chat_id": feishu.me, "message_id": sent["message_id"], "text": "same"}
    )
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.text == "same" and message.buttons == []


async def test_delete_message_recalls(feishu: Feishu) -> None:
    sent = await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "bye"})
    assert await feishu.api.call("deleteMessage", {"message_id": sent["message_id"]}) is True
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.recalled
    (call,) = feishu.standin.calls_to("DELETE", MESSAGES_PATH)
    assert call.path.endswith(message.message_id)
    with pytest.raises(BadRequest):
        await feishu.api.call("deleteMessage", {"message_id": 12345})


async def test_answer_callback_query_sends_a_small_card(feishu: Feishu) -> None:
    query = f"feishu:{feishu.me}:tok"
    assert await feishu.api.call("answerCallbackQuery", {"callback_query_id": query}) is True
    assert feishu.standin.messages_to(ALICE) == []
    answered = await feishu.api.call(
        "answerCallbackQuery", {"callback_query_id": query, "text": "Saved <3 & done"}
    )
    assert answered is True
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.msg_type == "interactive"
    assert message.text == r"Saved \<3 & done"
    assert message.buttons == []


async def test_nothing_to_do_and_unknown_methods(feishu: Feishu) -> None:
    assert await feishu.api.call("sendChatAction", {"chat_id": feishu.me}) is True
    with pytest.raises(BadRequest, match="not available"):
        await feishu.api.call("sendPoll", {"chat_id": feishu.me})
    assert feishu.standin.calls == []


async def test_send_document_uploads_then_sends_file_and_caption(feishu: Feishu) -> None:
    data = b"PK\x03\x04" + b"\x00" * 60
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sent = await feishu.api.call(
        "sendDocument",
        {"chat_id": feishu.me, "caption": "<b>Roster</b>"},
        {"document": ("a.xlsx", data, mime)},
    )
    (upload,) = feishu.standin.calls_to("POST", FILES_PATH)
    assert upload.body["file_type"] == "xls" and upload.body["file_name"] == "a.xlsx"
    file_message, caption = feishu.standin.messages_to(ALICE)
    assert file_message.msg_type == "file"
    assert file_message.attachment_name == "a.xlsx"
    assert feishu.standin.file_bytes(file_message.content["file_key"]) == data
    assert caption.msg_type == "interactive" and caption.text == "**Roster**"
    assert sent["message_id"] == message_number(file_message.message_id)
    assert sent["text"] == "Roster"
    kept = await feishu.store.message(sent["message_id"])
    assert kept is not None and kept[2] == {"kind": "file"}
    with pytest.raises(BadRequest, match="no text"):
        await feishu.api.call(
            "editMessageText", {"chat_id": feishu.me, "message_id": sent["message_id"], "text": "x"}
        )


async def test_send_document_without_caption_sends_only_the_file(feishu: Feishu) -> None:
    await feishu.api.call(
        "sendDocument",
        {"chat_id": feishu.me},
        {"document": ("notes.txt", io.BytesIO(b"hello"), "text/plain")},
    )
    (upload,) = feishu.standin.calls_to("POST", FILES_PATH)
    assert upload.body["file_type"] == "stream"
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.msg_type == "file" and message.attachment_name == "notes.txt"


async def test_send_photo_sends_a_card_with_the_image(feishu: Feishu) -> None:
    await feishu.api.call(
        "sendPhoto",
        {"chat_id": feishu.me, "caption": "Chart"},
        {"photo": ("chart.png", PNG, "image/png")},
    )
    (upload,) = feishu.standin.calls_to("POST", IMAGES_PATH)
    assert upload.status == 200
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.msg_type == "interactive"
    first = message.content["elements"][0]
    assert first["tag"] == "img"
    assert feishu.standin.file_bytes(first["img_key"]) == PNG
    assert message.text == "Chart"


async def test_file_a_member_sent_is_fetched_by_get_file(feishu: Feishu) -> None:
    data = b"PK\x03\x04roster"
    key = feishu.standin.user_file(ALICE, "名单.xlsx", data)
    event = file_message_event(
        app_id=APP, token=VTOKEN, open_id=ALICE, file_key=key, file_name="名单.xlsx"
    )
    events = FeishuEvents(feishu.store, Inbox(), APP)
    await events.handle(event)
    inbox = cast(Inbox, events.receive)
    (update,) = inbox.updates
    document = update["message"]["document"]
    assert document["file_name"] == "名单.xlsx" and document["file_unique_id"] == key
    info = await feishu.api.call("getFile", {"file_id": document["file_id"]})
    assert await feishu.api.download(info["file_path"]) == data
    with pytest.raises(BadRequest):
        await feishu.api.call("getFile", {"file_id": "AgAD-telegram"})


async def test_events_name_a_new_person_from_the_directory(feishu: Feishu, db: Database) -> None:
    feishu.standin.add_user("ou_bob", "Bob")
    store = ChannelStore(db, FEISHU)
    inbox = Inbox()
    events = FeishuEvents(store, inbox, APP, name_of=feishu.client.user_name)
    await events.handle(_text_event("/me", open_id="ou_bob"))
    # Someone outside the directory's reach: no name, and the message still goes in.
    await events.handle(_text_event("hi", open_id="ou_stranger"))
    bob, stranger = (u["message"]["from"] for u in inbox.updates)
    assert bob["id"] == alias(FEISHU, "ou_bob") and bob["first_name"] == "Bob"
    assert stranger["id"] == alias(FEISHU, "ou_stranger") and stranger["first_name"] == ""
    async with db.read() as session:
        row = await session.get(Contact, alias(FEISHU, "ou_bob"))
        assert row is not None and (row.external_id, row.name) == ("ou_bob", "Bob")
    # Asked once: a second message needs no directory lookup.
    asked = len(feishu.standin.calls_to("GET", "/open-apis/contact/v3/users"))
    await events.handle(_text_event("/todo", open_id="ou_bob"))
    assert len(feishu.standin.calls_to("GET", "/open-apis/contact/v3/users")) == asked == 2


async def test_unknown_alias_is_forbidden(feishu: Feishu) -> None:
    stranger = alias(FEISHU, "ou_never_seen")
    with pytest.raises(Forbidden):
        await feishu.api.call("sendMessage", {"chat_id": stranger, "text": "hi"})
    assert feishu.standin.sent == []


async def test_blocked_user_is_forbidden(feishu: Feishu) -> None:
    feishu.standin.block(ALICE)
    with pytest.raises(Forbidden):
        await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "hi"})
    assert feishu.standin.sent == []


async def test_throttled_call_is_retry_after(feishu: Feishu) -> None:
    feishu.standin.throttle(MESSAGES_PATH, 1)
    with pytest.raises(RetryAfter) as caught:
        await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "hi"})
    assert caught.value.retry_after in (1, timedelta(seconds=1))
    assert feishu.standin.sent == []
    await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "hi"})
    assert [m.text for m in feishu.standin.messages_to(ALICE)] == ["hi"]


async def test_expired_token_is_refreshed(feishu: Feishu) -> None:
    await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "one"})
    assert feishu.client.token_grants == 1
    feishu.standin.expire_tokens()
    await feishu.api.call("sendMessage", {"chat_id": feishu.me, "text": "two"})
    assert feishu.client.token_grants == 2 and feishu.standin.token_grants == 2
    assert [m.text for m in feishu.standin.messages_to(ALICE)] == ["one", "two"]


async def test_wrong_app_secret_is_a_network_error(feishu: Feishu) -> None:
    wrong = FeishuClient(_config(api_base_url=feishu.base, app_secret="nope"), timeout=10)
    try:
        api = FeishuBotApi(wrong, feishu.store)
        with pytest.raises(NetworkError, match="credentials"):
            await api.call("sendMessage", {"chat_id": feishu.me, "text": "hi"})
    finally:
        await wrong.close()
    assert wrong.token_grants == 0
    assert feishu.standin.sent == []


# ---------------------------------------------------------------------- accounts


TG = 555_000_111


async def _contact(db: Database, open_id: str) -> int:
    return await ChannelStore(db, FEISHU).remember(open_id)


async def _member(db: Database, member_id: int) -> Member:
    async with db.read() as session:
        member = await session.get(Member, member_id)
    assert member is not None
    return member


async def _get(session: AsyncSession, member_id: int) -> Member:
    member = await session.get(Member, member_id)
    assert member is not None
    return member


async def test_bind_telegram_then_feishu(db: Database, org: OrgBuilder) -> None:
    person = await org.member("张三")
    feishu_account = await _contact(db, "ou_zhang")
    async with db.write() as session:
        member = await session.get(Member, person.member_id)
        assert member is not None and member.chat_id is None
        await accounts.bind(session, member, TG)
        assert member.chat_id == TG
        await accounts.bind(session, member, feishu_account)
        assert member.chat_id == TG
        await session.commit()
    stored = await _member(db, person.member_id)
    assert (stored.telegram_user_id, stored.chat_id) == (TG, TG)
    async with db.read() as session:
        contact = await session.get(Contact, feishu_account)
        assert contact is not None and contact.member_id == person.member_id
        assert await accounts.accounts_of(session, stored) == {
            TELEGRAM: TG,
            FEISHU: feishu_account,
        }
        found = await accounts.member_of(session, feishu_account)
        assert found is not None and found.id == person.member_id
        by_telegram = await accounts.member_of(session, TG)
        assert by_telegram is not None and by_telegram.id == person.member_id


async def test_bind_without_a_contact_is_refused(db: Database, org: OrgBuilder) -> None:
    person = await org.member("李四")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        with pytest.raises(LookupError):
            await accounts.bind(session, member, alias(FEISHU, "ou_nobody"))


async def test_choose_moves_pushes_and_clears_unreachable(db: Database, org: OrgBuilder) -> None:
    person = await org.member("王五")
    feishu_account = await _contact(db, "ou_wang")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.bind(session, member, TG)
        await accounts.bind(session, member, feishu_account)
        member.unreachable_at = datetime(2026, 1, 1, tzinfo=UTC)
        await session.commit()
    async with db.write() as session:
        member = await _get(session, person.member_id)
        assert await accounts.choose(session, member, FEISHU) is True
        await session.commit()
    stored = await _member(db, person.member_id)
    assert stored.chat_id == feishu_account and stored.unreachable_at is None
    assert stored.telegram_user_id == TG
    assert accounts.channel_of_member(stored) == FEISHU


async def test_choose_an_unbound_channel_is_false(db: Database, org: OrgBuilder) -> None:
    person = await org.member("赵六")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.bind(session, member, TG)
        assert await accounts.choose(session, member, FEISHU) is False
        assert member.chat_id == TG
        await session.commit()
    assert (await _member(db, person.member_id)).chat_id == TG


async def test_unbind_pushed_to_account_moves_to_the_other(db: Database, org: OrgBuilder) -> None:
    person = await org.member("钱七")
    feishu_account = await _contact(db, "ou_qian")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.bind(session, member, TG)
        await accounts.bind(session, member, feishu_account)
        assert await accounts.choose(session, member, FEISHU)
        await session.commit()
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.unbind(session, member, feishu_account)
        await session.commit()
    stored = await _member(db, person.member_id)
    assert stored.chat_id == TG and stored.telegram_user_id == TG
    async with db.read() as session:
        contact = await session.get(Contact, feishu_account)
        assert contact is not None and contact.member_id is None
    # Unbinding the last account leaves pushes nowhere.
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.unbind(session, member, TG)
        await session.commit()
    stored = await _member(db, person.member_id)
    assert stored.chat_id is None and stored.telegram_user_id is None


async def test_unbind_telegram_while_pushed_there_moves_to_feishu(
    db: Database, org: OrgBuilder
) -> None:
    person = await org.member("孙八")
    feishu_account = await _contact(db, "ou_sun")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.bind(session, member, TG)
        await accounts.bind(session, member, feishu_account)
        await accounts.unbind(session, member, TG)
        assert member.chat_id == feishu_account
        await session.commit()
    stored = await _member(db, person.member_id)
    assert stored.telegram_user_id is None and stored.chat_id == feishu_account
    async with db.read() as session:
        assert await accounts.accounts_of(session, stored) == {FEISHU: feishu_account}
        rows = (await session.scalars(select(Contact).where(Contact.member_id == stored.id))).all()
        assert [c.chat_id for c in rows] == [feishu_account]


async def test_unbind_the_other_account_keeps_pushes(db: Database, org: OrgBuilder) -> None:
    person = await org.member("周九")
    feishu_account = await _contact(db, "ou_zhou")
    async with db.write() as session:
        member = await _get(session, person.member_id)
        await accounts.bind(session, member, feishu_account)
        assert member.chat_id == feishu_account
        await accounts.bind(session, member, TG)
        # Feishu came first: binding Telegram later does not move pushes.
        assert member.chat_id == feishu_account
        await accounts.unbind(session, member, TG)
        assert member.chat_id == feishu_account
        await session.commit()
    stored = await _member(db, person.member_id)
    assert stored.chat_id == feishu_account and stored.telegram_user_id is None


def test_a_blank_button_label_does_not_sink_the_whole_card() -> None:
    built = cards.card("正文", {"inline_keyboard": [[{"text": "   ", "callback_data": "x:y:1"}]]})
    labels = [
        b["text"]["content"]
        for e in built["elements"]
        if e["tag"] == "action"
        for b in e["actions"]
    ]
    assert labels == ["…"]
    validate_card(built, images=IMAGES)


# ---------------------------------------------------------------------- review fixes


async def test_a_document_resent_after_a_crash_reaches_the_member_once(feishu: Feishu) -> None:
    """The outbox sends a row again when its lease ran out mid-send: both of the document's
    messages (the file, then its caption) carry uuids, so Feishu sends neither twice."""
    params = {"chat_id": feishu.me, "caption": "材料", "feishu_uuid": "branchbot-7"}
    upload = {"document": ("材料.docx", b"PK\x03\x04doc", "application/octet-stream")}
    first = await feishu.api.call("sendDocument", dict(params), upload)
    again = await feishu.api.call("sendDocument", dict(params), upload)
    messages = feishu.standin.messages_to(ALICE)
    assert [m.msg_type for m in messages] == ["file", "interactive"]
    assert first["message_id"] == again["message_id"]
    assert feishu.standin.file_name(messages[0].content["file_key"]) == "材料.docx"


async def test_a_feishu_file_id_is_sent_on_as_the_apps_own_upload(feishu: Feishu) -> None:
    key = feishu.standin.user_file(ALICE, "讲话.docx", b"PK\x03\x04speech")
    file_id = feishu_file_id("om_sent_by_alice", key, "讲话.docx")
    assert parse_file_id(file_id) == ("om_sent_by_alice", key, "讲话.docx")
    assert await feishu.api.fetch(file_id) == ("讲话.docx", b"PK\x03\x04speech")
    assert await feishu.api.fetch("BQACAgIAAxkBAAIB") is None
    await feishu.api.call("sendDocument", {"chat_id": feishu.me, "document": file_id})
    (sent,) = feishu.standin.messages_to(ALICE)
    assert sent.msg_type == "file"
    assert feishu.standin.file_bytes(sent.content["file_key"]) == b"PK\x03\x04speech"
    assert feishu.standin.file_name(sent.content["file_key"]) == "讲话.docx"


async def test_an_edit_right_after_a_send_finds_the_message_before_its_record_is_written(
    feishu: Feishu, db: Database
) -> None:
    sent = await feishu.api.call(
        "sendMessage",
        {
            "chat_id": feishu.me,
            "text": "选一个",
            "reply_markup": _markup_json([{"text": "A", "callback_data": "x:a:1"}]),
        },
    )
    # No wait for the background write: the record is at hand in memory.
    await feishu.api.call(
        "editMessageReplyMarkup", {"chat_id": feishu.me, "message_id": sent["message_id"]}
    )
    (message,) = feishu.standin.messages_to(ALICE)
    assert message.buttons == [] and message.text == "选一个"
    await feishu.store.flush()
    fresh = ChannelStore(db, FEISHU)
    kept = await fresh.message(sent["message_id"])
    assert kept is not None and kept[2]["markup"] is None


async def test_a_colliding_alias_is_refused_not_merged(db: Database) -> None:
    store = ChannelStore(db, FEISHU)
    chat = await store.remember("ou_first")
    async with db.write() as session:
        row = await session.get(Contact, chat)
        assert row is not None
        row.external_id = "ou_someone_else"  # as if two open ids shared the 48-bit hash
        await session.commit()
    with pytest.raises(AliasCollision):
        await ChannelStore(db, FEISHU).remember("ou_first")
    events, inbox, _ = _events()
    events.store = ChannelStore(db, FEISHU)
    answer = await events.handle(
        message_event(app_id=APP, token=VTOKEN, open_id="ou_first", text="/me")
    )
    assert answer == {} and inbox.updates == []


async def test_a_rich_text_message_is_read_as_its_text() -> None:
    events, inbox, _ = _events()
    event = message_event(app_id=APP, token=VTOKEN, open_id=ALICE, text="x")
    event["event"]["message"]["message_type"] = "post"
    event["event"]["message"]["content"] = json.dumps(
        {
            "zh_cn": {
                "title": "",
                "content": [
                    [
                        {"tag": "text", "text": "/study 第一议题 | "},
                        {"tag": "a", "text": "原文", "href": "https://e.org"},
                    ],
                    [{"tag": "text", "text": "第二行"}],
                ],
            }
        },
        ensure_ascii=False,
    )
    await events.handle(event)
    (update,) = inbox.updates
    assert update["message"]["text"] == "/study 第一议题 | 原文 https://e.org\n第二行"
    assert update["message"]["entities"][0]["length"] == len("/study")


async def test_a_titled_rich_text_command_still_starts_with_the_command() -> None:
    events, inbox, _ = _events()
    event = message_event(app_id=APP, token=VTOKEN, open_id=ALICE, text="x")
    event["event"]["message"]["message_type"] = "post"
    event["event"]["message"]["content"] = json.dumps(
        {"title": "通知", "content": [[{"tag": "text", "text": "/me"}]]}, ensure_ascii=False
    )
    await events.handle(event)
    (update,) = inbox.updates
    assert update["message"]["text"] == "/me\n通知"
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 3}]


class _Feishu429:
    """An Open API that answers every send with one code (Feishu's rate limits)."""

    def __init__(self, code: int, status: int = 400) -> None:
        self.code, self.status, self.tokens = code, status, 0

    async def token(self, request: web.Request) -> web.Response:
        self.tokens += 1
        return web.json_response(
            {"code": 0, "tenant_access_token": f"t-{self.tokens}", "expire": 7200}
        )

    async def send(self, request: web.Request) -> web.Response:
        return web.json_response({"code": self.code, "msg": "limit"}, status=self.status)


@pytest.mark.parametrize("code", [230020, 99991400, 99991402])
async def test_feishus_send_limits_are_waited_out(code: int) -> None:
    fake = _Feishu429(code)
    app = web.Application()
    app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", fake.token)
    app.router.add_post("/open-apis/im/v1/messages", fake.send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = FeishuClient(_config(api_base_url=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(RetryAfter):
            await client.send(ALICE, "text", {"text": "x"})
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_fresh_token_refused_again_is_a_network_error() -> None:
    fake = _Feishu429(99991668)
    app = web.Application()
    app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", fake.token)
    app.router.add_post("/open-apis/im/v1/messages", fake.send)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = FeishuClient(_config(api_base_url=f"http://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        with pytest.raises(NetworkError, match="fresh tenant token"):
            await client.send(ALICE, "text", {"text": "x"})
        assert fake.tokens == 2
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_long_callback_sent_in_pieces_is_read_whole() -> None:
    """A webhook body that arrives in several chunks (a long pasted message) is read whole,
    not as its first chunk."""
    got: list[dict[str, Any]] = []

    class Events:
        async def handle(self, event: dict[str, Any]) -> dict[str, Any]:
            got.append(event)
            return {}

    config = _config(mode="webhook", verification_token=VTOKEN, encrypt_key=EKEY)
    app = make_feishu_app()
    add_feishu_routes(app, config, cast(FeishuEvents, Events()))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    standin = FeishuStandIn(APP, SECRET)
    text = "/study 长文 | " + "学" * 30_000
    body, headers = standin.signed_request(
        message_event(app_id=APP, token=VTOKEN, open_id=ALICE, text=text)
    )

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]
            await asyncio.sleep(0.01)

    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}{config.path}"
            async with http.post(url, data=pieces(), headers=headers) as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
    (event,) = got
    assert json.loads(event["event"]["message"]["content"])["text"] == text


async def test_inbox_recovery_follows_arrival_not_the_event_hash(db: Database) -> None:
    """Feishu's update ids are hashes: what a crash left is taken back in the order it came."""
    start = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    ids = [event_update_id(FEISHU, f"ev-{n}") for n in range(6)]
    async with db.write() as session:
        for n, update_id in enumerate(ids):
            session.add(
                InboxUpdate(
                    update_id=update_id,
                    chat_id=1,
                    payload=json.dumps({"update_id": update_id}),
                    received_at=start + timedelta(seconds=n),
                )
            )
        await session.commit()
    assert sorted(ids) != ids  # the hashes are not in arrival order
    async with db.write() as session:
        found = await inbox_rows.reclaim(
            session, start + timedelta(hours=1), start + timedelta(hours=2), set(), 100
        )
        await session.commit()
    assert [row["update_id"] for row in found] == ids


async def test_menus_are_not_set_for_another_channels_people() -> None:
    calls: list[str] = []

    class Bot:
        async def set_my_commands(self, *args: Any, **kwargs: Any) -> bool:
            calls.append("set")
            return True

        async def delete_my_commands(self, *args: Any, **kwargs: Any) -> bool:
            calls.append("delete")
            return True

    done = await menus.apply(
        cast(Any, Bot()), [menus.Menu(alias(FEISHU, ALICE), Access.MEMBER, "zh")]
    )
    assert done == 0 and calls == []
    done = await menus.apply(cast(Any, Bot()), [menus.Menu(42, Access.MEMBER, "zh")])
    assert done == 1 and calls == ["set"]


def test_a_feishu_only_invite_file_has_codes_and_no_links() -> None:
    line = InviteLine(1, "张三", "第一支部", "一组", "abcdefghjk", datetime(2027, 1, 1, tzinfo=UTC))
    text = invites_csv([line], None, "zh").decode("utf-8-sig")
    assert text.splitlines() == ["姓名,支部,党小组,邀请码", "张三,第一支部,一组,abcdefghjk"]
    linked = invites_csv([line], "mybot", "zh").decode("utf-8-sig").splitlines()
    assert linked[1].endswith(",https://t.me/mybot?start=abcdefghjk")


class _TelegramApi:
    """A Bot API that says Telegram made a video of the upload (no `document` in the answer)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], Any]] = []

    async def call(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]] | None = None
    ) -> Any:
        self.calls.append((method, dict(params), files))
        return {"message_id": len(self.calls), "video": {"file_id": "BAAD-video"}}


def _sender(db: Database, api: Any) -> Sender:
    config = DeliveryConfig(per_chat_interval_seconds=0, rate_per_second=1000)
    return Sender(db, api, config, QuietHours(0, 0, ZoneInfo("UTC")))


async def _queue_document(db: Database, chat_id: int, file_id: str) -> None:
    async with db.write() as session:
        await enqueue(
            session,
            [Outgoing(chat_id, None, "材料", "notice", document_file_id=file_id)],
            now=utcnow() - timedelta(seconds=1),
            quiet=QuietHours(0, 0, ZoneInfo("UTC")),
        )
        await session.commit()


async def _statuses(db: Database) -> list[tuple[str, int, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Delivery.status, Delivery.attempts, Delivery.last_error).order_by(Delivery.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_a_foreign_document_telegram_keeps_as_a_video_is_sent_and_not_cached(
    db: Database,
) -> None:
    api = _TelegramApi()
    sender = _sender(db, api)
    fetched: list[str] = []

    async def fetch(file_id: str) -> tuple[str, bytes] | None:
        fetched.append(file_id)
        return "讲话.mp4", b"\x00\x00\x00\x18ftypmp42"

    sender.documents = fetch
    ref = feishu_file_id("om_1", "file_v3_k", "讲话.mp4")
    await _queue_document(db, 5, ref)
    await _queue_document(db, 6, ref)
    assert await sender.run_once() == 2
    assert [s for s, _, _ in await _statuses(db)] == ["sent", "sent"]
    # Uploaded each time (no document id to reuse), always as a document.
    assert [files["document"][0] for _, _, files in api.calls] == ["讲话.mp4", "讲话.mp4"]
    assert all(params["disable_content_type_detection"] for _, params, _ in api.calls)
    assert fetched == [ref, ref]


async def test_another_channels_refusals_do_not_pause_or_block_this_one(db: Database) -> None:
    api = _TelegramApi()
    sender = _sender(db, api)

    async def fetch(file_id: str) -> tuple[str, bytes] | None:
        if file_id.endswith("busy.docx"):
            raise RetryAfter(30)
        raise Forbidden("Feishu: no availability")

    sender.documents = fetch
    await _queue_document(db, 5, feishu_file_id("om_1", "k1", "busy.docx"))
    await _queue_document(db, 6, feishu_file_id("om_2", "k2", "gone.docx"))
    await sender.run_once()
    (busy, gone) = await _statuses(db)
    # Feishu's rate limit is a retry later for this row, not Telegram flood control.
    assert busy[0] == "pending" and busy[1] == 1
    assert sender._paused_until == 0
    # A file out of reach there cannot be sent; the member here is not "unreachable".
    assert gone[0] == "failed" and "cannot be fetched" in (gone[2] or "")
    assert api.calls == []


def test_the_check_in_qr_holds_a_link_only_where_there_is_telegram() -> None:
    with_telegram = parse_config({"telegram": {"token": "1:x"}}, env={})
    assert (
        qr_target(with_telegram, "mybot", "ck_abc", "123456") == "https://t.me/mybot?start=ck_abc"
    )
    feishu_only = parse_config({"feishu": {"app_id": "cli_x", "app_secret": "s"}}, env={})
    assert qr_target(feishu_only, "branchbot", "ck_abc", "123456") == "123456"


class _Recorder:
    """Stands in for Telegram's transport and for Feishu's adapter: records what reached it."""

    def __init__(self) -> None:
        self.telegram: list[str] = []
        self.feishu: list[tuple[str, dict[str, Any]]] = []
        self.downloads: list[str] = []

    async def do_request(self, url: str, method: str, request_data: Any = None, **_: Any) -> Any:
        self.telegram.append(url.rsplit("/", 1)[-1])
        return 200, json.dumps({"ok": True, "result": {"telegram": True}}).encode()

    async def call(self, method: str, params: dict[str, Any], files: Any = None) -> Any:
        self.feishu.append((method, params))
        return {"feishu": True}

    async def download(self, url: str) -> bytes:
        self.downloads.append(url)
        return b"file"


def _request_data(**params: Any) -> Any:
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    return RequestData([RequestParameter.from_input(k, v) for k, v in params.items()])


async def test_calls_go_to_the_channel_of_their_chat() -> None:
    seen = _Recorder()
    request = ChannelRequest(cast(Any, seen), cast(Any, seen))
    feishu_chat = alias(FEISHU, ALICE)
    base = "https://api.telegram.org/bot1:x"
    for url, params in (
        (f"{base}/sendMessage", {"chat_id": feishu_chat, "text": "hi"}),
        (f"{base}/sendMessage", {"chat_id": 12345, "text": "hi"}),
        (f"{base}/sendMessage", {"chat_id": -1001234567890, "text": "group"}),
        (f"{base}/answerCallbackQuery", {"callback_query_id": f"feishu:{feishu_chat}:t"}),
        (f"{base}/answerCallbackQuery", {"callback_query_id": "4382"}),
        (f"{base}/getFile", {"file_id": "feishu:om_1:key:a.csv"}),
        (f"{base}/getMe", {}),
    ):
        status, body = await request.do_request(url, "POST", _request_data(**params))
        assert status == 200 and json.loads(body)["ok"]
    assert [m for m, _ in seen.feishu] == ["sendMessage", "answerCallbackQuery", "getFile"]
    assert seen.telegram == ["sendMessage", "sendMessage", "answerCallbackQuery", "getMe"]
    status, body = await request.do_request(
        "https://api.telegram.org/file/bot1:x/feishu-files/om_1/key", "GET"
    )
    assert (status, body) == (200, b"file") and len(seen.downloads) == 1


async def test_without_telegram_the_bot_wide_calls_are_answered_here() -> None:
    seen = _Recorder()
    request = ChannelRequest(None, cast(Any, seen))
    status, body = await request.do_request("http://x/bot0:feishu-only/getMe", "POST", None)
    assert status == 200 and json.loads(body)["result"]["is_bot"] is True
    status, _ = await request.do_request(
        "http://x/bot0:feishu-only/setMyCommands", "POST", _request_data(commands="[]")
    )
    assert status == 200
    # A Telegram chat with no Telegram: refused, not sent anywhere.
    status, body = await request.do_request(
        "http://x/bot0:feishu-only/sendMessage", "POST", _request_data(chat_id=5, text="x")
    )
    assert status == 400 and "not configured" in json.loads(body)["description"]
    assert seen.feishu == []
