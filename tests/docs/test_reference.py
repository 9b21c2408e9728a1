"""docs/ cannot go stale: every chat command (bot/auth.py's COMMANDS) is in docs/reference.md
under its role, every configuration key (bot/config.py) with the code's default, every command
line command; every link in the README and docs/ resolves inside the repository, and every
picture exists and is small."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from bot.auth import COMMANDS, Access
from bot.cli import _parser
from bot.config import Config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
README = ROOT / "README.md"
MAX_PICTURE_BYTES = 200_000

SECTION_OF_ACCESS = {
    Access.PUBLIC: "Anyone",
    Access.MEMBER: "Members",
    Access.GROUP_LEADER: "Group leaders",
    Access.SECRETARY: "Secretaries",
    Access.ADMIN: "Admins",
}


def _part(text: str, heading: str) -> str:
    """The text under `heading` (a line as written, `## …`) up to the next heading of its level
    or above."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n") + len(heading) + 1
    stop = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE).search(text, start)
    return text[start : stop.start() if stop else len(text)]


def _rows(text: str) -> list[list[str]]:
    """The cells of every table row (header and rule lines left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return rows[1:] if rows else rows


def _written(name: str) -> str:
    return "/holidays import" if name == "holidays_import" else f"/{name}"


def _reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_every_chat_command_is_listed_under_the_least_role_that_may_use_it() -> None:
    commands = _part(_reference(), "## Chat commands by role")
    for command in COMMANDS:
        section = _part(commands, f"### {SECTION_OF_ACCESS[command.access]}")
        firsts = [row[0] for row in _rows(section)]
        starts = re.compile("`" + re.escape(_written(command.name)) + r"(?=[ `])")
        assert any(starts.match(cell) for cell in firsts), (
            f"{_written(command.name)} is not a row of '### {SECTION_OF_ACCESS[command.access]}'"
        )


def test_the_reference_lists_no_command_the_bot_does_not_have() -> None:
    commands = _part(_reference(), "## Chat commands by role")
    buttons = _part(commands, "### Buttons")
    known = {_written(c.name) for c in COMMANDS}
    for row in _rows(commands.replace(buttons, "")):
        for found in re.findall(r"`(/\w+(?: import)?)", row[0]):
            assert found in known, f"docs/reference.md lists {found}, which COMMANDS has not"


def _shown(value: Any) -> list[str]:
    """How a default may be written in the table."""
    if isinstance(value, bool):
        return ["`true`" if value else "`false`"]
    if isinstance(value, str):
        return [f"`{value}`"] if value else ["(empty"]
    if isinstance(value, tuple):
        return ["`[" + ", ".join(str(v) for v in value) + "]`"]
    if isinstance(value, float):
        return [f"`{value}`", f"`{value:g}`"]
    return [f"`{value}`"]


def _keys() -> list[tuple[str, Any]]:
    config = Config()
    return [
        (f"{section.name}.{key.name}", getattr(getattr(config, section.name), key.name))
        for section in fields(Config)
        for key in fields(getattr(config, section.name))
    ]


def test_every_configuration_key_is_listed_with_the_codes_default() -> None:
    table = _rows(_part(_reference(), "### Every key"))
    for key, default in _keys():
        rows = [row for row in table if f"`{key}`" in row[0]]
        assert rows, f"{key} is not in the table of docs/reference.md"
        assert any(shown in rows[0][1] for shown in _shown(default)), (
            f"{key}: the default {default!r} is not shown in {rows[0][1]!r}"
        )


def test_the_reference_lists_no_configuration_key_the_code_does_not_read() -> None:
    known = {key for key, _ in _keys()}
    for row in _rows(_part(_reference(), "### Every key")):
        for key in re.findall(r"`([a-z_]+\.[a-z_]+)`", row[0]):
            assert key in known, f"docs/reference.md lists {key}, which bot/config.py has not"


def _cli_commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _cli_commands(sub, f"{prefix} {name}")
                found += nested or [f"{prefix} {name}"]
    return found


def test_every_command_line_command_is_listed() -> None:
    table = [row[0] for row in _rows(_part(_reference(), "## The command line"))]
    commands = _cli_commands(_parser(), "branchbot")
    assert "branchbot roster import" in commands
    for command in commands:
        assert any(cell.startswith(f"`{command}") for cell in table), f"{command} is not listed"


def _documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    text = document.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {_slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.is_relative_to(ROOT), f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{document.name}: no heading for {target}"


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.name)
def test_every_picture_exists_and_is_small(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        picture = document.parent / target
        assert picture.exists(), f"{document.name}: {target} is missing"
        assert picture.stat().st_size <= MAX_PICTURE_BYTES, f"{target} is over 200 KB"


def test_the_readme_installs_as_ci_does() -> None:
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    demo = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/branchbot demo"
    dev = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/pytest'
    assert demo in readme and dev in readme
    assert 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"' in ci
    assert "apt-get install -y fonts-wqy-microhei chromium" in readme
