"""The core's Bot API calls, carried out on Feishu.

Handlers and the outbox say what to send in the Bot API's terms (sendMessage with the neutral
HTML subset and buttons, editMessageReplyMarkup after a press, sendDocument with an export);
this class does the same on Feishu: a card per message, the card replaced in place for an edit,
files and images uploaded first. Chat ids are aliases (bot.channels.address); the contacts table
says whose open_id each is."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.error import BadRequest, Forbidden

from bot.channels.feishu import cards
from bot.channels.feishu.client import FeishuClient
from bot.channels.message import from_another_channel, neutral_buttons
from bot.channels.store import ChannelStore

log = logging.getLogger(__name__)

Files = dict[str, tuple[str, Any, str]]
# Fetches a Telegram file (name, bytes) for a push whose document was uploaded on Telegram.
FetchFile = Callable[[str], Awaitable[tuple[str, bytes]]]

# Calls that mean nothing on Feishu (menus, "typing…"): done, as far as the core is concerned.
_NOTHING_TO_DO = frozenset(
    {
        "sendchataction",
        "setmycommands",
        "deletemycommands",
        "setchatmenubutton",
        "setmydescription",
        "setmyshortdescription",
    }
)
CALLBACK_PREFIX = "feishu:"


# The file id must fit the 300 characters the core keeps for one (a study item's document).
MAX_NAME = 80


def feishu_file_id(message_id: str, key: str, name: str) -> str:
    """The file id the core keeps for a file a member sent on Feishu: where to fetch it again
    (its message and key) and its name (a long one shortened, keeping its extension)."""
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = f"{(stem if dot else name)[: MAX_NAME - len(ext) - 2]}…{dot}{ext}"
    return f"{CALLBACK_PREFIX}{message_id}:{key}:{name}"


def parse_file_id(file_id: str) -> tuple[str, str, str] | None:
    """(message id, key, name) of a file id made by feishu_file_id; None for any other."""
    if not file_id.startswith(CALLBACK_PREFIX):
        return None
    parts = file_id[len(CALLBACK_PREFIX) :].split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else "file"


def callback_id(chat_id: int, token: str) -> str:
    """A pressed button's query id: it says whom an answer goes to."""
    return f"{CALLBACK_PREFIX}{chat_id}:{token}"


