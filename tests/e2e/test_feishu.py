"""Feishu beside Telegram: the running bot against the Feishu stand-in (signed, encrypted
callbacks in; the IM API out) and the Telegram sandbox, both on loopback."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import running
from bot.channels.address import FEISHU, alias
from bot.channels.feishu.bot_api import feishu_file_id
from bot.channels.feishu.client import FeishuClient
from bot.channels.feishu.events import FeishuEvents
from bot.channels.feishu.transport import dispatcher
from bot.channels.store import ChannelStore
from bot.config import Config, parse_config
from bot.delivery import Outgoing, enqueue
from bot.sandbox import BotApiSandbox
from bot.sandbox.feishu import (
    FeishuStandIn,
    card_action_event,
    message_event,
    run_feishu_standin,
)
from storage.db import Database
from storage.models import Contact, Delivery, Member, Receipt, utcnow
from tests.e2e.conftest import ADMIN_ID, e2e_config, free_port

ROSTER = (
    "姓名,支部,党小组,角色\n"
    "张三,第一支部,一组,党员\n"
    "李四,第一支部,一组,党员\n"
    "王五,第一支部,一组,书记\n"
)
ZHANG, WANG = "ou_zhangsan", "ou_wangwu"
LI_TG, LI_FS = 2, "ou_lisi"


@pytest.fixture
async def standin() -> AsyncIterator[tuple[FeishuStandIn, str]]:
    fs = FeishuStandIn()
    for open_id, name in ((ZHANG, "张三"), (WANG, "王五"), (LI_FS, "李四"), ("ou_x", "X")):
        fs.add_user(open_id, name)
    async with run_feishu_standin(fs) as base:
        yield fs, base


def with_feishu(
    config: Config,
    base: str,
    fs: FeishuStandIn,
    sections: dict[str, Any] | None = None,
    **feishu: Any,
) -> Config:
    raw: dict[str, Any] = {
        "app_id": fs.app_id,
        "app_secret": fs.app_secret,
        "mode": "webhook",
        "verification_token": fs.verification_token,
        "encrypt_key": fs.encrypt_key,
        "api_base_url": base,
        "port": 0,
        **feishu,
    }
    data = {
        "telegram": {
            "token": config.telegram.token,
            "api_base_url": config.telegram.api_base_url,
            "mode": "polling",
        },
        "database": {"url": config.database.url},
        "organisation": {"name": config.organisation.name, "admins": [ADMIN_ID]},
        "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
        "health": {"port": 0},
        "feishu": raw,
    }
    if not config.telegram.token:
        del data["telegram"]
    data.update(sections or {})
    return parse_config(data, env={})


async def tg_says(sb: BotApiSandbox, user: int, text: str) -> str:
    before = len(sb.messages_to(user))
    await sb.user_message(user, text)
    return (await sb.wait_for_message(user, after=before, timeout=15)).text or ""


async def fs_says(fs: FeishuStandIn, open_id: str, text: str) -> Any:
    before = len(fs.messages_to(open_id))
    await fs.user_says(open_id, text)
    return await fs.wait_for_message(open_id, after=before, timeout=15)


async def import_roster(sb: BotApiSandbox) -> dict[str, str]:
    """The admin (on Telegram) loads the roster; the invite codes by name."""
    before = len(sb.messages_to(ADMIN_ID))
    await sb.user_document(ADMIN_ID, "r.csv", ROSTER.encode("utf-8-sig"))
    preview = await sb.wait_for_message(ADMIN_ID, after=before + 1, timeout=30)
    await sb.press_button(ADMIN_ID, preview.message_id, sb.button_data(preview, "确认导入"))
    done = await sb.wait_for_message(ADMIN_ID, after=before + 3, timeout=30)
    assert "新增 3 人" in (done.text or "")
    invites = await tg_says(sb, ADMIN_ID, "/invites")
    # Per member: the Telegram link, whose code is also what a member types on Feishu.
    return dict(re.findall(r"(\S+?)（[^）]*）\s*\nhttps://t\.me/\w+\?start=(\w+)", invites))


async def test_feishu_members_join_study_and_choose_their_channel(
    sandbox: tuple[BotApiSandbox, str],
    standin: tuple[FeishuStandIn, str],
    bot_database_url: str,
) -> None:
    sb, tg_base = sandbox
    fs, fs_base = standin
    config = with_feishu(e2e_config(tg_base, sb.token, bot_database_url), fs_base, fs)
    async with running(config) as (_, deps):
        fs.callback_url = f"{deps.metrics.feishu_at}{config.feishu.path}"
        codes = await import_roster(sb)

        # A stranger on Feishu is told how to join, with the open_id an admin would configure.
        hello = await fs_says(fs, ZHANG, "你好")
        assert "邀请码" in hello.text and ZHANG in hello.text

        # Joining on Feishu: the invite code, typed.
        welcome = await fs_says(fs, ZHANG, codes["张三"])
        assert "欢迎，张三" in welcome.text
        assert "欢迎，王五" in (await fs_says(fs, WANG, f"/start {codes['王五']}")).text
        assert "欢迎，李四" in await tg_says(sb, LI_TG, f"/start {codes['李四']}")

        # /help on Feishu is a card with buttons (Feishu has no command menu); a button types
        # its command.
        help_card = await fs_says(fs, ZHANG, "/help")
        assert "/me" in help_card.text and "我的信息" in help_card.labels
        before = len(fs.messages_to(ZHANG))
        await fs.press(ZHANG, help_card.message_id, "我的信息")
        me = await fs.wait_for_message(ZHANG, after=before, timeout=15)
        assert "张三" in me.text and "第一支部" in me.text

        # A redelivered event (same event id) is handled once.
        before = len(fs.messages_to(ZHANG))
        assert fs.last_event is not None
        assert await fs.redeliver(fs.last_event) == 200
        await fs_says(fs, ZHANG, "/me")
        assert len(fs.messages_to(ZHANG)) == before + 1

        # The secretary (on Feishu) pushes study material: each member gets it on their
        # channel, once.
        await fs.user_says(WANG, "/study 第一议题 | 学习*讲话*精神 | 截止 2099-12-31")
        item_card = await _wait_for_text(fs, ZHANG, "第一议题")
        assert "已学习" in item_card.labels
        # The neutral HTML became Feishu markdown: bold title, the member's "*" escaped.
        markdown = json.dumps(item_card.content, ensure_ascii=False)
        assert "**理论学习**" in markdown and "学习\\\\*讲话\\\\*精神" in markdown
        assert "第一议题" in (await _wait_for_tg_text(sb, LI_TG, "第一议题"))

        # A press on Feishu confirms, and the card changes in place (the button shows ✅).
        await fs.press(ZHANG, item_card.message_id, "已学习")
        edited = await fs.wait_for_edit(item_card.message_id, timeout=15)
        assert any(label.startswith("✅") for label in edited.labels)

        # 张三 is on Feishu only: /channel says so, and refuses Telegram.
        assert "飞书" in (await fs_says(fs, ZHANG, "/channel")).plain
        refused = (await fs_says(fs, ZHANG, "/channel telegram")).plain
        assert "尚未在 Telegram 绑定" in refused and "/link" in refused

        # 李四 links Feishu too (/link on Telegram, the code on Feishu) and moves pushes there.
        link = await tg_says(sb, LI_TG, "/link")
        code = re.search(r"start=(\w+)", link)
        assert code is not None, link
        assert "欢迎" in (await fs_says(fs, LI_FS, code[1])).text
        assert "飞书" in await tg_says(sb, LI_TG, "/channel feishu")
        tg_before = len(sb.messages_to(LI_TG))
        await fs_says(fs, WANG, "/study 第二议题 | 内容 | 截止 2099-12-31")
        second = await _wait_for_text(fs, LI_FS, "第二议题")
        assert "已学习" in second.labels
        assert not any("第二议题" in (m.text or "") for m in sb.messages_to(LI_TG)[tg_before:])

    db = Database(bot_database_url)
    try:
        async with db.read() as session:
            zhang = await session.scalar(select(Member).where(Member.name == "张三"))
            li = await session.scalar(select(Member).where(Member.name == "李四"))
            assert zhang is not None and li is not None
            assert zhang.telegram_user_id is None and zhang.chat_id == alias(FEISHU, ZHANG)
            assert li.telegram_user_id == LI_TG and li.chat_id == alias(FEISHU, LI_FS)
            rows = (
                await session.scalars(select(Delivery).where(Delivery.member_id == li.id))
            ).all()
            assert sorted(r.channel for r in rows) == ["feishu", "telegram"]
            # Each row keeps the channel-neutral message: buttons as label and action.
            stored = [json.loads(r.reply_markup) for r in rows if r.reply_markup]
            assert stored and all(set(b) == {"buttons"} for b in stored)
            assert stored[0]["buttons"][0][0]["label"] == "已学习"
            assert all(r.status == "sent" for r in rows)
            confirmed = await session.scalar(
                select(Receipt.confirmed_at).where(Receipt.member_id == zhang.id)
            )
            assert confirmed is not None
    finally:
        await db.dispose()


async def _wait_for_tg_text(sb: BotApiSandbox, user: int, needle: str) -> str:
    index = 0
    while True:
        text = (await sb.wait_for_message(user, after=index, timeout=20)).text or ""
        if needle in text:
            return text
        index += 1


async def _wait_for_text(fs: FeishuStandIn, open_id: str, needle: str, seconds: float = 20) -> Any:
    index = 0
    while True:
        message = await fs.wait_for_message(open_id, after=index, timeout=seconds)
        if needle in message.text:
            return message
        index += 1


ADMIN_OPEN_ID = "ou_admin"


async def test_feishu_only_office_runs_every_kind_of_message(
    standin: tuple[FeishuStandIn, str], bot_database_url: str, tmp_path: Path
) -> None:
    """No Telegram token at all: an admin named by open_id imports the roster from a file sent
    in Feishu, gets a chart (image) and a ledger (file); pushes survive a rate limit and an
    expired token; forged callbacks are refused."""
    fs, fs_base = standin
    fs.add_user(ADMIN_OPEN_ID, "管理员")
    base = e2e_config("http://127.0.0.1:9", "", bot_database_url)
    board = free_port()
    workbench = {
        "enabled": True,
        "port": board,
        "public_url": f"http://127.0.0.1:{board}",
        "secret_key": "k" * 32,
    }
    config = with_feishu(base, fs_base, fs, {"dashboard": workbench}, admins=[ADMIN_OPEN_ID])
    assert not config.telegram.token
    async with running(config) as (_, deps):
        fs.callback_url = f"{deps.metrics.feishu_at}{config.feishu.path}"

        # Forged or garbled callbacks: refused, nothing handled.
        body, headers = fs.signed_request(
            message_event(app_id=fs.app_id, token=fs.verification_token, open_id="ou_x", text="/me")
        )
        status, _ = await fs.post_raw(body, {**headers, "X-Lark-Signature": "0" * 64})
        assert status == 401
        status, _ = await fs.post_raw(b'{"encrypt": "garbage"}', headers)
        assert status == 401
        wrong = message_event(app_id=fs.app_id, token="not-the-token", open_id="ou_x", text="/me")
        status, _ = await fs.post_raw(*fs.signed_request(wrong))
        assert status == 401
        # The URL check of the Feishu console is answered with its challenge.
        assert (await fs.verify_url("c-123"))["challenge"] == "c-123"
        assert fs.messages_to("ou_x") == []

        # The roster, sent as a file in Feishu, read through Feishu's resource download.
        before = len(fs.messages_to(ADMIN_OPEN_ID))
        await fs.user_sends_file(ADMIN_OPEN_ID, "名册.csv", ROSTER.encode("utf-8-sig"))
        preview = await _wait_for_text(fs, ADMIN_OPEN_ID, "花名册预览", seconds=30)
        assert "新增 3 人" in preview.text and "确认导入" in preview.labels
        await fs.press(ADMIN_OPEN_ID, preview.message_id, "确认导入")
        # Reading…, the preview, applying…, then the result.
        done = await fs.wait_for_message(ADMIN_OPEN_ID, after=before + 3, timeout=30)
        assert "新增 3 人" in done.text
        assert fs.calls_to("GET", "/open-apis/im/v1/messages/")

        invites = (await fs_says(fs, ADMIN_OPEN_ID, "/invites")).plain
        # No Telegram here: each member's code, to send to the bot, and no link.
        assert "t.me" not in invites
        codes = dict(re.findall(r"(\S+?)（[^）]*）\s*\n邀请码 (\w+)", invites))
        assert set(codes) == {"张三", "李四", "王五"}, invites
        assert "欢迎，张三" in (await fs_says(fs, ZHANG, codes["张三"])).text
        # One messenger only: nothing to link, and no Telegram link anywhere.
        assert "只接入了一个渠道" in (await fs_says(fs, ZHANG, "/link")).text

        # A chart is an image in a card; a ledger is a file message.
        before = len(fs.messages_to(ADMIN_OPEN_ID))
        await fs.user_says(ADMIN_OPEN_ID, "/stats")
        chart = await _wait_for(fs, ADMIN_OPEN_ID, before, lambda m: _has_image(m), seconds=60)
        assert chart.msg_type == "interactive"
        before = len(fs.messages_to(ADMIN_OPEN_ID))
        await fs.user_says(ADMIN_OPEN_ID, "/export")
        ledger = await _wait_for(fs, ADMIN_OPEN_ID, before, lambda m: m.msg_type == "file", 60)
        key = ledger.content["file_key"]
        assert fs.file_name(key).endswith(".xlsx")
        assert fs.file_bytes(key)[:2] == b"PK"

        # The draft half-year report is a DOCX file; the workbench link a card with the link.
        before = len(fs.messages_to(ADMIN_OPEN_ID))
        await fs.user_says(ADMIN_OPEN_ID, "/summary 2026-H2")
        report = await _wait_for(fs, ADMIN_OPEN_ID, before, lambda m: m.msg_type == "file", 60)
        assert fs.file_name(report.content["file_key"]).endswith(".docx")
        assert fs.file_bytes(report.content["file_key"])[:2] == b"PK"
        link = (await fs_says(fs, ZHANG, "/dashboard")).plain
        assert f"http://127.0.0.1:{board}/dashboard/login?t=" in link
        # Integrity reminders on a schedule are set up in chat as on Telegram.
        await fs.user_says(ADMIN_OPEN_ID, "/remind 每周五 17:00 | 周末廉洁自律")
        set_up = await _wait_for_text(fs, ADMIN_OPEN_ID, "已设置提醒")
        assert "每周五 17:00" in set_up.plain
        assert "周末廉洁自律" in (await fs_says(fs, ADMIN_OPEN_ID, "/reminders")).plain

        # Pushes through Feishu's rate limit (HTTP 429) and an expired tenant token.
        grants = fs.token_grants
        fs.expire_tokens()
        fs.throttle("/open-apis/im/v1/messages", 2)
        await fs.user_says(ADMIN_OPEN_ID, "/study 廉政提醒 | 节前廉洁自律 | 截止 2099-12-31")
        pushed = await _wait_for_text(fs, ZHANG, "廉政提醒", seconds=30)
        assert "已学习" in pushed.labels
        assert fs.token_grants > grants
        throttled = [c for c in fs.calls if c.status == 429]
        assert len(throttled) == 2

        # /healthz watches the Feishu sender (there is no Telegram one here).
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{deps.metrics.served_at}/healthz") as response,
        ):
            assert response.status == 200
            checks = json.dumps(await response.json())
        assert "sender-feishu" in checks and '"sender"' not in checks


def _has_image(message: Any) -> bool:
    elements = message.content.get("elements", []) if message.msg_type == "interactive" else []
    return any(e.get("tag") == "img" for e in elements)


async def _wait_for(
    fs: FeishuStandIn, open_id: str, after: int, test: Any, seconds: float = 20
) -> Any:
    index = after
    while True:
        message = await fs.wait_for_message(open_id, after=index, timeout=seconds)
        if test(message):
            return message
        index += 1


async def test_long_connection_events_take_the_same_path(
    standin: tuple[FeishuStandIn, str], bot_database_url: str, tmp_path: Path
) -> None:
    """The long connection at the SDK's event boundary: lark's dispatcher gets the event as
    its WebSocket client would hand it over, and the bot answers as for a callback."""
    fs, fs_base = standin
    base = e2e_config("http://127.0.0.1:9", "", bot_database_url)
    # An admin by open id, so /help has buttons to press.
    config = with_feishu(base, fs_base, fs, mode="webhook", admins=[ZHANG])
    async with running(config) as (_, deps):
        directory = FeishuClient(config.feishu)
        events = FeishuEvents(
            ChannelStore(deps.db, FEISHU),
            deps.inbound.receive,
            config.feishu.app_id,
            directory.user_name,
        )
        handler = dispatcher(config.feishu, events, asyncio.get_running_loop())
        event = message_event(
            app_id=fs.app_id, token=fs.verification_token, open_id=ZHANG, text="/help"
        )
        payload = json.dumps(event, ensure_ascii=False).encode()
        # The SDK calls the dispatcher from its own thread.
        await asyncio.to_thread(handler._do_without_validation, payload)
        reply = await fs.wait_for_message(ZHANG, timeout=15)
        assert "/me" in reply.text and "我的信息" in reply.labels
        # The same event again (a reconnect redelivers it): kept once, answered once.
        await asyncio.to_thread(handler._do_without_validation, payload)
        await asyncio.sleep(1)
        assert len(fs.messages_to(ZHANG)) == 1
        assert reply_card_has_buttons(fs.messages_to(ZHANG)[0])
        # A press of the help card's button, as the long connection hands over a card action:
        # the SDK wants its answer object back, and the pressed command is handled.
        reply_card = fs.messages_to(ZHANG)[0]
        me_button = next(
            value
            for label, value in reply_card.buttons
            if label == "我的信息" and isinstance(value, dict)
        )
        press = card_action_event(
            app_id=fs.app_id,
            token=fs.verification_token,
            open_id=ZHANG,
            message_id=reply_card.message_id,
            value=me_button,
        )
        answer = await asyncio.to_thread(
            handler._do_without_validation, json.dumps(press, ensure_ascii=False).encode()
        )
        assert type(answer).__name__ == "P2CardActionTriggerResponse"
        pressed = await fs.wait_for_message(ZHANG, after=1, timeout=15)
        assert "角色：管理员" in pressed.plain
        # They are kept as a contact, with the name the directory gave.
        async with deps.db.read() as session:
            kept = await session.get(Contact, alias(FEISHU, ZHANG))
        assert kept is not None and kept.external_id == ZHANG and kept.name == "张三"
        await directory.close()


async def test_a_document_sent_on_one_channel_reaches_members_on_the_other(
    sandbox: tuple[BotApiSandbox, str],
    standin: tuple[FeishuStandIn, str],
    bot_database_url: str,
) -> None:
    """A study document a secretary sent on Feishu reaches a Telegram member as an upload, and
    one sent on Telegram reaches a Feishu member: each outbox fetches the file from where it
    was sent."""
    sb, tg_base = sandbox
    fs, fs_base = standin
    config = with_feishu(e2e_config(tg_base, sb.token, bot_database_url), fs_base, fs)
    feishu_doc, telegram_doc = b"PK\x03\x04feishu-material", b"PK\x03\x04telegram-material"
    async with running(config) as (_, deps):
        fs.callback_url = f"{deps.metrics.feishu_at}{config.feishu.path}"
        # Both files exist where their senders sent them (the bot answers each as a stranger's).
        sent = await fs.user_sends_file(WANG, "学习材料.docx", feishu_doc)
        message = sent["event"]["message"]
        key = json.loads(message["content"])["file_key"]
        update = await sb.user_document(LI_TG, "讲话原文.docx", telegram_doc)
        telegram_file_id = update["message"]["document"]["file_id"]
        await fs.user_says(ZHANG, "你好")  # Zhang is a contact of the bot's from here on

        async with deps.db.write() as session:
            await enqueue(
                session,
                [
                    Outgoing(
                        LI_TG,
                        None,
                        "请学习附件",
                        "notice",
                        document_file_id=feishu_file_id(
                            message["message_id"], key, "学习材料.docx"
                        ),
                    ),
                    Outgoing(
                        alias(FEISHU, ZHANG),
                        None,
                        "请学习附件",
                        "notice",
                        document_file_id=telegram_file_id,
                    ),
                ],
                now=utcnow(),
                quiet=deps.push.quiet,
            )
            await session.commit()
        deps.outbox_ready.set()

        on_telegram = await _wait_for_tg_document(sb, LI_TG)
        assert on_telegram.document_name == "学习材料.docx"
        assert on_telegram.document_bytes == feishu_doc
        assert on_telegram.caption == "请学习附件"
        on_feishu = await _wait_for(fs, ZHANG, 0, lambda m: m.msg_type == "file", seconds=20)
        assert fs.file_bytes(on_feishu.content["file_key"]) == telegram_doc
        # Telegram keeps no file's name past getFile: the file goes by Telegram's own name.
        assert fs.file_name(on_feishu.content["file_key"]).endswith(".docx")
        caption = await _wait_for_text(fs, ZHANG, "请学习附件")
        assert caption.msg_type == "interactive"


async def _wait_for_tg_document(sb: BotApiSandbox, chat_id: int) -> Any:
    index = 0
    while True:
        message = await sb.wait_for_message(chat_id, after=index, timeout=20)
        if message.document_name is not None:
            return message
        index += 1


def reply_card_has_buttons(message: Any) -> bool:
    return any(isinstance(value, dict) for _, value in message.buttons)
