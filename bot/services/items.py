"""Study items and reminders: publishing to an audience, confirmations, reflections, follow-up."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, bindparam, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.config import FollowupConfig
from bot.delivery import Outgoing, QuietHours, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, tallies
from bot.services.audience import Audience, audience_members, may_manage, reachable
from bot.texts import join_names, plain, t
from storage.db import Database
from storage.fast import Prepared
from storage.models import Delivery, Item, Member, Receipt, Role

MAX_REFLECTION = 500
# Names listed in one escalation message; the rest are counted (Telegram caps a message).
ESCALATION_NAMES = 60
MAX_TITLE = 100
MAX_BODY = 3000
# Title, body and link together stay inside Telegram's 4,096-character message.
MAX_LINK = 500
KIND_STUDY = "study"
KIND_REMINDER = "reminder"
# 补学: sent to a meeting's absentees when it closes, with the minutes as material.
KIND_MAKEUP = "makeup"
_HEADS = {
    KIND_STUDY: "item.head_study",
    KIND_REMINDER: "item.head_reminder",
    KIND_MAKEUP: "item.head_makeup",
}


class ItemText(Protocol):
    """What rendering an item and its buttons reads: an Item, or a row of those columns."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def link(self) -> str | None: ...
    @property
    def document_file_id(self) -> str | None: ...
    @property
    def deadline(self) -> datetime | None: ...


# Prebuilt Core statements for what members do most (/todo, 「已学习」/「已阅」, /me): SQLAlchemy
# builds their SQL and cache keys once, and rows come back without ORM entities.
_items = Item.__table__
_receipts = Receipt.__table__
_TEXT_COLUMNS = (
    _items.c.id,
    _items.c.kind,
    _items.c.title,
    _items.c.body,
    _items.c.link,
    _items.c.document_file_id,
    _items.c.deadline,
)
# The pressed item and the presser's receipt of it (receipt_id None: not theirs).
_ITEM_AND_RECEIPT = (
    select(
        *_TEXT_COLUMNS,
        _receipts.c.id.label("receipt_id"),
        _receipts.c.branch_id,
        _receipts.c.group_id,
        _receipts.c.confirmed_at,
    )
    .select_from(
        _items.outerjoin(
            _receipts,
            and_(
                _receipts.c.item_id == _items.c.id,
                _receipts.c.member_id == bindparam("member_id"),
            ),
        )
    )
    .where(_items.c.id == bindparam("item_id"))
)
_PRESSED = Prepared(_ITEM_AND_RECEIPT)
_TODO = (
    select(*_TEXT_COLUMNS)
    .select_from(_items.join(_receipts, _receipts.c.item_id == _items.c.id))
    .where(
        _receipts.c.member_id == bindparam("member_id"),
        _receipts.c.confirmed_at.is_(None),
        _items.c.published_at.is_not(None),
    )
    .order_by(_items.c.published_at.desc())
    .limit(bindparam("limit"))
)


def _confirmed_since(kind: str, since: str) -> Any:
    return func.count(
        case((and_(_items.c.kind == kind, _receipts.c.confirmed_at >= bindparam(since)), 1))
    )


# /me's confirmed study items and reminders since the month's, quarter's and year's start
# (binds: member_id, month, quarter, year). The year starts first, so it bounds the rows read.
MY_CONFIRMED = (
    select(
        _confirmed_since(KIND_STUDY, "month").label("study_month"),
        _confirmed_since(KIND_STUDY, "quarter").label("study_quarter"),
        _confirmed_since(KIND_STUDY, "year").label("study_year"),
        _confirmed_since(KIND_REMINDER, "month").label("reminders_month"),
        _confirmed_since(KIND_REMINDER, "quarter").label("reminders_quarter"),
        _confirmed_since(KIND_REMINDER, "year").label("reminders_year"),
    )
    .select_from(_receipts.join(_items, _items.c.id == _receipts.c.item_id))
    .where(
        _receipts.c.member_id == bindparam("member_id"),
        _receipts.c.confirmed_at >= bindparam("year"),
    )
)


@dataclass(frozen=True)
class PushSettings:
    """What publishing needs to know about the organisation."""

    org_id: int
    default_language: str
    tz: ZoneInfo
    quiet: QuietHours
    followup: FollowupConfig

    def language_of(self, member: Member) -> str:
        return member.language or self.default_language


