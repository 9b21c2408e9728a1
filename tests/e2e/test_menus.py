"""`branchbot roster import` sets the command menus of the members whose role it changes, and
deletes the menu of those it deactivates, over the Bot API (the sandbox on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import update

from bot.auth import Access, menu_commands
from bot.cli import main
from bot.sandbox import BotApiSandbox
from storage.db import Database
from storage.models import Member

ZHANG = 4242


def _config(tmp_path: Path, url: str, base: str, token: str) -> Path:
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[telegram]\ntoken = "{token}"\napi_base_url = "{base}/bot"\n'
        '[organisation]\nname = "测试局机关党委"\n',
        encoding="utf-8",
    )
    return cfg


async def _import(cfg: Path, tmp_path: Path, content: str, *flags: str) -> int:
    path = tmp_path / "r.csv"
    path.write_text(content, encoding="utf-8")
    # The command line runs its own event loop: off this test's loop (which serves the sandbox).
    argv = ["roster", "import", str(path), "--config", str(cfg), *flags]
    return await asyncio.to_thread(main, argv)


async def test_roster_import_sets_and_deletes_members_menus(
    sandbox: tuple[BotApiSandbox, str], bot_database_url: str, tmp_path: Path
) -> None:
    sb, base = sandbox
    cfg = _config(tmp_path, bot_database_url, base, sb.token)
    both = "姓名,支部,角色\n张三,第一支部,党员\n李四,第一支部,党员\n"
    assert await _import(cfg, tmp_path, both) == 0
    db = Database(bot_database_url)
    try:
        async with db.write() as session:
            await session.execute(
                update(Member).where(Member.name == "张三").values(telegram_user_id=ZHANG)
            )
            await session.commit()
    finally:
        await db.dispose()
    scope = {"type": "chat", "chat_id": ZHANG}

    promoted = "姓名,支部,角色\n张三,第一支部,书记\n李四,第一支部,党员\n"
    assert await _import(cfg, tmp_path, promoted) == 0
    secretary = [c.name for c in menu_commands(Access.SECRETARY)]
    assert [c["command"] for c in sb.commands(scope)] == secretary

    without_zhang = "姓名,支部,角色\n李四,第一支部,党员\n"
    assert await _import(cfg, tmp_path, without_zhang, "--deactivate-missing") == 0
    assert sb.commands(scope) == []
    assert [c.params["scope"] for c in sb.calls_to("deleteMyCommands")] == [scope]
