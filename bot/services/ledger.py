"""台账: the records of a period as tables, one row per member and thing, with Chinese headers,
for the XLSX and CSV exports, the statistics and the summary.

A period is a month, a quarter, a half-year or a year in the organisation's zone; a scope is one
branch or (for an admin) the whole organisation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.auth import Actor, can_manage_branch
from bot.errors import Denied, Invalid, NotFound
from bot.services import items, money, periods
from bot.services.names import normalise_name
from bot.texts import plain, t
from storage.models import (
    Activity,
    Branch,
    DuesPayment,
    Group,
    Invitation,
    Item,
    Meeting,
    Member,
    Receipt,
    Role,
    SignUp,
    Task,
    TaskEvent,
)


@dataclass(frozen=True)
class ReportPeriod:
    """[start, end) in local days; `key` as typed back: 2026-12, 2026-Q4, 2026-H2, 2026."""

    key: str
    start: date
    end: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return (
            datetime.combine(self.start, time(0), tzinfo=tz),
            datetime.combine(self.end, time(0), tzinfo=tz),
        )

    def label(self, lang: str) -> str:
        return plain(t(lang, "period.label", key=self.key))

    @property
    def quarters(self) -> list[str]:
        """The quarter keys the period spans, for the compliance view of each."""
        found = []
        month = self.start
        while month < self.end:
            found.append(f"{month.year}-Q{(month.month - 1) // 3 + 1}")
            month = _add_months(month, 3 - (month.month - 1) % 3)
        return list(dict.fromkeys(found))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_report_period(text: str | None, today: date) -> ReportPeriod:
    """`YYYY-MM`, `YYYY-Qn`, `YYYY-H1`, `YYYY-H2` or `YYYY`, as bot.services.periods reads them
    for chat, the command line and the API alike; nothing means this quarter. A year outside
    2000–2100 is refused with `date.year_range`, anything else unreadable with `period.usage`."""
    typed = (text or "").strip()
    span = periods.parse_span(typed) if typed else periods.span_of(periods.QUARTER, today)
    if span is None:
        raise Invalid("period.usage", value=typed)
    return ReportPeriod(span.key, span.start, span.end)


@dataclass(frozen=True)
class Scope:
    """The branches a report covers, and what to call it."""

    branch_ids: tuple[int, ...]
    label: str


async def resolve_scope(
    session: AsyncSession, org_id: int, actor: Actor, branch_name: str | None
) -> Scope:
    """A secretary: their branch (or, named, only their own); an admin: all, or the one named."""
    name = normalise_name(normalise_name(branch_name or "").lstrip("#"))
    if name:
        branch = await session.scalar(
            select(Branch).where(Branch.organisation_id == org_id, Branch.name == name)
        )
        if branch is None:
            raise NotFound("unknown_audience", name=name)
        if not can_manage_branch(actor, branch.id):
            raise Denied("out_of_scope")
        return Scope((branch.id,), branch.name)
    if actor.role is Role.ADMIN:
        ids = (
            await session.scalars(select(Branch.id).where(Branch.organisation_id == org_id))
        ).all()
        return Scope(tuple(ids), "")
    if actor.branch_id is None or not can_manage_branch(actor, actor.branch_id):
        raise Denied("no_permission")
    branch = await session.get(Branch, actor.branch_id)
    assert branch is not None
    return Scope((branch.id,), branch.name)


@dataclass(frozen=True)
class Table:
    """One sheet of the ledger (one CSV file)."""

    key: str  # file name: members, study, reminders, meetings, volunteers, dues, tasks
    title: str  # sheet name
    headers: tuple[str, ...]
    rows: list[list[Any]]


ROLE_NAMES = {
    Role.MEMBER: "党员",
    Role.GROUP_LEADER: "党小组长",
    Role.SECRETARY: "书记",
    Role.ADMIN: "管理员",
}
KIND_NAMES = {
    "general": "支部党员大会",
    "committee": "支部委员会",
    "group": "党小组会",
    "lecture": "党课",
}
ANSWER_NAMES = {"attend": "参加", "leave": "请假", None: "未答复"}
OUTCOME_NAMES = {"attended": "出席", "late": "迟到", "leave": "请假", "absent": "缺席", None: "—"}
SIGNUP_NAMES = {
    "confirmed": "已报名",
    "waiting": "候补",
    "offered": "待确认名额",
    "cancelled": "已取消",
    "declined": "已放弃",
    "expired": "逾期未确认",
}
SERVICE_NAMES = {"served": "已服务", "no_show": "未到", None: "—"}
DUES_NAMES = {"reported": "已缴纳待确认", "confirmed": "已确认"}
TASK_NAMES = {"open": "进行中", "overdue": "已逾期", "done": "已完成", "cancelled": "已撤销"}


class _Clock:
    """Local minutes as text, remembered: a ledger repeats the same moments (an item's
    publication on each of its receipts) hundreds of thousands of times."""

    KEEP = 100_000

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.seen: dict[datetime | str, str] = {}

    def __call__(self, moment: datetime | str | None) -> str:
        if moment is None:
            return ""
        # Remembered by the minute (zone offsets are whole minutes): a `_raw` column on SQLite
        # is UTC as ISO text without an offset, whose first 16 characters are that minute.
        if isinstance(moment, str):
            minute: datetime | str = moment[:16]
        else:
            minute = moment.replace(second=0, microsecond=0)
        text = self.seen.get(minute)
        if text is None:
            aware = datetime.fromisoformat(minute) if isinstance(minute, str) else minute
            if aware.tzinfo is None:
                aware = aware.replace(tzinfo=UTC)
            text = aware.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
            if len(self.seen) >= self.KEEP:
                self.seen.clear()
            self.seen[minute] = text
        return text


def _raw(column: Any) -> Any:
    """A time column as the driver gives it (SQLite: text; PostgreSQL: an aware datetime),
    skipping the per-value conversion to an aware datetime that a million rows cannot afford;
    `_Clock` reads either."""
    return type_coerce(column, String())


def hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


Row = list[Any]
# Rows are read and written a slice at a time, so a year of a large organisation never sits in
# memory whole.
BATCH = 5000


@dataclass(frozen=True)
class Sheet:
    """A table whose rows are read from the database as they are written out."""

    key: str
    title: str
    headers: tuple[str, ...]
    batches: Callable[[], AsyncIterator[list[Row]]]

    async def read(self) -> Table:
        """The sheet read whole, for the tests and the dashboard's member list."""
        return Table(
            self.key, self.title, self.headers, [r async for b in self.batches() for r in b]
        )