class PushScoped:
    """A feature's settings built on the push settings: the organisation and its zone."""

    push: PushSettings

    @property
    def tz(self) -> ZoneInfo:
        return self.push.tz

    @property
    def org_id(self) -> int:
        return self.push.org_id


@dataclass(frozen=True)
class Draft:
    kind: str
    title: str
    body: str
    audience: Audience
    link: str | None = None
    deadline: datetime | None = None
    document_file_id: str | None = None
    document_name: str | None = None
    urgent: bool = False


def validate_draft(draft: Draft) -> None:
    if not draft.title.strip():
        raise Invalid("item.no_title")
    if len(draft.title) > MAX_TITLE:
        raise Invalid("item.title_too_long", limit=MAX_TITLE)
    if len(draft.body) > MAX_BODY:
        raise Invalid("item.body_too_long", limit=MAX_BODY)
    if draft.link is not None and len(draft.link) > MAX_LINK:
        raise Invalid("item.link_too_long", limit=MAX_LINK)


def has_material(item: ItemText) -> bool:
    """A make-up waits for the meeting's minutes; every other item carries its own content."""
    return item.kind != KIND_MAKEUP or bool(item.body or item.document_file_id)


def buttons(
    item: ItemText, lang: str, confirmed_at: datetime | None, tz: ZoneInfo
) -> dict[str, Any]:
    """Inline keyboard as plain data; callback data carries the item id only."""
    confirm_key = "item.btn_read" if item.kind == KIND_REMINDER else "item.btn_studied"
    if confirmed_at is None:
        first = {"text": plain(t(lang, confirm_key)), "callback_data": f"it:ok:{item.id}"}
    else:
        when = confirmed_at.astimezone(tz).strftime("%m-%d %H:%M")
        first = {
            "text": plain(t(lang, "item.btn_done", label=plain(t(lang, confirm_key)), when=when)),
            "callback_data": f"it:ok:{item.id}",
        }
    row = [first]
    if item.kind == KIND_STUDY:
        row.append(
            {"text": plain(t(lang, "item.btn_reflect")), "callback_data": f"it:rf:{item.id}"}
        )
    return {"inline_keyboard": [row]}


def render_item(item: ItemText, lang: str, tz: ZoneInfo, *, nudge: bool = False) -> str:
    head = _HEADS[item.kind]
    parts = []
    if nudge:
        parts.append(t(lang, "item.nudge_prefix"))
    parts.append(t(lang, head, title=item.title))
    if item.body:
        parts.append(t(lang, "item.body", body=item.body))
    if item.link:
        parts.append(t(lang, "item.link", link=item.link))
    if not has_material(item):
        parts.append(t(lang, "item.makeup_pending"))
    if item.deadline:
        parts.append(
            t(
                lang,
                "item.deadline",
                deadline=item.deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            )
        )
    return "\n".join(parts)


class _Pusher:
    """Builds one item's messages; the text and buttons are rendered once per language."""

    def __init__(self, item: Item, settings: PushSettings, purpose: str) -> None:
        self.item = item
        self.settings = settings
        self.purpose = purpose
        self._rendered: dict[str, tuple[str, dict[str, Any]]] = {}

    def _render(self, lang: str) -> tuple[str, dict[str, Any]]:
        if lang not in self._rendered:
            item, tz = self.item, self.settings.tz
            self._rendered[lang] = (
                render_item(item, lang, tz, nudge=self.purpose == "nudge"),
                buttons(item, lang, None, tz),
            )
        return self._rendered[lang]

    def messages(self, member: Member) -> list[Outgoing]:
        assert member.chat_id is not None
        item = self.item
        text, markup = self._render(self.settings.language_of(member))
        chat, who = member.chat_id, member.id
        out = []
        if item.document_file_id and self.purpose == "item":
            out.append(
                Outgoing(
                    chat,
                    who,
                    html.escape(item.document_name or "", quote=False),
                    "document",
                    item.id,
                    document_file_id=item.document_file_id,
                    urgent=item.urgent,
                )
            )
        out.append(
            Outgoing(chat, who, text, self.purpose, item.id, markup=markup, urgent=item.urgent)
        )
        return out


