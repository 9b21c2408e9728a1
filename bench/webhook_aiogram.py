"""A bare aiogram 3 webhook bot for the webhook benchmark (bench/webhook_load.py): the least a
framework does per update. A button press is answered with answerCallbackQuery; /me and /help
with one sendMessage. No database.

    python bench/webhook_aiogram.py --port PORT --api http://127.0.0.1:STUB --token T --secret S

Needs aiogram (`pip install -e ".[bench]"`). Served with aiogram's own aiohttp webhook handler
(which acknowledges at once and handles in the background, as Telegram expects).
"""

from __future__ import annotations

import argparse

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Bot API server's base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--path", default="/telegram")
    args = parser.parse_args()

    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    bot = Bot(args.token, session=session)
    dispatcher = Dispatcher()

    @dispatcher.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("已记录")

    @dispatcher.message(Command("me"))
    async def me(message: Message) -> None:
        await message.answer(f"你的记录：{message.chat.id}")

    @dispatcher.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer("可用命令：/me /help")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=args.secret).register(
        app, path=args.path
    )
    app.router.add_get("/healthz", health)
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
