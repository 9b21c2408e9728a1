"""Posting study items (理论学习): the one-line /study form and the guided dialog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import authorize
from bot.errors import Denied, Invalid
from bot.services import items
from bot.services.audience import Audience, default_audience, resolve_audience
from bot.services.items import KIND_STUDY, Draft
from bot.services.periods import MAX_YEAR
from bot.texts import Raw
from handlers.common import App, Call, Deps, buttons, guarded, guarded_button
from handlers.dialogs import close_dialog, dialog, dialog_buttons, ending, open_dialog
from storage.models import Branch, Group, Role

_URL = re.compile(r"^https?://\S+$")
_DEADLINE = re.compile(r"^(?:截止|due)\s*[:：]?\s*(\S+)$", re.IGNORECASE)
_AT = re.compile(r"^(?:定时|at)\s*[:：]?\s*(.+)$", re.IGNORECASE)
DEADLINE_CHOICES = (0, 3, 7, 14)
MAX_AUDIENCE_BUTTONS = 8


def parse_deadline(text: str, today: date, tz: ZoneInfo) -> datetime:
    """A date means the end of that day in the organisation's zone."""
    try:
        day = date.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        raise Invalid("study.bad_deadline", value=text) from None
    if day < today or day.year > MAX_YEAR:
        raise Invalid("study.bad_deadline", value=text)
    return datetime.combine(day, time(23, 59), tzinfo=tz)


