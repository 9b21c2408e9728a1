"""Reports through the bot: /export sends the XLSX, /stats a text and a chart, /summary a DOCX
and its Markdown; all within the caller's scope."""

from __future__ import annotations

import io
import re

from docx import Document
from openpyxl import load_workbook

from tests.handlers.conftest import Harness
from tests.scenario import NOW, build_scenario

SECRETARY = 10


async def scenario(harness: Harness) -> None:
    await build_scenario(harness.deps.db, harness.deps.org_id)
    harness.set_now(NOW)


async def test_export_sends_the_ledger_as_xlsx(harness: Harness) -> None:
    await scenario(harness)
    (reply,) = await harness.send(SECRETARY, "/export 2026-H2")
    assert reply.document_name == "台账-第一支部-2026-H2.xlsx"
    assert "台账：第一支部，2026-H2" in (reply.caption or "")
    assert reply.document_bytes is not None
    workbook = load_workbook(io.BytesIO(reply.document_bytes))
    names = [r[1] for r in workbook["党员"].iter_rows(min_row=2, values_only=True)]
    assert names == ["书记", "张三", "李四", "王五"]
    assert "看不懂期间" in await harness.say(SECRETARY, "/export 2026-H3")
    assert "用法" in await harness.say(SECRETARY, "/export 2026 2025")
    assert "超出" in await harness.say(SECRETARY, "/export #第二支部")
    assert "权限" in await harness.say(1, "/export")


async def test_stats_sends_the_figures_and_a_chart(harness: Harness) -> None:
    await scenario(harness)
    replies = await harness.send(SECRETARY, "/stats 2026-H2")
    text = replies[0].text or ""
    assert "知晓率（已确认/已推送）：3/8（38%）" in text
    assert "出席率 支部党员大会：2/4（50%）" in text
    assert "志愿服务：1 次活动，1 人参加，共 2.00 小时" in text
    assert "第一支部/第一党小组：3/6（50%） / 2/3（67%） / 2.00 小时" in text
    assert replies[-1].photo_bytes and replies[-1].photo_bytes.startswith(b"\x89PNG")


async def test_summary_sends_a_docx_and_markdown(harness: Harness) -> None:
    await scenario(harness)
    docx, md = await harness.send(SECRETARY, "/summary 2026-H2")
    assert docx.document_name == "工作总结-第一支部-2026-H2.docx"
    assert docx.document_bytes is not None and md.document_bytes is not None
    paragraphs = [p.text for p in Document(io.BytesIO(docx.document_bytes)).paragraphs]
    assert paragraphs[0] == "第一支部2026年下半年党建工作总结（初稿）"
    assert "累计服务 2.00 小时" in md.document_bytes.decode()
    assert "用法" in await harness.say(SECRETARY, "/summary")
    assert "用法" in await harness.say(SECRETARY, "/summary 2026-Q4")


async def test_dashboard_sends_a_single_use_link_when_it_is_on(harness: Harness) -> None:
    from dataclasses import replace

    from sqlalchemy import select

    from storage.models import DashboardLink

    await scenario(harness)
    assert "没有开启" in await harness.say(1, "/dashboard")
    config = harness.deps.config
    on = replace(config.dashboard, enabled=True, public_url="https://party.example.org")
    object.__setattr__(harness.deps, "config", replace(config, dashboard=on))
    reply = await harness.say(1, "/dashboard")
    match = re.search(r"https://party\.example\.org/dashboard/login\?t=([\w-]+)", reply)
    assert match and "10 分钟内有效，只能使用一次" in reply
    async with harness.deps.db.read() as session:
        link = await session.scalar(select(DashboardLink))
    # Only a hash of the token is kept.
    assert link is not None and match[1] not in link.token_hash and len(link.token_hash) == 64
    assert "权限" not in reply
