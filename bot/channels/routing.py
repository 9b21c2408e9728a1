"""python-telegram-bot's transport, routed by channel.

The handlers call the Bot API through one `Bot`; this request object looks at whom a call is
for: a Telegram chat goes to Telegram as before, an alias of another channel's person goes to
that channel's adapter (bot.channels.feishu.bot_api), which does the same thing there. So every
feature runs on every channel through the same handler code."""

from __future__ import annotations

import json
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.channels.address import TELEGRAM, channel_of
from bot.channels.feishu.bot_api import CALLBACK_PREFIX, FILE_PATH_PREFIX, FeishuBotApi

# The bot's own account when no Telegram bot is configured (an office on Feishu alone).
OFFLINE_BOT = {
    "id": 1,
    "is_bot": True,
    "first_name": "branchbot",
    "username": "branchbot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Calls that have no chat but belong to the bot as a whole: without Telegram, nothing to do.
_OFFLINE_ANSWERS: dict[str, Any] = {
    "getme": OFFLINE_BOT,
    "deletewebhook": True,
    "setmycommands": True,
    "deletemycommands": True,
    "setmydescription": True,
    "setmyshortdescription": True,
    "getmydescription": {"description": ""},
    "getmyshortdescription": {"short_description": ""},
    "setchatmenubutton": True,
}


class ChannelRequest(BaseRequest):
    def __init__(self, telegram: BaseRequest | None, feishu: FeishuBotApi | None) -> None:
        self.telegram = telegram
        self.feishu = feishu

    @property
    def read_timeout(self) -> float | None:
        return self.telegram.read_timeout if self.telegram is not None else 20.0

    async def initialize(self) -> None:
        if self.telegram is not None:
            await self.telegram.initialize()

    async def shutdown(self) -> None:
        try:
            if self.telegram is not None:
                await self.telegram.shutdown()
        finally:
            # Feishu's records still being written are flushed whatever Telegram did.
            if self.feishu is not None:
                await self.feishu.close()

    def _for_feishu(self, endpoint: str, params: dict[str, Any]) -> bool:
        chat = params.get("chat_id")
        if isinstance(chat, int | str) and str(chat).lstrip("-").isdigit():
            return channel_of(int(chat)) != TELEGRAM
        if str(params.get("callback_query_id", "")).startswith(CALLBACK_PREFIX):
            return True
        return str(params.get("file_id", "")).startswith(CALLBACK_PREFIX)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rstrip("/").rsplit("/", 1)[-1]
        if self.feishu is not None:
            # Read only where there is a second channel: every Telegram reply passes here.
            params = dict(request_data.parameters) if request_data is not None else {}
            if FILE_PATH_PREFIX in url:
                return 200, await self.feishu.download(url)
            if self._for_feishu(endpoint, params):
                files = request_data.multipart_data if request_data is not None else {}
                result = await self.feishu.call(endpoint, params, dict(files))
                return 200, json.dumps({"ok": True, "result": result}).encode()
        if self.telegram is None:
            answer = _OFFLINE_ANSWERS.get(endpoint.lower())
            if answer is None:
                return 400, json.dumps(
                    {"ok": False, "error_code": 400, "description": "Telegram is not configured"}
                ).encode()
            return 200, json.dumps({"ok": True, "result": answer}).encode()
        return await self.telegram.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
