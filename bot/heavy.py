"""The heavy work itself, as a worker process does it (see bot/background.py): the ledger as
XLSX, the draft work report, the statistics chart, a roster upload's preview and its import.

Each reads through its own database engine, checks the requester's role again (it may have
changed since the request), writes its files into the work's folder and returns what to send,
already rendered in the requester's language. A refusal is raised as the service's DomainError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, authorize
from bot.background import (
    Document,
    Message,
    Outcome,
    Photo,
    Work,
    load_progress,
    save_progress,
)
from bot.delivery import QuietHours
from bot.services import charts, export_files, ledger, roster, stats, summary
from bot.services.items import PushSettings
from bot.services.meetings import MeetingSettings
from bot.services.members import actor_by_id
from bot.services.roster import ImportReport, Tally, UploadPreview
from bot.texts import join_names, plain, t
from storage.db import Database

# Rows of errors or names shown in a chat message before the rest are only counted.
SHOW_ROWS = 15


def meeting_settings(work: Work) -> MeetingSettings:
    cfg = work.config
    tz = cfg.organisation.tz
    push = PushSettings(
        org_id=work.org_id,
        default_language=cfg.organisation.language,
        tz=tz,
        quiet=QuietHours.from_config(cfg.delivery, tz),
        followup=cfg.followup,
    )
    return MeetingSettings(push, cfg.meetings)


async def _actor(db: Database, work: Work, command: str) -> Actor:
    """The dashboard's session as checked by its page; a job's requester as they are now."""
    if work.actor is not None:
        return work.actor
    assert work.requester_member_id is not None
    async with db.read() as session:
        actor = await actor_by_id(
            session, work.requester_member_id, work.config.organisation.language
        )
    authorize(actor, command)
    assert actor is not None
    return actor


def _file(work: Work, data: bytes, suffix: str) -> str:
    """A file in the work's folder; its name for the reader travels beside it."""
    path = Path(work.workdir) / f"{len(list(Path(work.workdir).iterdir()))}{suffix}"
    path.write_bytes(data)
    return str(path)


def _period_and_branch(work: Work) -> tuple[str | None, str | None]:
    return work.params.get("period"), work.params.get("branch")


async def export(db: Database, work: Work) -> Outcome:
    actor = await _actor(db, work, "export")
    lang = work.language
    async with db.read() as session:
        found = await ledger.open_ledger(
            session,
            work.org_id,
            work.config.organisation.tz,
            actor,
            *_period_and_branch(work),
            now=work.now,
        )
        # Read and written slice by slice: the worker's memory stays flat.
        data, rows = await export_files.xlsx_from(found.sheets)
    caption = t(
        lang,
        "export.caption",
        scope=found.scope.label or t(lang, "export.everyone"),
        period=found.period.label(lang),
        rows=rows,
    )
    name = f"{ledger.file_stem(found.scope, found.period)}.xlsx"
    return Outcome([Document(_file(work, data, ".xlsx"), name, caption)])


async def summary_files(db: Database, work: Work) -> Outcome:
    actor = await _actor(db, work, "summary")
    async with db.read() as session:
        scope, period, draft = await summary.summary_for(
            session,
            meeting_settings(work),
            actor,
            *_period_and_branch(work),
            work.config.organisation.name,
            now=work.now,
        )
    stem = summary.file_stem(scope, period)
    caption = t(work.language, "summary.caption", title=draft.title)
    return Outcome(
        [
            Document(_file(work, summary.docx_bytes(draft), ".docx"), f"{stem}.docx", caption),
            Document(_file(work, summary.markdown(draft).encode(), ".md"), f"{stem}.md"),
        ]
    )


async def stats_chart(db: Database, work: Work) -> Outcome:
    actor = await _actor(db, work, "stats")
    async with db.read() as session:
        result = await stats.build(
            session, meeting_settings(work), actor, *_period_and_branch(work), now=work.now
        )
    titles = charts.titles_for(work.language, result.period.key)
    return Outcome([Photo(_file(work, charts.stats_png(result, titles), ".png"))])


# ---------------------------------------------------------------- the roster


def _keyboard(lang: str, rows: Sequence[Sequence[tuple[str, str]]]) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": plain(t(lang, key)), "callback_data": data} for key, data in row]
            for row in rows
        ]
    }