@dataclass(frozen=True)
class Ledger:
    scope: Scope
    period: ReportPeriod
    sheets: list[Sheet]

    async def tables(self) -> list[Table]:
        """Every sheet read whole."""
        return [await s.read() for s in self.sheets]


def _rows(
    session: AsyncSession, query: Select[*tuple[Any, ...]], shape: Callable[[Any], Row]
) -> Callable[[], AsyncIterator[list[Row]]]:
    async def batches() -> AsyncIterator[list[Row]]:
        # A server-side cursor on PostgreSQL; SQLite steps through the statement as it goes.
        # Through the session's connection, not the session: plain rows need no ORM loading.
        connection = await session.connection()
        result = await connection.stream(query.execution_options(yield_per=BATCH))
        async for part in result.partitions(BATCH):
            yield [shape(r) for r in part]

    return batches


class Names:
    """Branch and group names of a scope, and each group's branch: records name the unit they
    were made in (the ledger's sheets and the statistics alike)."""

    def __init__(
        self, branches: dict[int, str], groups: dict[int, str], group_branch: dict[int, int]
    ) -> None:
        self.branches = branches
        self.groups = groups
        self.group_branch = group_branch

    def __call__(self, branch_id: int | None, group_id: int | None) -> list[str]:
        return [self.branches.get(branch_id or 0, ""), self.groups.get(group_id or 0, "")]

    @classmethod
    async def of(cls, session: AsyncSession, scope: Scope) -> Names:
        branches = await session.execute(
            select(Branch.id, Branch.name).where(Branch.id.in_(scope.branch_ids))
        )
        groups = (
            await session.execute(
                select(Group.id, Group.branch_id, Group.name).where(
                    Group.branch_id.in_(scope.branch_ids)
                )
            )
        ).all()
        return cls(
            dict(branches.all()),
            {gid: name for gid, _, name in groups},
            {gid: bid for gid, bid, _ in groups},
        )