async def create_item(
    session: AsyncSession,
    settings: PushSettings,
    actor_member_id: int | None,
    draft: Draft,
    *,
    now: datetime,
    publish_at: datetime | None = None,
    job_id: int | None = None,
) -> Item:
    """Store the item and publish it now, or schedule its publication. The caller commits."""
    validate_draft(draft)
    item = Item(
        organisation_id=settings.org_id,
        kind=draft.kind,
        title=draft.title.strip(),
        body=draft.body.strip(),
        link=draft.link,
        document_file_id=draft.document_file_id,
        document_name=draft.document_name,
        audience_kind=draft.audience.kind,
        audience_id=draft.audience.id,
        deadline=draft.deadline,
        urgent=draft.urgent,
        job_id=job_id,
        created_by_member_id=actor_member_id,
        created_at=now,
    )
    session.add(item)
    await session.flush()
    audit.record(
        session,
        action=f"{draft.kind}.created",
        entity="item",
        entity_id=item.id,
        actor_member_id=actor_member_id,
        title=item.title,
        audience=f"{draft.audience.kind}:{draft.audience.id}",
    )
    if publish_at is not None and publish_at > now:
        add_job(
            session,
            organisation_id=settings.org_id,
            kind="publish_item",
            payload={"item_id": item.id},
            first=publish_at,
            created_by=actor_member_id,
        )
    else:
        await publish(session, settings, item, now=now)
    return item


async def publish(
    session: AsyncSession, settings: PushSettings, item: Item, *, now: datetime
) -> int:
    """Fix the audience, queue one push per reachable member, and plan the follow-up ladder."""
    if item.published_at is not None:
        return 0
    item.published_at = now
    members = await audience_members(session, settings.org_id, item.audience_kind, item.audience_id)
    if members:
        await session.execute(
            insert(Receipt),
            [
                {
                    "item_id": item.id,
                    "member_id": m.id,
                    "branch_id": m.branch_id,
                    "group_id": m.group_id,
                    "nudges": 0,
                }
                for m in members
            ],
        )
        await tallies.add_receipts(session, item.id, members)
    pusher = _Pusher(item, settings, "item")
    outgoing = [msg for m in members if m.chat_id is not None for msg in pusher.messages(m)]
    await enqueue(session, outgoing, now=now, quiet=settings.quiet)
    _plan_ladder(session, settings, item, now)
    return len(members)


def _plan_ladder(session: AsyncSession, settings: PushSettings, item: Item, now: datetime) -> None:
    cfg = settings.followup
    steps: list[tuple[str, datetime]] = []
    if cfg.second_after_hours:
        steps.append(("second", now + timedelta(hours=cfg.second_after_hours)))
    if cfg.before_deadline_hours and item.deadline is not None:
        moment = item.deadline - timedelta(hours=cfg.before_deadline_hours)
        if moment > now:
            steps.append(("before_deadline", moment))
    if cfg.leader_after_hours:
        steps.append(("leader", now + timedelta(hours=cfg.leader_after_hours)))
    if cfg.secretary_after_hours:
        steps.append(("secretary", now + timedelta(hours=cfg.secretary_after_hours)))
    for step, moment in steps:
        add_job(
            session,
            organisation_id=settings.org_id,
            kind="ladder",
            payload={"item_id": item.id, "step": step},
            first=moment,
        )


async def _receipt(session: AsyncSession, actor: Actor, item_id: int) -> tuple[Item, Receipt]:
    item = await session.get(Item, item_id)
    if item is None:
        raise NotFound("item.unknown", id=item_id)
    receipt = await session.scalar(
        select(Receipt).where(Receipt.item_id == item_id, Receipt.member_id == actor.member_id)
    )
    if receipt is None:
        # Someone else's button, or an item for another audience.
        raise Denied("not_your_button")
    return item, receipt


@dataclass(frozen=True)
class Confirmation:
    item_id: int
    kind: str
    title: str
    confirmed_at: datetime
    first_time: bool
    markup: dict[str, Any]


