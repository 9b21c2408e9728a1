"""After and around the meeting: minutes (会议记录), /meetings and /attendance."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import CommandHandler, filters

from bot.auth import authorize
from bot.services import meetings
from bot.texts import Raw, list_separator
from handlers.common import App, Call, Deps, guarded, id_arg, split_word
from handlers.dialogs import dialog, ending, open_dialog

# Final outcomes first, then the answers of a meeting that has not closed.
_ORDER = ("attended", "late", "leave", "absent", "attend", "none")


async def minutes(call: Call) -> None:
    assert call.actor is not None
    meeting_id = id_arg(call)
    if meeting_id is None:
        await call.reply(call.t("minutes.usage"))
        return
    text = split_word(call.rest)[1]
    if text:
        await _save_minutes(call, meeting_id, text=text)
        return
    async with call.deps.db.read() as session:
        meeting, _ = await meetings.meeting_detail(session, call.actor, meeting_id)
    await open_dialog(call, MinutesDialog(meeting_id))
    await call.reply(call.t("minutes.prompt", title=meeting.title))


async def _save_minutes(
    call: Call,
    meeting_id: int,
    *,
    text: str | None = None,
    file_id: str | None = None,
    file_name: str | None = None,
    in_dialog: bool = False,
) -> None:
    assert call.actor is not None
    deps = call.deps
    # Asked for in a dialog, the minutes end it in the transaction that keeps them.
    async with ending(call) if in_dialog else deps.db.write() as session:
        saved = await meetings.attach_minutes(
            session,
            deps.meetings,
            call.actor,
            meeting_id,
            now=deps.now(),
            text=text,
            file_id=file_id,
            file_name=file_name,
        )
    deps.outbox_ready.set()
    reply = call.t("minutes.saved", id=saved.meeting_id, title=saved.title)
    if saved.sent_to:
        reply = Raw(reply + "\n" + call.t("minutes.sent", count=saved.sent_to))
    await call.reply(reply)


@dialog("minutes")
@dataclass
class MinutesDialog:
    meeting_id: int

    async def on_message(self, call: Call) -> bool:
        authorize(call.actor, "minutes")
        message = call.update.effective_message
        assert message is not None
        if message.document is not None:
            await _save_minutes(
                call,
                self.meeting_id,
                text=message.caption or None,
                file_id=message.document.file_id,
                file_name=message.document.file_name,
                in_dialog=True,
            )
            return True
        if message.text:
            await _save_minutes(call, self.meeting_id, text=message.text, in_dialog=True)
            return True
        # A photo cannot go out with the make-up as a document; ask for it as a file.
        await call.reply(call.t("minutes.prompt_again"))
        return False


async def meetings_command(call: Call) -> None:
    assert call.actor is not None
    deps = call.deps
    async with deps.db.read() as session:
        upcoming, recent = await meetings.list_meetings(
            session, deps.meetings, call.actor, now=deps.now()
        )
    if not upcoming and not recent:
        await call.reply(call.t("meetings.none"))
        return
    lines: list[str] = []
    for key, summaries in (("meetings.upcoming", upcoming), ("meetings.recent", recent)):
        if not summaries:
            continue
        lines.append(call.t(key))
        for s in summaries:
            lines.append(
                call.t(
                    "meetings.row",
                    id=s.id,
                    kind=call.t(f"kind.{s.kind}"),
                    title=s.title,
                    when=call.local(s.starts_at, "%m-%d %H:%M"),
                    status=call.t(f"meeting.status_{s.status}"),
                    invited=s.invited,
                    attending=s.attending,
                    leave=s.leave,
                    checked_in=s.checked_in,
                )
            )
    await call.reply_long(lines)


async def attendance_command(call: Call) -> None:
    meeting_id = id_arg(call)
    if meeting_id is None or len(call.args) != 1:
        await call.reply(call.t("attendance.usage"))
        return
    await show_attendance(call, meeting_id)


async def show_attendance(call: Call, meeting_id: int) -> None:
    assert call.actor is not None
    async with call.deps.db.read() as session:
        view = await meetings.attendance(session, call.actor, meeting_id)
    meeting = view.meeting
    tz = call.deps.config.organisation.tz
    counts: dict[str, int] = {}
    lines: list[str] = []
    for row in view.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
        line: str = call.t(
            "attendance.row", name=row.name, status=call.t(f"attendance.{row.status}")
        )
        if row.checked_in_at is not None:
            line += call.t("attendance.at", when=call.local(row.checked_in_at, "%H:%M"))
        if row.reason:
            line += call.t("attendance.reason", reason=row.reason)
        if row.made_up_at is not None:
            line += call.t("attendance.made_up", when=call.local(row.made_up_at, "%m-%d"))
        lines.append(line)
    summary = list_separator(call.lang).join(
        f"{call.t(f'attendance.{status}')} {counts[status]}"
        for status in _ORDER
        if status in counts
    )
    header = "\n".join(
        [
            f"#{meeting.id} " + meetings.describe(meeting, call.lang, tz),
            call.t(f"meeting.status_{meeting.status}"),
            call.t("attendance.summary", total=len(view.rows), summary=summary),
        ]
    )
    await call.reply_long(lines, header=header)


def register(app: App, deps: Deps) -> None:
    private = filters.ChatType.PRIVATE
    for name, handler in (
        ("meetings", meetings_command),
        ("attendance", attendance_command),
        ("minutes", minutes),
    ):
        app.add_handler(CommandHandler(name, guarded(deps, name, handler), filters=private))