MEMBER_HEADERS = (
    "编号",
    "姓名",
    "支部",
    "党小组",
    "角色",
    "电话",
    "支委",
    "已绑定",
    "在册",
    "每月党费（元）",
)


def _members_sheet(
    session: AsyncSession, scope: Scope, names: Names, *, offset: int = 0, limit: int | None = None
) -> Sheet:
    query = (
        select(
            Member.id,
            Member.name,
            Member.branch_id,
            Member.group_id,
            Member.role,
            Member.phone,
            Member.committee,
            Member.chat_id,
            Member.active,
            Member.dues_cents,
        )
        .where(Member.branch_id.in_(scope.branch_ids))
        # The id last: one order every time, so the dashboard's pages neither repeat nor skip.
        .order_by(Member.branch_id, Member.group_id, Member.name, Member.id)
    )
    if limit is not None:
        query = query.offset(offset).limit(limit)

    def shape(m: Any) -> Row:
        # Unpacked by position: a row's attributes by name cost several times as much, and
        # these three sheets are the million rows of a large organisation.
        id_, name, branch_id, group_id, role, phone, committee, user_id, active, dues = m
        return [
            id_,
            name,
            *names(branch_id, group_id),
            ROLE_NAMES[role],
            phone or "",
            "是" if committee or role is Role.SECRETARY else "否",
            "是" if user_id else "否",
            "是" if active else "否",
            Decimal(money.amount_text(dues)) if dues is not None else "",
        ]

    return Sheet("members", "党员", MEMBER_HEADERS, _rows(session, query, shape))


async def member_rows(
    session: AsyncSession, scope: Scope, *, offset: int = 0, limit: int | None = None
) -> Table:
    """Only the members sheet (or `limit` of its rows from `offset`), for the dashboard's member
    list."""
    names = await Names.of(session, scope)
    return await _members_sheet(session, scope, names, offset=offset, limit=limit).read()


async def member_count(session: AsyncSession, scope: Scope) -> int:
    """How many rows the members sheet has."""
    counted = await session.scalar(
        select(func.count()).select_from(Member).where(Member.branch_id.in_(scope.branch_ids))
    )
    return int(counted or 0)


ITEM_HEADERS = (
    "编号",
    "标题",
    "发布时间",
    "截止",
    "姓名",
    "支部",
    "党小组",
    "状态",
    "确认时间",
    "心得",
)


def _items_sheet(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    since: datetime,
    until: datetime,
    names: Names,
    local: _Clock,
    kind: str,
) -> Sheet:
    key, title, done = (
        ("study", "学习与确认", "已学习")
        if kind == items.KIND_STUDY
        else ("reminders", "廉政提醒与已阅", "已阅")
    )
    query = (
        select(
            Item.id,
            Item.title,
            _raw(Item.published_at),
            _raw(Item.deadline),
            Member.name,
            Receipt.branch_id,
            Receipt.group_id,
            _raw(Receipt.confirmed_at),
            Receipt.reflection,
        )
        .join(Receipt, Receipt.item_id == Item.id)
        .join(Member, Member.id == Receipt.member_id)
        .where(
            Item.organisation_id == org_id,
            Item.kind == kind,
            Item.published_at >= since,
            Item.published_at < until,
            Receipt.branch_id.in_(scope.branch_ids),
        )
        .order_by(Item.published_at, Item.id, Receipt.member_id)
    )

    def shape(r: Any) -> Row:
        id_, item_title, published, deadline, name, branch_id, group_id, confirmed, text = r
        return [
            id_,
            item_title,
            local(published),
            local(deadline),
            name,
            *names(branch_id, group_id),
            done if confirmed else "未确认",
            local(confirmed),
            text or "",
        ]

    return Sheet(key, title, ITEM_HEADERS, _rows(session, query, shape))