async def confirm(
    db: Database, settings: PushSettings, actor: Actor, item_id: int, *, now: datetime
) -> Confirmation:
    """「已学习」/「已阅」: one read; a first confirmation then writes the receipt, its tally and
    the audit entry in one transaction, a repeat opens none.

    It runs for every press of the busiest button, so it takes the Database and uses prepared
    statements (storage.fast) rather than a session: most presses need no transaction at all."""
    item = await db.first(_PRESSED, {"item_id": item_id, "member_id": actor.member_id})
    if item is None:
        raise NotFound("item.unknown", id=item_id)
    if item.receipt_id is None:
        # Someone else's button, or an item for another audience.
        raise Denied("not_your_button")
    if not has_material(item):
        # Nothing to study yet: confirming now would also stop the minutes reaching them.
        raise Invalid("item.makeup_not_yet")
    confirmed_at: datetime | None = item.confirmed_at
    first = False
    if confirmed_at is None:
        async with db.transaction() as tx:
            first, confirmed_at = await tallies.claim_receipt(tx, item.receipt_id, now)
            if first:
                await audit.add(
                    tx,
                    action=f"{item.kind}.confirmed",
                    entity="item",
                    entity_id=item.id,
                    actor_member_id=actor.member_id,
                )
                # Everyone's confirmations of this item count on one row: its update comes
                # last, so that a burst of presses waits on its lock as briefly as it can.
                await tx.guard_now()
                await tallies.count_confirmed(tx, item.id, (item.branch_id, item.group_id))
                await tx.commit()
    return Confirmation(
        item.id,
        item.kind,
        item.title,
        confirmed_at,
        first,
        buttons(item, actor.language, confirmed_at, settings.tz),
    )


async def start_reflection(session: AsyncSession, actor: Actor, item_id: int) -> str:
    """Check the member may reflect on this item; returns its title for the prompt."""
    item, _ = await _receipt(session, actor, item_id)
    if item.kind != KIND_STUDY:
        raise Denied("not_your_button")
    return item.title


async def save_reflection(
    session: AsyncSession, actor: Actor, item_id: int, text: str, *, now: datetime
) -> str:
    text = text.strip()
    if not text:
        raise Invalid("reflect.empty")
    if len(text) > MAX_REFLECTION:
        raise Invalid("reflect.too_long", limit=MAX_REFLECTION, length=len(text))
    item, receipt = await _receipt(session, actor, item_id)
    receipt.reflection = text
    receipt.reflected_at = now
    # Writing a reflection is studying: it confirms too.
    if receipt.confirmed_at is None:
        await tallies.confirm_once(session, receipt, now)
    audit.record(
        session,
        action="study.reflection",
        entity="item",
        entity_id=item.id,
        actor_member_id=actor.member_id,
        length=len(text),
    )
    await session.commit()
    return item.title


@dataclass(frozen=True)
class ItemSummary:
    id: int
    kind: str
    title: str
    confirmed: int
    total: int
    published_at: datetime | None
    deadline: datetime | None


async def _managed_item(session: AsyncSession, actor: Actor, item_id: int) -> Item:
    item = await session.get(Item, item_id)
    if item is None:
        raise NotFound("item.unknown", id=item_id)
    if not await may_manage(session, actor, item.audience_kind, item.audience_id):
        raise Denied("out_of_scope")
    return item


async def list_items(
    session: AsyncSession, org_id: int, actor: Actor, limit: int = 10
) -> list[ItemSummary]:
    counts = (
        select(
            Receipt.item_id,
            func.count(Receipt.id).label("total"),
            func.count(Receipt.confirmed_at).label("confirmed"),
        )
        .group_by(Receipt.item_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Item, counts.c.total, counts.c.confirmed)
            .outerjoin(counts, counts.c.item_id == Item.id)
            .where(Item.organisation_id == org_id)
            .order_by(Item.created_at.desc(), Item.id.desc())
            .limit(200)
        )
    ).all()
    result = []
    for item, total, confirmed in rows:
        if not await may_manage(session, actor, item.audience_kind, item.audience_id):
            continue
        result.append(
            ItemSummary(
                item.id,
                item.kind,
                item.title,
                confirmed or 0,
                total or 0,
                item.published_at,
                item.deadline,
            )
        )
        if len(result) >= limit:
            break
    return result


@dataclass(frozen=True)
class ItemStatus:
    summary: ItemSummary
    pending: list[str]  # names who have not confirmed (reachable)
    unbound: list[str]  # never joined the bot: cannot be reached
    unreachable: list[str]  # blocked the bot
    reflections: list[tuple[str, str]]


