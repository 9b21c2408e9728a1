"""The Bot API sandbox, exercised through real python-telegram-bot objects."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.sandbox import SECRET_HEADER, BotApiSandbox, SandboxRequest, run_sandbox

USER = 4242


@pytest.fixture
async def served() -> AsyncIterator[tuple[BotApiSandbox, Bot, str]]:
    """A sandbox over real HTTP and a PTB Bot pointed at it."""
    sandbox = BotApiSandbox()
    async with run_sandbox(sandbox) as base:
        bot = Bot(
            sandbox.token,
            base_url=sandbox.api_base_url(base),
            base_file_url=sandbox.file_base_url(base),
        )
        async with bot:
            yield sandbox, bot, base


def _in_process_bot(sandbox: BotApiSandbox) -> Bot:
    request = SandboxRequest(sandbox)
    return Bot(sandbox.token, request=request, get_updates_request=request)


async def test_http_get_me_and_send_message_with_keyboard(
    served: tuple[BotApiSandbox, Bot, str],
) -> None:
    sandbox, bot, _ = served
    me = await bot.get_me()
    assert me.username == sandbox.bot_username
    assert me.is_bot

    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="y"),
                InlineKeyboardButton("No", callback_data="n"),
            ]
        ]
    )
    message = await bot.send_message(
        USER, "<b>Join</b> us?", reply_markup=markup, parse_mode="HTML"
    )

    assert message.text == "Join us?"
    assert message.reply_markup == markup
    [sent] = sandbox.messages_to(USER)
    assert sent.text == "<b>Join</b> us?"
    assert sent.plain_text == "Join us?"
    assert sent.reply_markup == markup.to_dict()
    assert sandbox.button_texts(sent) == ["Yes", "No"]
    assert sandbox.button_data(sent, "No") == "n"


async def test_http_user_document_downloads_and_bot_uploads(
    served: tuple[BotApiSandbox, Bot, str],
) -> None:
    sandbox, bot, _ = served
    update = await sandbox.user_document(USER, "roster.csv", b"name\nAnn\n", caption="new list")
    document = Update.de_json(update, bot).effective_message.document  # type: ignore[union-attr]
    assert document is not None

    file = await bot.get_file(document.file_id)
    assert file.file_path is not None and file.file_path.startswith("http://127.0.0.1:")
    assert await file.download_as_bytearray() == bytearray(b"name\nAnn\n")

    # Multipart upload the other way round.
    await bot.send_document(USER, b"a,b\n", filename="export.csv", caption="your export")
    sent = await sandbox.wait_for_message(USER)
    assert (sent.document_name, sent.document_bytes, sent.caption) == (
        "export.csv",
        b"a,b\n",
        "your export",
    )


# PTB 22 warns that retry_after will become a timedelta; either form is fine here.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_http_injected_flood_limit_raises_retry_after(
    served: tuple[BotApiSandbox, Bot, str],
) -> None:
    sandbox, bot, _ = served
    sandbox.inject_fault(
        "sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, chat_id=USER
    )

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hello")
    retry_after: Any = caught.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after
    assert seconds == 3

    await bot.send_message(USER, "hello again")  # the fault fired once only
    assert [c.status for c in sandbox.calls_to("sendMessage")] == [429, 200]

    sandbox.block_user(USER)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "still there?")


async def test_webhook_delivery_with_secret() -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.json_response({"ok": True})

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    sandbox = BotApiSandbox()
    try:
        async with _in_process_bot(sandbox) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            update = await sandbox.user_message(USER, "/start", first_name="Ann")

            info = await bot.get_webhook_info()
            assert info.url.endswith("/hook") and info.pending_update_count == 0
            with pytest.raises(Conflict):
                await bot.get_updates()
    finally:
        await sandbox.aclose()
        await runner.cleanup()

    assert sandbox.webhook_statuses == [200]
    [(body, secret)] = received
    assert secret == "s3cret"
    assert body == update
    assert body["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_in_process_request_and_application_handlers() -> None:
    sandbox = BotApiSandbox()
    lines: list[str] = []
    sandbox.on_event = lines.append

    async with _in_process_bot(sandbox) as bot:
        assert (await bot.get_me()).id == sandbox.bot_id
        await bot.send_message(USER, "direct")
        assert (await sandbox.wait_for_message(USER)).text == "direct"
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(USER, "1 < 2", parse_mode="HTML")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="join:yes")]])
        await update.effective_message.reply_text("Join?", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Welcome!")
        await query.edit_message_text("You joined.")

    request = SandboxRequest(sandbox)
    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(sandbox.token)
        .request(request)
        .get_updates_request(request)
        .updater(None)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        update = await sandbox.user_message(USER, "/start", first_name="Ann")
        await app.process_update(Update.de_json(update, app.bot))
        prompt = await sandbox.wait_for_message(USER, after=1)
        assert prompt.text == "Join?"

        press = await sandbox.press_button(
            USER, prompt.message_id, sandbox.button_data(prompt, "Yes"), first_name="Ann"
        )
        await app.process_update(Update.de_json(press, app.bot))
        answer = await sandbox.wait_for_answer(press["callback_query"]["id"])
        assert answer["text"] == "Welcome!"
        edited = await sandbox.wait_for_edit(USER, prompt.message_id)
        assert (edited.text, edited.reply_markup) == ("You joined.", None)

    assert lines[-5:] == [
        "👤 Ann: /start",
        "🤖 → Ann: Join?\n[Yes]",
        "👤 Ann taps [Yes]",
        "🤖 → Ann: (toast) Welcome!",
        "🤖 → Ann (edit): You joined.",
    ]


async def test_get_updates_long_poll_returns_update_delivered_later(
    served: tuple[BotApiSandbox, Bot, str],
) -> None:
    sandbox, bot, _ = served
    poll = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.1)
    assert not poll.done()

    await sandbox.user_message(USER, "hi there")
    updates = await asyncio.wait_for(poll, 1.5)

    assert [u.message.text for u in updates if u.message] == ["hi there"]
    # Confirming with offset drops it; an empty short poll answers at once.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()


async def test_http_side_door(served: tuple[BotApiSandbox, Bot, str]) -> None:
    _, bot, base = served
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/_sandbox/message", json={"user_id": USER, "text": "hey"}):
            pass
        [update] = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "hey"

        async with http.get(f"{base}/_sandbox/wait?chat_id={USER}&timeout=0.05") as missing:
            assert missing.status == 504
        await bot.send_message(USER, "ho")
        async with http.get(f"{base}/_sandbox/wait?chat_id={USER}&timeout=1") as found:
            assert (await found.json())["text"] == "ho"


async def test_sandbox_refuses_a_webhook_off_this_machine() -> None:
    sandbox = BotApiSandbox()
    status, body = await sandbox.call(
        sandbox.token, "setWebhook", {"url": "https://example.org/hook"}
    )
    assert status == 400 and "loopback" in body["description"]
    status, _ = await sandbox.call(sandbox.token, "setWebhook", {"url": "http://127.0.0.1:9/h"})
    assert status == 200
    await sandbox.aclose()