async def sheets(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    scope: Scope,
    period: ReportPeriod,
    *,
    now: datetime,
) -> list[Sheet]:
    """Every sheet of the ledger for the scope and period, to be read in order."""
    names = await Names.of(session, scope)
    local = _Clock(tz)
    since, until = period.bounds(tz)
    return [
        _members_sheet(session, scope, names),
        _items_sheet(session, org_id, scope, since, until, names, local, items.KIND_STUDY),
        _items_sheet(session, org_id, scope, since, until, names, local, items.KIND_REMINDER),
        await _meetings(session, org_id, scope, since, until, names, local),
        _volunteers(session, org_id, scope, since, until, names, local),
        _dues(session, scope, period, names, local),
        await _tasks(session, org_id, scope, period, now, names, local),
    ]


async def _meetings(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    since: datetime,
    until: datetime,
    names: Names,
    local: _Clock,
) -> Sheet:
    meetings = (
        Meeting.organisation_id == org_id,
        Meeting.branch_id.in_(scope.branch_ids),
        Meeting.status != "cancelled",
        Meeting.starts_at >= since,
        Meeting.starts_at < until,
    )
    makeup_items = select(Meeting.makeup_item_id).where(
        *meetings, Meeting.makeup_item_id.is_not(None)
    )
    # Make-up study is done by the few who missed a meeting: small enough to hold.
    made_up = {
        (item_id, member_id): at
        for item_id, member_id, at in (
            await session.execute(
                select(Receipt.item_id, Receipt.member_id, Receipt.confirmed_at).where(
                    Receipt.item_id.in_(makeup_items), Receipt.confirmed_at.is_not(None)
                )
            )
        )
    }
    query = (
        select(
            Meeting.id,
            Meeting.kind,
            Meeting.title,
            _raw(Meeting.starts_at),
            Meeting.place,
            Meeting.status,
            Meeting.makeup_item_id,
            Member.name,
            Invitation.member_id,
            Invitation.branch_id,
            Invitation.group_id,
            Invitation.answer,
            Invitation.leave_reason,
            _raw(Invitation.checked_in_at),
            Invitation.outcome,
        )
        .join(Invitation, Invitation.meeting_id == Meeting.id)
        .join(Member, Member.id == Invitation.member_id)
        .where(*meetings, Invitation.branch_id.in_(scope.branch_ids))
        .order_by(Meeting.starts_at, Meeting.id, Invitation.member_id)
    )

    def shape(r: Any) -> Row:
        (
            id_,
            kind,
            title,
            starts_at,
            place,
            status,
            makeup_item_id,
            name,
            member_id,
            branch_id,
            group_id,
            answer,
            reason,
            checked_in_at,
            outcome,
        ) = r
        return [
            id_,
            KIND_NAMES.get(kind, kind),
            title,
            local(starts_at),
            place or "",
            name,
            *names(branch_id, group_id),
            ANSWER_NAMES.get(answer, ""),
            reason or "",
            local(checked_in_at),
            OUTCOME_NAMES.get(outcome, "") if status == "closed" else "未结束",
            local(made_up.get((makeup_item_id or 0, member_id))) if made_up else "",
        ]

    return Sheet(
        "meetings",
        "三会一课与出席",
        (
            "编号",
            "类型",
            "名称",
            "时间",
            "地点",
            "姓名",
            "支部",
            "党小组",
            "答复",
            "请假原因",
            "签到时间",
            "结果",
            "补学时间",
        ),
        _rows(session, query, shape),
    )