async def item_status(session: AsyncSession, actor: Actor, item_id: int) -> ItemStatus:
    item = await _managed_item(session, actor, item_id)
    rows = (
        await session.execute(
            select(Receipt, Member)
            .join(Member, Receipt.member_id == Member.id)
            .where(Receipt.item_id == item.id)
            .order_by(Member.name)
        )
    ).all()
    pending, unbound, unreachable, reflections = [], [], [], []
    for receipt, member in rows:
        if receipt.reflection:
            reflections.append((member.name, receipt.reflection))
        if receipt.confirmed_at is not None:
            continue
        if member.chat_id is None:
            unbound.append(member.name)
        elif member.unreachable_at is not None:
            unreachable.append(member.name)
        else:
            pending.append(member.name)
    confirmed = sum(1 for r, _ in rows if r.confirmed_at is not None)
    summary = ItemSummary(
        item.id, item.kind, item.title, confirmed, len(rows), item.published_at, item.deadline
    )
    return ItemStatus(summary, pending, unbound, unreachable, reflections)


async def _pushes_today(
    session: AsyncSession, member_ids: Sequence[int], tz: ZoneInfo, now: datetime
) -> dict[int, int]:
    local_midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await session.execute(
        select(Delivery.member_id, func.count(Delivery.id))
        .where(
            Delivery.member_id.in_(member_ids),
            Delivery.created_at >= local_midnight,
            Delivery.purpose.in_(("nudge", "escalation")),
        )
        .group_by(Delivery.member_id)
    )
    return {member_id: count for member_id, count in rows if member_id is not None}


async def _stragglers(session: AsyncSession, item: Item) -> list[tuple[Receipt, Member]]:
    rows = (
        await session.execute(
            select(Receipt, Member)
            .join(Member, Receipt.member_id == Member.id)
            .where(
                Receipt.item_id == item.id, Receipt.confirmed_at.is_(None), Member.active.is_(True)
            )
            .order_by(Member.id)
        )
    ).all()
    return [(r, m) for r, m in rows]


async def nudge_stragglers(
    session: AsyncSession, settings: PushSettings, item: Item, *, now: datetime
) -> int:
    """Re-send the item to exactly those who have not confirmed, within the daily cap."""
    stragglers = [(r, m) for r, m in await _stragglers(session, item) if reachable(m)]
    sent_today = await _pushes_today(session, [m.id for _, m in stragglers], settings.tz, now)
    outgoing: list[Outgoing] = []
    pusher = _Pusher(item, settings, "nudge")
    for receipt, member in stragglers:
        if sent_today.get(member.id, 0) >= settings.followup.daily_cap:
            continue
        outgoing += pusher.messages(member)
        receipt.nudges += 1
        receipt.last_nudged_at = now
    await enqueue(session, outgoing, now=now, quiet=settings.quiet)
    return len(outgoing)


async def push_unconfirmed(
    session: AsyncSession, settings: PushSettings, item: Item, *, now: datetime
) -> int:
    """Send the item afresh (with its document) to everyone who has not confirmed it: used when
    its material changes, so no daily cap applies."""
    pusher = _Pusher(item, settings, "item")
    outgoing = [
        msg
        for _, member in await _stragglers(session, item)
        if reachable(member)
        for msg in pusher.messages(member)
    ]
    await enqueue(session, outgoing, now=now, quiet=settings.quiet)
    return len({m.member_id for m in outgoing})


async def nudge(
    session: AsyncSession, settings: PushSettings, actor: Actor, item_id: int, *, now: datetime
) -> int:
    item = await _managed_item(session, actor, item_id)
    count = await nudge_stragglers(session, settings, item, now=now)
    audit.record(
        session,
        action="item.nudged",
        entity="item",
        entity_id=item.id,
        actor_member_id=actor.member_id,
        recipients=count,
    )
    await session.commit()
    return count


async def escalate(
    session: AsyncSession, settings: PushSettings, item: Item, to: str, *, now: datetime
) -> int:
    """Tell group leaders (to="leader") or branch secretaries (to="secretary") who is behind."""
    stragglers = await _stragglers(session, item)
    if not stragglers:
        return 0
    by_unit: dict[int, list[str]] = {}
    for _, member in stragglers:
        unit = member.group_id if to == "leader" else member.branch_id
        if unit is not None:
            by_unit.setdefault(unit, []).append(member.name)
    role = Role.GROUP_LEADER if to == "leader" else Role.SECRETARY
    column = Member.group_id if to == "leader" else Member.branch_id
    outgoing: list[Outgoing] = []
    total = await session.scalar(select(func.count(Receipt.id)).where(Receipt.item_id == item.id))
    confirmed = await session.scalar(
        select(func.count(Receipt.id)).where(
            Receipt.item_id == item.id, Receipt.confirmed_at.is_not(None)
        )
    )
    for unit, names in by_unit.items():
        heads = (
            await session.scalars(
                select(Member).where(
                    column == unit,
                    Member.role == role,
                    Member.active.is_(True),
                    Member.chat_id.is_not(None),
                )
            )
        ).all()
        sent_today = await _pushes_today(session, [h.id for h in heads], settings.tz, now)
        for head in heads:
            if sent_today.get(head.id, 0) >= settings.followup.daily_cap:
                continue
            assert head.chat_id is not None
            lang = settings.language_of(head)
            text = t(
                lang,
                "item.escalation",
                title=item.title,
                id=item.id,
                confirmed=confirmed or 0,
                total=total or 0,
                names=join_names(names, ESCALATION_NAMES, lang),
            )
            outgoing.append(Outgoing(head.chat_id, head.id, text, "escalation", item.id))
    await enqueue(session, outgoing, now=now, quiet=settings.quiet)
    return len(outgoing)


