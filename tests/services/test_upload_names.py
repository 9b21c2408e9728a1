"""A file the bot uploads keeps its name: Telegram shows the multipart file name as sent, and
aiohttp's default would percent-encode a Chinese one (台账.xlsx as %E5%8F%B0%E8%B4%A6.xlsx)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InputFile

from bot.telegram_http import AiohttpRequest

SENT = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}}
ME = {"id": 1, "is_bot": True, "first_name": "bot", "username": "test_bot"}


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[str, list[str]]]:
    dispositions: list[str] = []

    async def method(request: web.Request) -> web.Response:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                assert part is not None
                disposition = part.headers.get("Content-Disposition", "")
                if "filename" in disposition:
                    dispositions.append(disposition)
        result = ME if request.match_info["method"] == "getMe" else SENT
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/bot", dispositions
    finally:
        await runner.cleanup()


async def test_a_chinese_file_name_arrives_as_written(bot_api: tuple[str, list[str]]) -> None:
    base, dispositions = bot_api
    async with Bot("1:token", base_url=base, request=AiohttpRequest()) as bot:
        await bot.send_document(7, InputFile(b"ledger", filename="台账-2026-Q4.xlsx"))
        # A quote or a line break in a name (from a title someone typed) cannot break the header.
        await bot.send_document(7, InputFile(b"minutes", filename='记录"第一次"\r\n.docx'))
    assert len(dispositions) == 2
    assert 'filename="台账-2026-Q4.xlsx"' in dispositions[0]
    assert "%E5" not in dispositions[0]
    assert 'filename="记录_第一次___.docx"' in dispositions[1]