def signups_in(
    org_id: int, since: datetime, until: datetime, branch_ids: tuple[int, ...]
) -> tuple[ColumnElement[bool], ...]:
    """The sign-ups the ledger lists (joined to their activity and member), for the ledger and
    the statistics alike: activities not cancelled that start in the period, members of the
    scope's branches."""
    return (
        Activity.organisation_id == org_id,
        Activity.status != "cancelled",
        Activity.starts_at >= since,
        Activity.starts_at < until,
        Member.branch_id.in_(branch_ids),
    )


def served_signups(
    org_id: int, since: datetime, until: datetime, branch_ids: tuple[int, ...]
) -> Select[int, int, str, int | None, int | None, int]:
    """The sign-ups served in the period (signups_in), for the statistics and the workbench's
    hours: activity, member, their name, branch and group, and the minutes that count (an
    adjustment over the measured time)."""
    return (
        select(
            SignUp.activity_id,
            SignUp.member_id,
            Member.name,
            Member.branch_id,
            Member.group_id,
            func.coalesce(SignUp.adjusted_minutes, SignUp.minutes, 0),
        )
        .join(Activity, Activity.id == SignUp.activity_id)
        .join(Member, Member.id == SignUp.member_id)
        .where(*signups_in(org_id, since, until, branch_ids), SignUp.outcome == "served")
    )


def _volunteers(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    since: datetime,
    until: datetime,
    names: Names,
    local: _Clock,
) -> Sheet:
    query = (
        select(
            Activity.id,
            Activity.title,
            Activity.starts_at,
            Activity.ends_at,
            Activity.place,
            Activity.capacity,
            Member.name,
            Member.branch_id,
            Member.group_id,
            SignUp.status,
            SignUp.checked_in_at,
            SignUp.checked_out_at,
            SignUp.outcome,
            SignUp.minutes,
            SignUp.adjusted_minutes,
        )
        .join(SignUp, SignUp.activity_id == Activity.id)
        .join(Member, Member.id == SignUp.member_id)
        .where(*signups_in(org_id, since, until, scope.branch_ids))
        .order_by(Activity.starts_at, Activity.id, SignUp.queued_at, SignUp.id)
    )

    def served(r: Any) -> Decimal | str:
        if r.outcome != "served":
            return ""
        minutes = r.adjusted_minutes if r.adjusted_minutes is not None else r.minutes
        return hours(minutes or 0)

    def shape(r: Any) -> Row:
        return [
            r.id,
            r.title,
            local(r.starts_at),
            local(r.ends_at),
            r.place,
            r.capacity,
            r.name,
            *names(r.branch_id, r.group_id),
            SIGNUP_NAMES.get(r.status, r.status),
            local(r.checked_in_at),
            local(r.checked_out_at),
            served(r),
            SERVICE_NAMES.get(r.outcome, ""),
        ]

    return Sheet(
        "volunteers",
        "志愿服务与时长",
        (
            "编号",
            "活动",
            "开始",
            "结束",
            "地点",
            "名额",
            "姓名",
            "支部",
            "党小组",
            "报名状态",
            "签到",
            "签退",
            "服务时长（小时）",
            "结果",
        ),
        _rows(session, query, shape),
    )