async def run_ladder_step(session: AsyncSession, settings: PushSettings, firing: Firing) -> None:
    item = await session.get(Item, int(firing.payload["item_id"]))
    if item is None or item.published_at is None or not has_material(item):
        return
    step = firing.payload.get("step")
    if step in ("second", "before_deadline"):
        await nudge_stragglers(session, settings, item, now=firing.now)
    elif step in ("leader", "secretary"):
        await escalate(session, settings, item, step, now=firing.now)


async def publish_scheduled(session: AsyncSession, settings: PushSettings, firing: Firing) -> None:
    item = await session.get(Item, int(firing.payload["item_id"]))
    if item is not None:
        await publish(session, settings, item, now=firing.now)


@dataclass(frozen=True)
class TodoEntry:
    item_id: int
    text: str
    markup: dict[str, Any]


async def todo(
    session: AsyncSession, settings: PushSettings, actor: Actor, limit: int = 10
) -> list[TodoEntry]:
    rows = (await session.execute(_TODO, {"member_id": actor.member_id, "limit": limit})).all()
    return [
        TodoEntry(
            item.id,
            render_item(item, actor.language, settings.tz),
            buttons(item, actor.language, None, settings.tz),
        )
        for item in rows
    ]


@dataclass(frozen=True)
class PeriodCounts:
    """Confirmed study items and acknowledged reminders for the current month, quarter, year."""

    study: tuple[int, int, int]
    reminders: tuple[int, int, int]


def period_starts(today: date) -> tuple[date, date, date]:
    quarter_month = 3 * ((today.month - 1) // 3) + 1
    return (
        today.replace(day=1),
        today.replace(month=quarter_month, day=1),
        today.replace(month=1, day=1),
    )


def period_params(tz: ZoneInfo, now: datetime) -> dict[str, datetime]:
    """The month's, quarter's and year's start in the organisation's zone, as the `month`,
    `quarter` and `year` binds of the /me statements."""
    month, quarter, year = (
        datetime(start.year, start.month, start.day, tzinfo=tz)
        for start in period_starts(now.astimezone(tz).date())
    )
    return {"month": month, "quarter": quarter, "year": year}


def counts_of(row: Row[*tuple[Any, ...]]) -> PeriodCounts:
    """PeriodCounts from a row holding MY_CONFIRMED's columns."""
    return PeriodCounts(
        (row.study_month, row.study_quarter, row.study_year),
        (row.reminders_month, row.reminders_quarter, row.reminders_year),
    )


async def my_counts(
    session: AsyncSession, actor: Actor, tz: ZoneInfo, now: datetime
) -> PeriodCounts:
    row = (
        await session.execute(
            MY_CONFIRMED, {"member_id": actor.member_id, **period_params(tz, now)}
        )
    ).one()
    return counts_of(row)


@dataclass(frozen=True)
class Posted:
    item_id: int
    title: str
    recipients: int
    publish_at: datetime | None


async def post(
    session: AsyncSession,
    settings: PushSettings,
    actor: Actor,
    draft: Draft,
    *,
    now: datetime,
    publish_at: datetime | None = None,
) -> Posted:
    """A secretary's post: stored, published or scheduled, and committed as one use case."""
    item = await create_item(
        session, settings, actor.member_id, draft, now=now, publish_at=publish_at
    )
    members = await audience_members(
        session, settings.org_id, draft.audience.kind, draft.audience.id
    )
    await session.commit()
    later = publish_at if publish_at is not None and publish_at > now else None
    return Posted(item.id, item.title, len(members), later)
