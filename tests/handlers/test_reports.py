"""Reports through the bot: /export sends the XLSX, /stats a text and a chart, /summary a DOCX
and its Markdown; all within the caller's scope. The files are made in the background: the
command is answered at once, and the file arrives when the runner has done the work."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot import background, heavy
from storage.models import BackgroundJob, Member, Role
from tests.handlers.conftest import Harness
from tests.scenario import NOW, build_scenario

SECRETARY = 10


async def scenario(harness: Harness) -> None:
    await build_scenario(harness.deps.db, harness.deps.org_id)
    harness.set_now(NOW)


def chat_actions(harness: Harness) -> list[str]:
    return [str(c.params.get("action")) for c in harness.sandbox.calls_to("sendChatAction")]


async def jobs(harness: Harness) -> list[BackgroundJob]:
    async with harness.deps.db.read() as session:
        return list((await session.scalars(select(BackgroundJob))).all())


async def test_export_answers_at_once_and_the_ledger_follows(harness: Harness) -> None:
    await scenario(harness)
    (ack,) = await harness.send(SECRETARY, "/export 2026-H2")
    assert "正在生成台账（第一支部，2026-H2）" in (ack.text or "")
    assert chat_actions(harness) == ["upload_document"]
    assert await harness.run_jobs() == 1
    reply = harness.sandbox.messages_to(SECRETARY)[-1]
    assert reply.document_name == "台账-第一支部-2026-H2.xlsx"
    assert "台账：第一支部，2026-H2" in (reply.caption or "")
    assert reply.document_bytes is not None
    workbook = load_workbook(io.BytesIO(reply.document_bytes))
    names = [r[1] for r in workbook["党员"].iter_rows(min_row=2, values_only=True)]
    assert names == ["书记", "张三", "李四", "王五"]
    [job] = await jobs(harness)
    assert (job.status, job.attempts, job.dedupe_key) == ("done", 1, None)


async def test_export_refusals_are_answered_at_once_and_queue_nothing(harness: Harness) -> None:
    await scenario(harness)
    assert "看不懂期间" in await harness.say(SECRETARY, "/export 2026-H3")
    assert "用法" in await harness.say(SECRETARY, "/export 2026 2025")
    assert "超出" in await harness.say(SECRETARY, "/export #第二支部")
    assert "权限" in await harness.say(1, "/export")
    assert await jobs(harness) == []


async def test_a_second_export_while_one_is_pending_queues_nothing(harness: Harness) -> None:
    await scenario(harness)
    await harness.send(SECRETARY, "/export 2026-H2")
    # The same request in other words: the default branch is the secretary's own.
    again = await harness.say(SECRETARY, "/export 2026-H2 #第一支部")
    assert "上一个台账请求还在处理中" in again
    assert len(await jobs(harness)) == 1
    # Another period is another request.
    await harness.send(SECRETARY, "/export 2026-Q4")
    assert len(await jobs(harness)) == 2
    assert await harness.run_jobs() == 2
    documents = [m for m in harness.sandbox.messages_to(SECRETARY) if m.document_name]
    assert [d.document_name for d in documents] == [
        "台账-第一支部-2026-H2.xlsx",
        "台账-第一支部-2026-Q4.xlsx",
    ]
    # Done: asking again makes a new one.
    assert "正在生成台账" in await harness.say(SECRETARY, "/export 2026-H2")


async def test_an_interrupted_job_runs_again_and_delivers_one_document(harness: Harness) -> None:
    await scenario(harness)
    await harness.send(SECRETARY, "/export 2026-H2")
    # A runner claims the job and dies (a crash, a restart) before it finishes.
    [claimed] = await harness.runner().claim(1)
    assert claimed.attempts == 1
    # While the lease lasts nobody else takes it.
    assert await harness.run_jobs(NOW + timedelta(seconds=30)) == 0
    # Once it ran out, the job is taken again and done once.
    assert await harness.run_jobs(NOW + timedelta(minutes=2)) == 1
    documents = [m for m in harness.sandbox.messages_to(SECRETARY) if m.document_name]
    assert len(documents) == 1
    [job] = await jobs(harness)
    assert (job.status, job.attempts) == ("done", 2)
    # A done job is never run again, however late it gets.
    assert await harness.run_jobs(NOW + timedelta(days=2)) == 0
    assert len([m for m in harness.sandbox.messages_to(SECRETARY) if m.document_name]) == 1


async def test_the_attempt_that_lost_its_lease_cannot_finish_the_job(harness: Harness) -> None:
    await scenario(harness)
    await harness.send(SECRETARY, "/export 2026-H2")
    [stale] = await harness.runner().claim(1)
    [fresh] = await harness.runner(NOW + timedelta(minutes=2)).claim(1)
    assert fresh.id == stale.id and fresh.lease_token != stale.lease_token
    db = harness.deps.db
    assert not await background.renew(db, stale, until=NOW + timedelta(hours=1))
    assert not await background.finish(db, stale, now=NOW)
    assert await background.finish(db, fresh, now=NOW)


async def test_a_job_that_keeps_failing_tells_the_requester_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scenario(harness)

    async def broken(db: object, work: object) -> background.Outcome:
        raise RuntimeError("disk full")

    monkeypatch.setitem(heavy.KINDS, "export", broken)
    await harness.send(SECRETARY, "/export 2026-H2")
    before = len(harness.sandbox.messages_to(SECRETARY))
    assert await harness.run_jobs() == 1
    # Retried after a pause, not at once.
    assert await harness.run_jobs() == 0
    assert await harness.run_jobs(NOW + timedelta(minutes=1)) == 1
    assert await harness.run_jobs(NOW + timedelta(minutes=5)) == 1
    told = [m.text or "" for m in harness.sandbox.messages_to(SECRETARY)[before:]]
    assert told == ["抱歉，台账没有完成，请稍后再试。"]
    [job] = await jobs(harness)
    assert (job.status, job.attempts) == ("failed", background.MAX_ATTEMPTS)
    assert "disk full" in (job.error or "")
    assert await harness.run_jobs(NOW + timedelta(days=1)) == 0


async def test_the_role_is_checked_again_when_the_work_is_done(harness: Harness) -> None:
    await scenario(harness)
    await harness.send(SECRETARY, "/export 2026-H2")
    async with harness.deps.db.write() as session:
        await session.execute(
            update(Member).where(Member.telegram_user_id == SECRETARY).values(role=Role.MEMBER)
        )
        await session.commit()
    assert await harness.run_jobs() == 1
    last = harness.sandbox.messages_to(SECRETARY)[-1]
    assert last.document_name is None and "权限" in (last.text or "")
    [job] = await jobs(harness)
    assert job.status == "failed"


async def test_stats_sends_the_figures_at_once_and_the_chart_follows(harness: Harness) -> None:
    await scenario(harness)
    replies = await harness.send(SECRETARY, "/stats 2026-H2")
    text = replies[0].text or ""
    assert "知晓率（已确认/已推送）：3/8（38%）" in text
    assert "出席率 支部党员大会：2/4（50%）" in text
    assert "志愿服务：1 次活动，1 人参加，共 2.00 小时" in text
    assert "第一支部/第一党小组：3/6（50%） / 2/3（67%） / 2.00 小时" in text
    assert all(r.photo_bytes is None for r in replies)
    assert chat_actions(harness) == ["upload_photo"]
    assert await harness.run_jobs() == 1
    chart = harness.sandbox.messages_to(SECRETARY)[-1]
    assert chart.photo_bytes and chart.photo_bytes.startswith(b"\x89PNG")


async def test_summary_answers_at_once_and_the_docx_and_markdown_follow(harness: Harness) -> None:
    await scenario(harness)
    (ack,) = await harness.send(SECRETARY, "/summary 2026-H2")
    assert "正在生成工作总结初稿（第一支部，2026-H2）" in (ack.text or "")
    assert chat_actions(harness) == ["upload_document"]
    assert await harness.run_jobs() == 1
    docx, md = harness.sandbox.messages_to(SECRETARY)[-2:]
    assert docx.document_name == "工作总结-第一支部-2026-H2.docx"
    assert "党建工作总结（初稿）" in (docx.caption or "")
    assert docx.document_bytes is not None and md.document_bytes is not None
    paragraphs = [p.text for p in Document(io.BytesIO(docx.document_bytes)).paragraphs]
    assert paragraphs[0] == "第一支部2026年下半年党建工作总结（初稿）"
    assert "累计服务 2.00 小时" in md.document_bytes.decode()
    assert "用法" in await harness.say(SECRETARY, "/summary")
    assert "用法" in await harness.say(SECRETARY, "/summary 2026-Q4")
    assert len(await jobs(harness)) == 1


async def test_the_work_runs_in_a_real_worker_process(harness: Harness) -> None:
    await scenario(harness)
    await harness.send(SECRETARY, "/export 2026-H2")
    await harness.send(SECRETARY, "/summary 2026")
    pool = background.ProcessPool(1)
    try:
        assert await harness.run_jobs(executor=pool) == 2
    finally:
        pool.close()
    names = [m.document_name for m in harness.sandbox.messages_to(SECRETARY) if m.document_name]
    assert names == [
        "台账-第一支部-2026-H2.xlsx",
        "工作总结-第一支部-2026.docx",
        "工作总结-第一支部-2026.md",
    ]


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