def _dues(
    session: AsyncSession,
    scope: Scope,
    period: ReportPeriod,
    names: Names,
    local: _Clock,
) -> Sheet:
    # A payment stays with the branch it was paid in; the group is shown while the member is
    # still in that branch.
    query = (
        select(
            DuesPayment.month,
            Member.name,
            DuesPayment.branch_id,
            case((Member.branch_id == DuesPayment.branch_id, Member.group_id)).label("group_id"),
            DuesPayment.amount_cents,
            DuesPayment.status,
            DuesPayment.reported_at,
            DuesPayment.confirmed_at,
        )
        .join(Member, Member.id == DuesPayment.member_id)
        .where(
            DuesPayment.branch_id.in_(scope.branch_ids),
            DuesPayment.month >= period.start,
            DuesPayment.month < period.end,
        )
        .order_by(DuesPayment.month, DuesPayment.member_id)
    )

    def shape(p: Any) -> Row:
        return [
            p.month.strftime("%Y-%m"),
            p.name,
            *names(p.branch_id, p.group_id),
            Decimal(money.amount_text(p.amount_cents)),
            DUES_NAMES.get(p.status, p.status),
            local(p.reported_at),
            local(p.confirmed_at),
        ]

    return Sheet(
        "dues",
        "党费",
        ("月份", "姓名", "支部", "党小组", "金额（元）", "状态", "报告时间", "确认时间"),
        _rows(session, query, shape),
    )


async def _tasks(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    period: ReportPeriod,
    now: datetime,
    names: Names,
    local: _Clock,
) -> Sheet:
    in_period = (
        Task.organisation_id == org_id,
        Task.branch_id.in_(scope.branch_ids),
        Task.due_date >= period.start,
        Task.due_date < period.end,
    )
    postponed = dict(
        (
            await session.execute(
                select(TaskEvent.task_id, func.count(TaskEvent.id))
                .join(Task, Task.id == TaskEvent.task_id)
                .where(*in_period, TaskEvent.kind == "postponed")
                .group_by(TaskEvent.task_id)
            )
        ).all()
    )
    owner_member = aliased(Member)
    query = (
        select(
            Task.id,
            Task.title,
            Task.owner_kind,
            Task.owner_id,
            owner_member.name,
            Task.due_date,
            Task.status,
            Task.done_at,
            Task.created_at,
        )
        .outerjoin(
            owner_member,
            (Task.owner_kind == "member") & (owner_member.id == Task.owner_id),
        )
        .where(*in_period)
        .order_by(Task.due_date, Task.id)
    )
    today = now.astimezone(local.tz).date()

    def shape(r: Any) -> Row:
        id_, title, owner_kind, owner_id, member_name, due, status, done_at, created_at = r
        owner = names.groups.get(owner_id, "") if owner_kind == "group" else member_name
        if status == "open" and due < today:
            status = "overdue"
        return [
            id_,
            title,
            owner or "",
            due.isoformat(),
            TASK_NAMES[status],
            local(done_at),
            postponed.get(id_, 0),
            local(created_at),
        ]

    return Sheet(
        "tasks",
        "任务清单",
        ("编号", "任务", "负责人", "期限", "状态", "完成时间", "延期次数", "布置时间"),
        _rows(session, query, shape),
    )


async def open_ledger(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    *,
    now: datetime,
) -> Ledger:
    """The ledger a person (or the command line) asked for, within what they may see, with its
    sheets ready to be read while the session is open."""
    scope, period = await resolve_request(
        session, org_id, tz, actor, period_text, branch_name, now=now
    )
    return Ledger(scope, period, await sheets(session, org_id, tz, scope, period, now=now))


async def resolve_request(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    *,
    now: datetime,
) -> tuple[Scope, ReportPeriod]:
    """The period and the branches of a report request, refused as the report itself would be
    (a period it cannot read, a branch out of the caller's scope): cheap, so a handler checks
    before it queues the report."""
    period = parse_report_period(period_text, now.astimezone(tz).date())
    scope = await resolve_scope(session, org_id, actor, branch_name)
    return scope, period


async def build(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    *,
    now: datetime,
) -> tuple[Scope, ReportPeriod, list[Table]]:
    """As `open_ledger`, with every sheet read whole."""
    found = await open_ledger(session, org_id, tz, actor, period_text, branch_name, now=now)
    return found.scope, found.period, await found.tables()


def file_stem(scope: Scope, period: ReportPeriod) -> str:
    return f"台账-{scope.label or '全部'}-{period.key}"
