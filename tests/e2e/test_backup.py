"""`branchbot backup`: a consistent copy of the SQLite file; for PostgreSQL, the pg_dump line."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from tests.services.test_ledger import _scenario_file


def config_for(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "branchbot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return config


def test_sqlite_is_copied_with_its_records(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    asyncio.run(_scenario_file(url))
    copy = tmp_path / "backups" / "copy.db"
    assert main(["backup", "--config", str(config_for(tmp_path, url)), "--out", str(copy)]) == 0
    with sqlite3.connect(copy) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM members ORDER BY id")]
        assert names == ["书记", "张三", "李四", "王五", "外支部"]
        (payments,) = connection.execute("SELECT count(*) FROM dues_payments").fetchone()
    assert payments == 1


def test_postgresql_gets_the_pg_dump_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+asyncpg://branchbot:secret@127.0.0.1:5432/branchbot"
    out = tmp_path / "bot.dump"
    assert main(["backup", "--config", str(config_for(tmp_path, url)), "--out", str(out)]) == 2
    advice = capsys.readouterr().err
    assert f"pg_dump --format=custom --file={out}" in advice
    assert "postgresql://branchbot@127.0.0.1:5432/branchbot" in advice and "secret" not in advice
    assert not out.exists()