def parse_publish_time(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    try:
        local = datetime.strptime(text.strip().replace("/", "-"), "%Y-%m-%d %H:%M")
    except ValueError:
        raise Invalid("study.bad_when", value=text) from None
    if local.year > MAX_YEAR:
        raise Invalid("study.bad_when", value=text)
    moment = local.replace(tzinfo=tz)
    if moment <= now:
        raise Invalid("study.bad_when", value=text)
    return moment


def audience_label(call: Call, audience: Audience) -> Raw:
    if audience.kind == "org":
        return call.t("audience.org")
    return call.t(f"audience.{audience.kind}", name=audience.label)


def _content(text: str) -> tuple[str, str | None]:
    """Plain text becomes the body; a lone URL becomes the link."""
    text = text.strip()
    return ("", text) if _URL.match(text) else (text, None)


async def _publish(
    call: Call, draft: Draft, publish_at: datetime | None, *, in_dialog: bool = False
) -> None:
    assert call.actor is not None
    deps = call.deps
    # The guided /study ends in the transaction that posts the item.
    async with ending(call) if in_dialog else deps.db.write() as session:
        posted = await items.post(
            session, deps.push, call.actor, draft, now=deps.now(), publish_at=publish_at
        )
    deps.outbox_ready.set()
    if posted.publish_at is not None:
        when = call.local(posted.publish_at)
        await call.reply(
            call.t("study.scheduled", id=posted.item_id, title=posted.title, when=when)
        )
    else:
        await call.reply(
            call.t("study.sent", id=posted.item_id, title=posted.title, count=posted.recipients)
        )


async def study(call: Call) -> None:
    assert call.actor is not None
    rest = call.rest
    if not rest:
        await open_dialog(call, StudyDialog())
        await call.reply(call.t("study.ask_title"))
        return
    parts = [p.strip() for p in rest.split("|")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        await call.reply(call.t("study.usage"))
        return
    tz = call.deps.config.organisation.tz
    now = call.deps.now()
    deadline = publish_at = None
    audience_ref = None
    for part in parts[2:]:
        if m := _DEADLINE.match(part):
            deadline = parse_deadline(m[1], now.astimezone(tz).date(), tz)
        elif m := _AT.match(part):
            publish_at = parse_publish_time(m[1], tz, now)
        elif part.startswith("#"):
            audience_ref = part
        else:
            raise Invalid("study.bad_part", part=part)
    if deadline is not None and publish_at is not None and deadline <= publish_at:
        raise Invalid("study.deadline_before_push")
    async with call.deps.db.read() as session:
        audience = await resolve_audience(session, call.deps.org_id, call.actor, audience_ref)
    body, link = _content(parts[1])
    await _publish(call, Draft(KIND_STUDY, parts[0], body, audience, link, deadline), publish_at)


@dialog("study")
@dataclass
class StudyDialog:
    """The guided /study: title and content typed, then audience, deadline and time as buttons."""

    step: str = "title"
    title: str = ""
    body: str = ""
    link: str | None = None
    document_file_id: str | None = None
    document_name: str | None = None
    deadline: datetime | None = None
    publish_at: datetime | None = None
    audience: Audience | None = None
    choices: list[Audience] = field(default_factory=list)

    def draft(self, audience: Audience) -> Draft:
        return Draft(
            KIND_STUDY,
            self.title,
            self.body,
            audience,
            self.link,
            self.deadline,
            self.document_file_id,
            self.document_name,
        )

    async def on_message(self, call: Call) -> bool:
        authorize(call.actor, "study")
        message = call.update.effective_message
        assert message is not None
        if self.step == "title":
            self.title = (message.text or "").strip()
            items.validate_draft(self.draft(Audience("org", None, "")))
            self.step = "content"
            await call.reply(call.t("study.ask_content"))
        elif self.step == "content":
            if message.document is not None:
                self.document_file_id = message.document.file_id
                self.document_name = message.document.file_name
                self.body = (message.caption or "").strip()
            elif message.text:
                self.body, self.link = _content(message.text)
            else:
                await call.reply(call.t("study.ask_content"))
                return False
            items.validate_draft(self.draft(Audience("org", None, "")))
            self.step = "audience"
            await self.ask_audience(call)
        else:
            # The later steps are buttons; a typed message gets the question again.
            await call.reply(call.t(f"study.ask_{self.step}"))
        return False

    async def ask_audience(self, call: Call) -> None:
        assert call.actor is not None
        async with call.deps.db.read() as session:
            default = await default_audience(session, call.actor)
            options = [default]
            if call.actor.role is Role.ADMIN:
                branches = await session.scalars(
                    select(Branch)
                    .where(Branch.organisation_id == call.deps.org_id)
                    .order_by(Branch.name)
                    .limit(MAX_AUDIENCE_BUTTONS - 1)
                )
                options += [Audience("branch", b.id, b.name) for b in branches]
            elif default.kind == "branch":
                groups = await session.scalars(
                    select(Group)
                    .where(Group.branch_id == default.id)
                    .order_by(Group.name)
                    .limit(MAX_AUDIENCE_BUTTONS - 1)
                )
                options += [Audience("group", g.id, f"{default.label}/{g.name}") for g in groups]
        self.choices = options
        rows = [[(audience_label(call, a), f"sd:a:{i}")] for i, a in enumerate(options)]
        await call.reply(call.t("study.ask_audience"), buttons(rows))

    async def on_button(self, call: Call, verb: str, value: int) -> str | None:
        if verb == "a" and self.step == "audience" and 0 <= value < len(self.choices):
            self.audience = self.choices[value]
            self.step = "deadline"
            rows = [
                [
                    (
                        call.t("study.btn_days", days=d) if d else call.t("study.btn_none"),
                        f"sd:d:{d}",
                    )
                    for d in DEADLINE_CHOICES
                ]
            ]
            await call.reply(call.t("study.ask_deadline"), buttons(rows))
        elif verb == "d" and self.step == "deadline" and value in DEADLINE_CHOICES:
            tz = call.deps.config.organisation.tz
            today = call.deps.now().astimezone(tz).date()
            self.deadline = (
                parse_deadline((today + timedelta(days=value)).isoformat(), today, tz)
                if value
                else None
            )
            self.step = "when"
            rows = [[(call.t("study.btn_now"), "sd:w:0"), (call.t("study.btn_tomorrow"), "sd:w:1")]]
            await call.reply(call.t("study.ask_when"), buttons(rows))
        elif verb == "w" and self.step == "when" and value in (0, 1):
            tz = call.deps.config.organisation.tz
            tomorrow = call.deps.now().astimezone(tz).date() + timedelta(days=1)
            self.publish_at = datetime.combine(tomorrow, time(8, 0), tzinfo=tz) if value else None
            self.step = "confirm"
            await self.show_preview(call)
        elif verb == "c" and self.step == "confirm":
            if value != 1:
                await close_dialog(call)
                await call.reply(call.t("study.cancelled"))
                return None
            assert self.audience is not None
            await _publish(call, self.draft(self.audience), self.publish_at, in_dialog=True)
        else:
            raise Denied("study.expired")
        return None

    async def show_preview(self, call: Call) -> None:
        assert self.audience is not None
        none = call.t("none")
        await call.reply(
            call.t(
                "study.preview",
                title=self.title,
                audience=audience_label(call, self.audience),
                deadline=call.local(self.deadline, "%Y-%m-%d") if self.deadline else none,
                when=call.local(self.publish_at) if self.publish_at else call.t("study.btn_now"),
            ),
            buttons(
                [[(call.t("study.btn_confirm"), "sd:c:1"), (call.t("study.btn_cancel"), "sd:c:0")]]
            ),
        )


def register(app: App, deps: Deps) -> None:
    app.add_handler(
        CommandHandler("study", guarded(deps, "study", study), filters=filters.ChatType.PRIVATE)
    )
    app.add_handler(
        CallbackQueryHandler(
            guarded_button(deps, "study", dialog_buttons(StudyDialog, "sd", "study.expired")),
            pattern=r"^sd:",
        )
    )
