"""Hardening of the command line and the invites file: formulas and Excel in the invites CSV,
a dry run that writes nothing, summaries in the organisation's language, the summary's period
usage, the empty token, and every configuration problem at once."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.config import ConfigError, parse_config
from storage.db import Database

ROSTER = "姓名,支部,党小组\n张三,第一支部,第一党小组\n李四,第一支部,\n"
FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "+1", "-2", "@SUM(A1)"]


def _config(tmp_path: Path, url: str, language: str = "zh") -> Path:
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[database]\nurl = "{url}"\n[telegram]\nbot_username = "demo_bot"\n'
        f'[organisation]\nlanguage = "{language}"\n',
        encoding="utf-8",
    )
    return cfg


def _roster(tmp_path: Path, content: str = ROSTER) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(content, encoding="utf-8")
    return path


async def _cli(*argv: str) -> int:
    # The command line runs its own event loop: off this test's loop, in a thread.
    return await asyncio.to_thread(main, list(argv))


async def _tables(url: str) -> list[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            if url.startswith("sqlite"):
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            else:
                query = (
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            return list((await conn.execute(text(query))).scalars())
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("language", "headers"),
    [
        ("zh", ["姓名", "支部", "党小组", "邀请码", "链接"]),
        ("en", ["name", "branch", "group", "code", "link"]),
    ],
)
async def test_the_invites_csv_has_no_live_formula_a_bom_and_the_organisations_headers(
    bot_database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    language: str,
    headers: list[str],
) -> None:
    cfg = _config(tmp_path, bot_database_url, language)
    rows = "".join(f"成员{i},第一支部,\n" for i in range(len(FORMULAS)))
    assert (
        await _cli(
            "roster", "import", str(_roster(tmp_path, "姓名,支部\n" + rows)), "--config", str(cfg)
        )
        == 0
    )
    # Names as a hostile roster could carry them (set in the database, whatever the roster
    # import accepts).
    db = Database(bot_database_url)
    try:
        async with db.engine.begin() as conn:
            for i, name in enumerate(FORMULAS):
                await conn.execute(
                    text("UPDATE members SET name = :name WHERE name = :old"),
                    {"name": name, "old": f"成员{i}"},
                )
    finally:
        await db.dispose()
    capsys.readouterr()
    assert await _cli("roster", "invites", "--config", str(cfg), "--format", "csv") == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    assert table[0] == headers
    names = sorted(row[0] for row in table[1:])
    assert names == sorted("'" + name for name in FORMULAS)
    for row in table[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


async def test_a_dry_run_creates_and_migrates_nothing_and_logs_no_alembic(
    bot_database_url: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, bot_database_url, "en")
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bot",
            "roster",
            "import",
            str(_roster(tmp_path)),
            "--config",
            str(cfg),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "would import: 2 new, 0 updated" in done.stdout
    assert "checked alone" in done.stdout
    assert "new branches: 第一支部" in done.stdout
    assert "alembic" not in done.stderr
    if bot_database_url.startswith("sqlite"):
        assert not (tmp_path / "bot.db").exists()
    else:
        assert await _tables(bot_database_url) == []


async def test_summaries_follow_the_organisations_language(
    bot_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = _roster(tmp_path, ROSTER + "张三,第一支部,\n")
    cfg = _config(tmp_path, bot_database_url, "zh")
    assert await _cli("roster", "import", str(roster), "--config", str(cfg)) == 1
    captured = capsys.readouterr()
    assert "未导入：新增 2 人，更新 0 人，不变 0 人，停用 0 人，错误行 1 行" in captured.out
    assert "not imported" not in captured.out
    # The duplicate names the earlier row's line.
    assert f"{roster}:4: 与前面的行重复：张三 (2)（括号里是前面那一行的行号）" in captured.err
    assert "请改正后重试，或加 --skip-bad-rows" in captured.err
    assert await _cli("roster", "import", str(roster), "--config", str(cfg), "--skip-bad-rows") == 0
    assert "已导入：新增 2 人" in capsys.readouterr().out
    # A dry run against the stored roster compares with it (and still writes nothing).
    assert (
        await _cli(
            "roster", "import", str(roster), "--config", str(cfg), "--dry-run", "--skip-bad-rows"
        )
        == 0
    )
    assert "将导入：新增 0 人，更新 0 人，不变 2 人" in capsys.readouterr().out
    cfg = _config(tmp_path, bot_database_url, "en")
    assert (
        await _cli(
            "roster", "import", str(roster), "--config", str(cfg), "--dry-run", "--skip-bad-rows"
        )
        == 0
    )
    assert "would import: 0 new, 0 updated, 2 unchanged" in capsys.readouterr().out


def test_a_summary_for_a_quarter_gets_the_command_lines_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    out = tmp_path / "s.docx"
    assert main(["summary", "--config", str(cfg), "--period", "2026-Q4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "/summary" not in err and "&lt;" not in err
    assert "usage: branchbot summary --period" in err and "'2026-Q4'" in err
    assert not out.exists() and not (tmp_path / "c.db").exists()


def test_config_check_warns_about_an_empty_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert main(["config", "check", "--config", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert "telegram.token" in captured.err and "branchbot run" in captured.err
    assert "telegram.token" in captured.out


def test_every_configuration_problem_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {
        "telegram": {"tokn": "x", "mode": "pull"},
        "organisation": {"timezone": "Mars/Olympus", "language": "fr"},
        "webhook": {"port": 0},
        "meetings": {"count_from": "someday"},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    keys = [key for key, _ in info.value.problems]
    assert keys == [
        "telegram.tokn",
        "telegram.mode",
        "organisation.language",
        "organisation.timezone",
        "webhook.port",
        "meetings.count_from",
    ]
    # The first is still the error's own key and problem.
    assert info.value.key == "telegram.tokn" and info.value.problem == "unknown key"
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[organisation]\ntimezone = "Nowhere/City"\n[webhook]\nport = 0\n', encoding="utf-8"
    )
    assert main(["config", "check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in err] == [
        "organisation.timezone",
        "webhook.port",
    ]