class FeishuBotApi:
    def __init__(
        self, client: FeishuClient, store: ChannelStore, fetch_file: FetchFile | None = None
    ) -> None:
        self.client = client
        self.store = store
        self.fetch_file = fetch_file
        # Telegram file id -> Feishu file key: a study document is uploaded once, not per member.
        self._uploaded: dict[str, str] = {}
        self._upload_locks: dict[str, asyncio.Lock] = {}

    async def warm(self) -> None:
        """The tenant token and the connection, before the first message needs them."""
        await self.client.token()

    async def close(self) -> None:
        await self.store.flush()
        await self.client.close()

    async def call(self, method: str, params: dict[str, Any], files: Any = None) -> Any:
        """One Bot API call done on Feishu; `files` as python-telegram-bot passes uploads
        (field: (name, content, MIME type)) or as the outbox does (field: (name, bytes))."""
        name = method.lower()
        files = {
            field: (upload[0], upload[1], upload[2] if len(upload) > 2 else "")
            for field, upload in (files or {}).items()
        }
        if name in _NOTHING_TO_DO:
            return True
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            raise BadRequest(f"{method} is not available on Feishu")
        result: Any = await handler(params, files)
        return result

    async def _open_id(self, params: dict[str, Any]) -> tuple[int, str]:
        chat_id = int(params["chat_id"])
        open_id = await self.store.external_id(chat_id)
        if open_id is None:
            # Never seen on Feishu: nobody to send to, as a Telegram chat the bot never met.
            raise Forbidden("Forbidden: unknown Feishu contact")
        return chat_id, open_id

    @staticmethod
    def _message(chat_id: int, number: int, text: str = "") -> dict[str, Any]:
        return {
            "message_id": number,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": cards.plain_text(text),
        }

    async def _send_card(
        self, chat_id: int, open_id: str, content: dict[str, Any], uuid: str | None = None
    ) -> dict[str, Any]:
        card = cards.card(
            content.get("text", ""), content.get("markup"), image_key=content.get("image_key")
        )
        message_id = await self.client.send(open_id, "interactive", card, uuid)
        number = await self.store.save_message(message_id, chat_id, content)
        return self._message(chat_id, number, content.get("text", ""))

    async def _sendmessage(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        chat_id, open_id = await self._open_id(params)
        content = {"text": str(params.get("text", "")), "markup": _markup(params)}
        return await self._send_card(chat_id, open_id, content, _uuid(params))

    async def _senddocument(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        chat_id, open_id = await self._open_id(params)
        file_key = await self._file_key(params.get("document"), files.get("document"))
        # Two messages, each with its own uuid: a row sent again after a crash between them
        # (or a rate limit on the second) sends neither twice.
        uuid = _uuid(params)
        message_id = await self.client.send(
            open_id, "file", {"file_key": file_key}, f"{uuid}-f" if uuid else None
        )
        number = await self.store.save_message(message_id, chat_id, {"kind": "file"})
        caption = str(params.get("caption") or "")
        if caption or _markup(params):
            # A Feishu file message has no caption: the text follows as a card of its own.
            await self._send_card(
                chat_id,
                open_id,
                {"text": caption, "markup": _markup(params)},
                f"{uuid}-c" if uuid else None,
            )
        return self._message(chat_id, number, caption)

    async def _file_key(self, ref: Any, upload: tuple[str, Any, str] | None) -> str:
        if upload is not None:
            name, data, _ = upload
            return await self.client.upload_file(name or "file", _bytes(data))
        ref = str(ref or "")
        if ref.startswith("file_"):
            return str(ref)
        # One download and one upload for a whole wave: the others wait, then use the key.
        async with self._upload_locks.setdefault(ref, asyncio.Lock()):
            known = self._uploaded.get(ref)
            if known is not None:
                return known
            with from_another_channel():
                key = await self._upload_again(ref)
            self._uploaded[ref] = key
            return key

    async def _upload_again(self, ref: str) -> str:
        sent_here = parse_file_id(ref)
        if sent_here is not None:
            # A member's file (a study document a secretary sent on Feishu): Feishu keeps it
            # under the member's message; a message of the bot's needs it uploaded as the app's.
            message_id, key, name = sent_here
            data = await self.client.download(message_id, key)
        elif self.fetch_file is not None and ref:
            name, data = await self.fetch_file(ref)
        else:
            raise BadRequest("Bad Request: this file cannot be sent on Feishu")
        return await self.client.upload_file(name, data)

    async def _sendphoto(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        chat_id, open_id = await self._open_id(params)
        image_key = await self._image_key(params.get("photo"), files.get("photo"))
        content = {
            "text": str(params.get("caption") or ""),
            "markup": _markup(params),
            "image_key": image_key,
        }
        return await self._send_card(chat_id, open_id, content)

    async def _image_key(self, ref: Any, upload: tuple[str, Any, str] | None) -> str:
        if upload is not None:
            name, data, _ = upload
            return await self.client.upload_image(_bytes(data), name or "image.png")
        ref = str(ref or "")
        if ref.startswith("img_"):
            return str(ref)
        raise BadRequest("Bad Request: this picture cannot be sent on Feishu")

    async def _edit(self, params: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
        number = int(params["message_id"])
        found = await self.store.message(number)
        if found is None:
            raise BadRequest("Bad Request: message to edit not found")
        external, chat_id, content = found
        if content.get("kind") == "file":
            raise BadRequest("Bad Request: there is no text in the message to edit")
        new = {**content, **change}
        if new == content:
            raise BadRequest("Bad Request: message is not modified")
        card = cards.card(new.get("text", ""), new.get("markup"), image_key=new.get("image_key"))
        await self.client.update_card(external, card)
        await self.store.save_message(external, chat_id, new)
        return self._message(chat_id, number, new.get("text", ""))

    async def _editmessagetext(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        # As on Telegram, an edit without reply_markup leaves the message without buttons.
        return await self._edit(
            params, {"text": str(params.get("text", "")), "markup": _markup(params)}
        )

    async def _editmessagecaption(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        return await self._edit(
            params, {"text": str(params.get("caption") or ""), "markup": _markup(params)}
        )

    async def _editmessagereplymarkup(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        return await self._edit(params, {"markup": _markup(params)})

    async def _editmessagemedia(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        media = params.get("media")
        media = json.loads(media) if isinstance(media, str) else dict(media or {})
        ref = str(media.get("media", ""))
        upload = files.get(ref.removeprefix("attach://")) if ref.startswith("attach://") else None
        image_key = await self._image_key(ref, upload)
        change: dict[str, Any] = {"image_key": image_key, "markup": _markup(params)}
        if "caption" in media:
            change["text"] = str(media.get("caption") or "")
        return await self._edit(params, change)

    async def _deletemessage(self, params: dict[str, Any], files: Files) -> bool:
        found = await self.store.message(int(params["message_id"]))
        if found is None:
            raise BadRequest("Bad Request: message to delete not found")
        await self.client.recall(found[0])
        return True

    async def _answercallbackquery(self, params: dict[str, Any], files: Files) -> bool:
        text = str(params.get("text") or "")
        query = str(params.get("callback_query_id", ""))
        if not text or not query.startswith(CALLBACK_PREFIX):
            return True
        # Feishu shows a toast only in the answer to the press itself, which went out when the
        # press was stored: a notice comes as a short message instead.
        chat_id = int(query[len(CALLBACK_PREFIX) :].split(":", 1)[0])
        await self._sendmessage({"chat_id": chat_id, "text": _escape_html(text)}, {})
        return True

    async def _getfile(self, params: dict[str, Any], files: Files) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        parsed = parse_file_id(file_id)
        if parsed is None:
            raise BadRequest("Bad Request: invalid file_id")
        message_id, key, _ = parsed
        return {
            "file_id": file_id,
            "file_unique_id": key,
            "file_path": f"{FILE_PATH_PREFIX}{message_id}/{key}",
        }

    async def fetch(self, file_id: str) -> tuple[str, bytes] | None:
        """A file a member sent on Feishu, by the file id the core keeps: (name, bytes); None
        for a file id of another channel."""
        parsed = parse_file_id(file_id)
        if parsed is None:
            return None
        message_id, key, name = parsed
        return name, await self.client.download(message_id, key)

    async def download(self, file_path: str) -> bytes:
        """A file a member sent on Feishu (a roster, a document), by getFile's file_path."""
        rest = file_path.split(FILE_PATH_PREFIX, 1)[-1]
        message_id, key = rest.split("/", 1)
        return await self.client.download(message_id, key, "file")


FILE_PATH_PREFIX = "feishu-files/"


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """A call's buttons in the neutral form (bot.channels.message), as kept with the card."""
    return neutral_buttons(params.get("reply_markup") or None)


def _uuid(params: dict[str, Any]) -> str | None:
    value = params.get("feishu_uuid")
    return str(value) if value else None


def _bytes(data: Any) -> bytes:
    return data if isinstance(data, bytes) else bytes(data.read())


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
