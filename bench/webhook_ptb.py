"""A bare python-telegram-bot 22 webhook bot for the webhook benchmark (bench/webhook_load.py):
`concurrent_updates(True)`, PTB's default transport (httpx), no updater; a small aiohttp server
puts `Update.de_json` on `application.update_queue` and answers 200 at once. A button press is
answered with answerCallbackQuery; /me and /help with one sendMessage. No database.

    python bench/webhook_ptb.py --port PORT --api http://127.0.0.1:STUB --token T --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import signal
from contextlib import suppress

from aiohttp import web
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer("已记录")


async def me(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_chat is not None
    await update.effective_message.reply_text(f"你的记录：{update.effective_chat.id}")


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("可用命令：/me /help")


async def serve(args: argparse.Namespace) -> None:
    application = (
        Application.builder()
        .token(args.token)
        .base_url(args.api.rstrip("/") + "/bot")
        .base_file_url(args.api.rstrip("/") + "/file/bot")
        .updater(None)
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(CallbackQueryHandler(pressed))
    application.add_handler(CommandHandler("me", me))
    application.add_handler(CommandHandler("help", help_))

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), args.secret.encode()):
            return web.json_response({"ok": False}, status=403)
        data = json.loads(await request.read())
        await application.update_queue.put(Update.de_json(data, application.bot))
        return web.json_response({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(args.path, webhook)
    app.router.add_get("/healthz", health)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with application:
        await application.start()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await application.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Bot API server's base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--path", default="/telegram")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