def errors_block(lang: str, report: ImportReport) -> list[str]:
    if not report.errors:
        return []
    lines = ["", t(lang, "import.errors_title", count=len(report.errors))]
    for err in report.errors[:SHOW_ROWS]:
        reason = t(lang, f"roster_err.{err.reason}", value=err.value)
        lines.append(t(lang, "import.error_row", line=err.line, reason=reason))
    if len(report.errors) > SHOW_ROWS:
        lines.append(t(lang, "import.errors_more", count=len(report.errors) - SHOW_ROWS))
    return lines


def committee_block(lang: str, report: ImportReport) -> list[str]:
    lines: list[str] = []
    if report.committee_joined:
        names = join_names(report.committee_joined, SHOW_ROWS, lang)
        lines.append(t(lang, "import.committee_joined", names=names))
    if report.committee_left:
        names = join_names(report.committee_left, SHOW_ROWS, lang)
        lines.append(t(lang, "import.committee_left", names=names))
    return lines


def preview_message(lang: str, file_name: str, preview: UploadPreview) -> Message:
    report = preview.report
    none = t(lang, "none")
    lines = [
        t(
            lang,
            "import.preview",
            file=file_name,
            created=len(report.created),
            updated=len(report.updated),
            unchanged=report.unchanged,
            branches=join_names(report.new_branches, SHOW_ROWS, lang) or none,
            groups=join_names(report.new_groups, SHOW_ROWS, lang) or none,
        ),
        *committee_block(lang, report),
        *errors_block(lang, report),
    ]
    text = "\n".join(lines)
    if preview.pending_id is None:
        key = "import.refused" if report.errors else "import.nothing"
        return Message(text + "\n\n" + t(lang, key))
    first = (
        ("import.skip_bad", f"imp:skip:{preview.pending_id}")
        if report.errors
        else ("import.confirm", f"imp:ok:{preview.pending_id}")
    )
    return Message(
        text, _keyboard(lang, [[first, ("import.cancel", f"imp:no:{preview.pending_id}")]])
    )


async def roster_preview(db: Database, work: Work) -> Outcome:
    """The whole file is parsed and checked here, before any write; the existing members of the
    file's branches are read in one query; the upload is kept for the buttons in one short
    write."""
    actor = await _actor(db, work, "import")
    assert work.data is not None
    file_name = str(work.params.get("file_name") or "roster.csv")
    preview = await roster.preview_upload(db, work.org_id, actor, file_name, work.data)
    return Outcome([preview_message(work.language, file_name, preview)])


class JobCheckpoint:
    """A roster import's tally, kept on its job's row in each batch's own transaction: an
    attempt that lost the job's lease cannot commit another batch."""

    def __init__(self, db: Database, job_id: int, lease_token: str) -> None:
        self.db = db
        self.job_id = job_id
        self.lease_token = lease_token

    async def load(self) -> Tally:
        return Tally.from_json(await load_progress(self.db, self.job_id))

    async def save(self, session: AsyncSession, tally: Tally) -> None:
        await save_progress(session, self.job_id, self.lease_token, tally.to_json())


async def roster_apply(db: Database, work: Work) -> Outcome:
    actor = await _actor(db, work, "import")
    lang = work.language
    async with db.read() as session:
        scope = await roster.scope_for(session, actor)
    checkpoint = (
        JobCheckpoint(db, work.job_id, work.lease_token)
        if work.job_id is not None and work.lease_token is not None
        else None
    )
    report = await roster.apply_upload(
        db,
        work.org_id,
        int(work.params["pending_id"]),
        scope,
        invite_days=work.config.invites.valid_days,
        skip_bad_rows=bool(work.params.get("skip")),
        checkpoint=checkpoint,
    )
    if not report.applied:
        # The roster changed since the preview and the file no longer applies cleanly.
        text = "\n".join([t(lang, "import.refused"), *errors_block(lang, report)])
    else:
        text = t(
            lang,
            "import.done",
            created=report.totals.created,
            updated=report.totals.updated,
            unchanged=report.unchanged,
            skipped=len(report.errors),
        )
    changed = report.access_changed if report.applied else []
    return Outcome([Message(text)], menu_members=changed)


KINDS: dict[str, Callable[[Database, Work], Awaitable[Outcome]]] = {
    "export": export,
    "summary": summary_files,
    "stats_chart": stats_chart,
    "roster_preview": roster_preview,
    "roster_apply": roster_apply,
}


async def run(db: Database, work: Work) -> Outcome:
    return await KINDS[work.kind](db, work)
