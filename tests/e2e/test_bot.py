"""The running bot over real HTTP, in polling and webhook mode, and its command line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.app import running
from bot.cli import main
from bot.sandbox import BotApiSandbox
from tests.e2e.conftest import ADMIN_ID, e2e_config

ROSTER = "姓名,支部,党小组,角色\n张三,第一支部,一组,党员\n李四,第一支部,一组,书记\n"


async def converse(sb: BotApiSandbox, user_id: int, text: str) -> str:
    before = len(sb.messages_to(user_id))
    await sb.user_message(user_id, text)
    reply = await sb.wait_for_message(user_id, after=before, timeout=10)
    return reply.text or ""


async def onboard_and_check_roles(sb: BotApiSandbox) -> None:
    """Import a roster, bind two members, and check /help, /me and /members per role."""
    before = len(sb.messages_to(ADMIN_ID))
    await sb.user_document(ADMIN_ID, "r.csv", ROSTER.encode("utf-8-sig"))
    # Answered at once; the preview follows from a worker process.
    reading = await sb.wait_for_message(ADMIN_ID, after=before, timeout=10)
    assert "正在检查" in (reading.text or "")
    preview = await sb.wait_for_message(ADMIN_ID, after=before + 1, timeout=20)
    await sb.press_button(ADMIN_ID, preview.message_id, sb.button_data(preview, "确认导入"))
    applying = await sb.wait_for_message(ADMIN_ID, after=before + 2, timeout=10)
    assert "正在导入" in (applying.text or "")
    done = await sb.wait_for_message(ADMIN_ID, after=before + 3, timeout=20)
    assert "新增 2 人" in (done.text or "")

    invites = await converse(sb, ADMIN_ID, "/invites")
    codes = dict(re.findall(r"(\S+?)（[^）]*）\s*\nhttps://t\.me/\w+\?start=(\w+)", invites))
    assert set(codes) == {"张三", "李四"}

    assert "欢迎，张三" in await converse(sb, 1, f"/start {codes['张三']}")
    assert "欢迎，李四" in await converse(sb, 2, f"/start {codes['李四']}")
    member_help = await converse(sb, 1, "/help")
    assert "/me" in member_help and "/members" not in member_help
    assert "张三" in await converse(sb, 1, "/me")
    assert "没有使用此命令的权限" in await converse(sb, 1, "/members")
    assert "已绑定 2 / 共 2" in await converse(sb, 2, "/members")
    assert "/setrole" in await converse(sb, ADMIN_ID, "/help")


async def test_polling_mode_end_to_end(sandbox, bot_database_url: str) -> None:
    sb, base = sandbox
    config = e2e_config(base, sb.token, bot_database_url, mode="polling")
    async with running(config):
        await onboard_and_check_roles(sb)
    commands = [c for c in sb.calls if c.method.lower() == "setmycommands"]
    assert commands, "the command menu was registered"


async def test_webhook_mode_end_to_end(sandbox, bot_database_url: str) -> None:
    sb, base = sandbox
    config = e2e_config(base, sb.token, bot_database_url, mode="webhook")
    async with running(config):
        await onboard_and_check_roles(sb)
        assert all(status == 200 for status in sb.webhook_statuses)


async def test_webhook_refuses_wrong_secret_and_garbage(sandbox, bot_database_url: str) -> None:
    sb, base = sandbox
    config = e2e_config(base, sb.token, bot_database_url, mode="webhook")
    hook = f"http://127.0.0.1:{config.webhook.port}{config.webhook.path}"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "/help",
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "is_bot": False, "first_name": "X"},
        },
    }
    async with running(config), aiohttp.ClientSession() as http:
        async with http.post(hook, json=update) as resp:
            assert resp.status == 403
        async with http.post(
            hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ) as resp:
            assert resp.status == 403
        good = {"X-Telegram-Bot-Api-Secret-Token": config.webhook.secret_token}
        for body in (b"not json", b"[]", b'{"update_id": "x"}', b"\xff" * 10):
            async with http.post(hook, data=body, headers=good) as resp:
                assert resp.status == 400
        async with http.post(hook, data=b"x" * (2 * 1024 * 1024), headers=good) as resp:
            assert resp.status == 413
        async with http.get(f"http://127.0.0.1:{config.webhook.port}/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["database"] == {"state": "ok"}
        # Still serving after all that: a real update is answered.
        assert "/start" in await converse(sb, 5, "/help")
    assert sb.messages_to(5) and len(sb.messages_to(5)) == 1


async def test_menu_failure_does_not_stop_the_bot(sandbox, bot_database_url: str) -> None:
    sb, base = sandbox
    sb.inject_fault("setMyCommands", 500, "Internal Server Error", times=5)
    config = e2e_config(base, sb.token, bot_database_url, mode="polling")
    async with running(config):
        assert "/start" in await converse(sb, 5, "/help")


async def test_redelivered_update_over_http_is_answered_once(
    sandbox, bot_database_url: str
) -> None:
    sb, base = sandbox
    config = e2e_config(base, sb.token, bot_database_url, mode="polling")
    async with running(config):
        update = await sb.user_message(5, "/help")
        await sb.wait_for_message(5, after=0, timeout=10)
        await sb.redeliver(update)
        await sb.user_message(5, "/start")  # a later update proves the repeat was consumed
        await sb.wait_for_message(5, after=1, timeout=10)
        await asyncio.sleep(0.2)
    assert len(sb.messages_to(5)) == 2


def test_cli_roster_import_and_invites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n'
        '[telegram]\nbot_username = "demo_bot"\n',
        encoding="utf-8",
    )
    roster = tmp_path / "r.csv"
    roster.write_bytes(ROSTER.encode("gbk"))
    assert main(["roster", "import", str(roster), "--config", str(cfg), "--dry-run"]) == 0
    # The organisation's language (zh by default) for the summaries and the CSV's headers.
    assert "将导入：新增 2 人" in capsys.readouterr().out
    assert main(["roster", "invites", "--config", str(cfg), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip() == "\ufeff姓名,支部,党小组,邀请码,链接"
    assert main(["roster", "import", str(roster), "--config", str(cfg)]) == 0
    assert "已导入：新增 2 人" in capsys.readouterr().out
    assert main(["roster", "import", str(roster), "--config", str(cfg)]) == 0
    assert "已导入：新增 0 人，更新 0 人，不变 2 人" in capsys.readouterr().out
    assert main(["roster", "invites", "--config", str(cfg), "--branch", "第一支部"]) == 0
    table = capsys.readouterr().out
    assert "张三" in table and "https://t.me/demo_bot?start=" in table
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,支部,角色\n王五,第一支部,主任\n", encoding="utf-8")
    assert main(["roster", "import", str(bad), "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:" in err and "主任" in err


def test_cli_db_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n', encoding="utf-8"
    )
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "c.db").exists()


async def test_branchbot_run_process_stops_cleanly_on_sigterm(sandbox, tmp_path: Path) -> None:
    sb, base = sandbox
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[telegram]\ntoken = "{sb.token}"\napi_base_url = "{base}/bot"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "run.db"}"\n',
        encoding="utf-8",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert "/start" in await converse(sb, 7, "/help")
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, output.decode()
    assert b"shutting down" in output
    assert b"Traceback" not in output
