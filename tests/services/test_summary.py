"""The half-year summary's figures against the known scenario, in Markdown and in DOCX."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from docx import Document

from bot.cli import main
from bot.errors import Invalid
from bot.services import ledger, summary
from storage.db import Database
from tests.scenario import NOW, Scenario, build_scenario
from tests.services.test_ledger import _scenario_file


@pytest.fixture
async def scenario(db: Database, org_id: int) -> Scenario:
    return await build_scenario(db, org_id)


async def draft(scenario: Scenario, period: str = "2026-H2") -> summary.Summary:
    deps = scenario.deps
    async with deps.db.read() as session:
        _, _, result = await summary.summary_for(
            session,
            deps.meetings,
            scenario.secretary.actor(),
            period,
            None,
            "测试局机关党委",
            now=NOW,
        )
    return result


FIGURES = (
    "本期在册党员 4 名，已绑定机器人 4 名。",
    "推送理论学习内容 1 次，应学习 4 人次，已学习 2 人次，学习完成率 50%。",
    "发送廉政提醒 1 次，应阅 4 人次，已阅 1 人次，已阅率 25%。",
    "知晓率（已确认/已推送）38%。",
    "召开会议 1 次。支部党员大会出席率 50%；",
    "开展志愿服务活动 1 次，参与党员 1 名，累计服务 2.00 小时。",
    "已确认收缴党费 50.00 元（1 人次），已报待确认 0 人次。",
    "布置任务 1 项，已完成 1 项，进行中 0 项，逾期 0 项。",
    "以下党员学习和廉政提醒确认率偏低：书记（第一支部）、王五（第一支部）。",
)


async def test_the_figures_come_from_the_records(scenario: Scenario) -> None:
    result = await draft(scenario)
    assert result.title == "第一支部2026年下半年党建工作总结（初稿）"
    text = summary.markdown(result)
    for figure in FIGURES:
        assert figure in text, figure
    assert "| 支部 | 支部党员大会 |" in text and "| 第一支部 | 1 |" in text
    assert "以下组织生活未按期召开：" in text and "第一支部 支部委员会" in text


async def test_the_docx_says_the_same(scenario: Scenario) -> None:
    result = await draft(scenario)
    document = Document(io.BytesIO(summary.docx_bytes(result)))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    assert result.title in paragraphs
    for figure in FIGURES:
        assert figure in paragraphs, figure
    (table,) = document.tables
    assert [[c.text for c in row.cells] for row in table.rows] == [
        ["支部", "支部党员大会"],
        ["第一支部", "1"],
    ]


async def test_only_a_half_year_or_a_year(scenario: Scenario) -> None:
    assert (await draft(scenario, "2026")).title.startswith("第一支部2026年党建")
    for period in ("2026-Q4", "2026-12"):
        with pytest.raises(Invalid) as refused:
            await draft(scenario, period)
        assert refused.value.key == "summary.usage"


def test_the_command_line_writes_docx_and_markdown(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_scenario_file(url))
    config = tmp_path / "branchbot.toml"
    config.write_text(
        f'[organisation]\nname = "测试局机关党委"\n[database]\nurl = "{url}"\n', encoding="utf-8"
    )
    out = tmp_path / "report" / "h2.docx"
    assert main(["summary", "--config", str(config), "--period", "2026-H2", "--out", str(out)]) == 0
    notes = out.with_suffix(".md").read_text(encoding="utf-8")
    # The whole organisation: both branches' members.
    assert "测试局机关党委2026年下半年党建工作总结（初稿）" in notes and "在册党员 5 名" in notes
    assert Document(str(out)).paragraphs[0].text.startswith("测试局机关党委")
    assert main(["summary", "--config", str(config), "--period", "2026-Q4", "--out", str(out)]) == 2


async def test_the_summary_read_a_row_at_a_time_says_the_same(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = summary.markdown(await draft(scenario))
    monkeypatch.setattr(ledger, "BATCH", 1)
    assert summary.markdown(await draft(scenario)) == whole
    assert "王五（第一支部）" in whole  # the problems section, from the study and reminder rows
