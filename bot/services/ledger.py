"""台账: the records of a period as tables, one row per member and thing, with Chinese headers,
for the XLSX and CSV exports, the statistics and the summary.

A period is a month, a quarter, a half-year or a year in the organisation's zone; a scope is one
branch or (for an admin) the whole organisation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.errors import Denied, Invalid, NotFound
from bot.services import items, money
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

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?q([1-4])$")
_HALF = re.compile(r"^(\d{4})-?h([12])$")
_YEAR = re.compile(r"^(\d{4})$")
_YEARS = (2000, 2100)


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
    """`YYYY-MM`, `YYYY-Qn`, `YYYY-H1`, `YYYY-H2` or `YYYY`; nothing means this quarter."""
    word = (text or "").strip().lower().replace("/", "-")
    if not word:
        q = (today.month - 1) // 3 + 1
        word = f"{today.year}-q{q}"
    if (m := _MONTH.match(word)) and 1 <= int(m[2]) <= 12:
        start = date(int(m[1]), int(m[2]), 1)
        period = ReportPeriod(f"{start.year}-{start.month:02d}", start, _add_months(start, 1))
    elif m := _QUARTER.match(word):
        start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        period = ReportPeriod(f"{m[1]}-Q{m[2]}", start, _add_months(start, 3))
    elif m := _HALF.match(word):
        start = date(int(m[1]), 1 if m[2] == "1" else 7, 1)
        period = ReportPeriod(f"{m[1]}-H{m[2]}", start, _add_months(start, 6))
    elif m := _YEAR.match(word):
        start = date(int(m[1]), 1, 1)
        period = ReportPeriod(m[1], start, date(start.year + 1, 1, 1))
    else:
        raise Invalid("period.usage", value=(text or "").strip())
    if not _YEARS[0] <= period.start.year <= _YEARS[1]:
        raise Invalid("period.usage", value=(text or "").strip())
    return period


@dataclass(frozen=True)
class Scope:
    """The branches a report covers, and what to call it."""

    branch_ids: tuple[int, ...]
    label: str


async def resolve_scope(
    session: AsyncSession, org_id: int, actor: Actor, branch_name: str | None
) -> Scope:
    """A secretary: their branch (or, named, only their own); an admin: all, or the one named."""
    name = (branch_name or "").strip().lstrip("#").strip()
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
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def __call__(self, moment: datetime | None) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


async def _directory(
    session: AsyncSession, scope: Scope
) -> tuple[dict[int, Member], dict[int, str], dict[int, str]]:
    members = {
        m.id: m
        for m in (
            await session.scalars(
                select(Member)
                .where(Member.branch_id.in_(scope.branch_ids))
                .order_by(Member.branch_id, Member.group_id, Member.name)
            )
        ).all()
    }
    branches = {
        b.id: b.name
        for b in (await session.scalars(select(Branch).where(Branch.id.in_(scope.branch_ids))))
    }
    groups = {
        g.id: g.name
        for g in (await session.scalars(select(Group).where(Group.branch_id.in_(scope.branch_ids))))
    }
    return members, branches, groups


def members_table(members: dict[int, Member], who: Callable[[int], list[Any]]) -> Table:
    return Table(
        "members",
        "党员",
        (
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
        ),
        [
            [
                m.id,
                *who(m.id),
                ROLE_NAMES[m.role],
                m.phone or "",
                "是" if m.committee or m.role is Role.SECRETARY else "否",
                "是" if m.telegram_user_id else "否",
                "是" if m.active else "否",
                Decimal(money.amount_text(m.dues_cents)) if m.dues_cents is not None else "",
            ]
            for m in members.values()
        ],
    )


async def member_rows(session: AsyncSession, scope: Scope) -> Table:
    """Only the members sheet, for the dashboard's member list."""
    members, branches, groups = await _directory(session, scope)

    def who(member_id: int) -> list[Any]:
        m = members[member_id]
        return [m.name, branches.get(m.branch_id or 0, ""), groups.get(m.group_id or 0, "")]

    return members_table(members, who)


async def ledger_tables(
    session: AsyncSession,
    org_id: int,
    tz: ZoneInfo,
    scope: Scope,
    period: ReportPeriod,
    *,
    now: datetime,
) -> list[Table]:
    """Every sheet of the ledger for the scope and period."""
    members, branches, groups = await _directory(session, scope)
    local = _Clock(tz)
    since, until = period.bounds(tz)

    def who(member_id: int) -> list[Any]:
        m = members[member_id]
        return [m.name, branches.get(m.branch_id or 0, ""), groups.get(m.group_id or 0, "")]

    tables = [members_table(members, who)]
    for kind, key, title, done in (
        (items.KIND_STUDY, "study", "学习与确认", "已学习"),
        (items.KIND_REMINDER, "reminders", "廉政提醒与已阅", "已阅"),
    ):
        rows = (
            await session.execute(
                select(Item, Receipt)
                .join(Receipt, Receipt.item_id == Item.id)
                .where(
                    Item.organisation_id == org_id,
                    Item.kind == kind,
                    Item.published_at >= since,
                    Item.published_at < until,
                    Receipt.member_id.in_(members),
                )
                .order_by(Item.published_at, Item.id, Receipt.member_id)
            )
        ).all()
        tables.append(
            Table(
                key,
                title,
                (
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
                ),
                [
                    [
                        item.id,
                        item.title,
                        local(item.published_at),
                        local(item.deadline),
                        *who(receipt.member_id),
                        done if receipt.confirmed_at else "未确认",
                        local(receipt.confirmed_at),
                        receipt.reflection or "",
                    ]
                    for item, receipt in rows
                ],
            )
        )
    tables.append(await _meetings(session, org_id, scope, since, until, who, local))
    tables.append(await _volunteers(session, org_id, since, until, members, who, local))
    tables.append(await _dues(session, period, members, who, local))
    tables.append(await _tasks(session, org_id, scope, period, now, members, groups, local))
    return tables


Who = Callable[[int], list[Any]]


async def _meetings(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    since: datetime,
    until: datetime,
    who: Who,
    local: _Clock,
) -> Table:
    rows = (
        await session.execute(
            select(Meeting, Invitation)
            .join(Invitation, Invitation.meeting_id == Meeting.id)
            .where(
                Meeting.organisation_id == org_id,
                Meeting.branch_id.in_(scope.branch_ids),
                Meeting.status != "cancelled",
                Meeting.starts_at >= since,
                Meeting.starts_at < until,
            )
            .order_by(Meeting.starts_at, Meeting.id, Invitation.member_id)
        )
    ).all()
    made_up = {
        (item_id, member_id): at
        for item_id, member_id, at in (
            await session.execute(
                select(Receipt.item_id, Receipt.member_id, Receipt.confirmed_at).where(
                    Receipt.item_id.in_(
                        [m.makeup_item_id for m, _ in rows if m.makeup_item_id is not None]
                    ),
                    Receipt.confirmed_at.is_not(None),
                )
            )
        ).all()
    }
    return Table(
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
        [
            [
                meeting.id,
                KIND_NAMES.get(meeting.kind, meeting.kind),
                meeting.title,
                local(meeting.starts_at),
                meeting.place or "",
                *who(invitation.member_id),
                ANSWER_NAMES.get(invitation.answer, ""),
                invitation.leave_reason or "",
                local(invitation.checked_in_at),
                OUTCOME_NAMES.get(invitation.outcome, "")
                if meeting.status == "closed"
                else "未结束",
                local(made_up.get((meeting.makeup_item_id or 0, invitation.member_id))),
            ]
            for meeting, invitation in rows
        ],
    )


async def _volunteers(
    session: AsyncSession,
    org_id: int,
    since: datetime,
    until: datetime,
    members: dict[int, Member],
    who: Who,
    local: _Clock,
) -> Table:
    rows = (
        await session.execute(
            select(Activity, SignUp)
            .join(SignUp, SignUp.activity_id == Activity.id)
            .where(
                Activity.organisation_id == org_id,
                Activity.status != "cancelled",
                Activity.starts_at >= since,
                Activity.starts_at < until,
                SignUp.member_id.in_(members),
            )
            .order_by(Activity.starts_at, Activity.id, SignUp.queued_at, SignUp.id)
        )
    ).all()

    def served(signup: SignUp) -> Decimal | str:
        if signup.outcome != "served":
            return ""
        minutes = signup.adjusted_minutes if signup.adjusted_minutes is not None else signup.minutes
        return hours(minutes or 0)

    return Table(
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
        [
            [
                activity.id,
                activity.title,
                local(activity.starts_at),
                local(activity.ends_at),
                activity.place,
                activity.capacity,
                *who(signup.member_id),
                SIGNUP_NAMES.get(signup.status, signup.status),
                local(signup.checked_in_at),
                local(signup.checked_out_at),
                served(signup),
                SERVICE_NAMES.get(signup.outcome, ""),
            ]
            for activity, signup in rows
        ],
    )


async def _dues(
    session: AsyncSession,
    period: ReportPeriod,
    members: dict[int, Member],
    who: Who,
    local: _Clock,
) -> Table:
    rows = (
        await session.scalars(
            select(DuesPayment)
            .where(
                DuesPayment.member_id.in_(members),
                DuesPayment.month >= period.start,
                DuesPayment.month < period.end,
            )
            .order_by(DuesPayment.month, DuesPayment.member_id)
        )
    ).all()
    return Table(
        "dues",
        "党费",
        ("月份", "姓名", "支部", "党小组", "金额（元）", "状态", "报告时间", "确认时间"),
        [
            [
                p.month.strftime("%Y-%m"),
                *who(p.member_id),
                Decimal(money.amount_text(p.amount_cents)),
                DUES_NAMES.get(p.status, p.status),
                local(p.reported_at),
                local(p.confirmed_at),
            ]
            for p in rows
        ],
    )


async def _tasks(
    session: AsyncSession,
    org_id: int,
    scope: Scope,
    period: ReportPeriod,
    now: datetime,
    members: dict[int, Member],
    groups: dict[int, str],
    local: _Clock,
) -> Table:
    rows = (
        await session.scalars(
            select(Task)
            .where(
                Task.organisation_id == org_id,
                Task.branch_id.in_(scope.branch_ids),
                Task.due_date >= period.start,
                Task.due_date < period.end,
            )
            .order_by(Task.due_date, Task.id)
        )
    ).all()
    postponed = dict(
        (
            await session.execute(
                select(TaskEvent.task_id, func.count(TaskEvent.id))
                .where(TaskEvent.task_id.in_([t.id for t in rows]), TaskEvent.kind == "postponed")
                .group_by(TaskEvent.task_id)
            )
        ).all()
    )
    today = now.astimezone(local.tz).date()

    def owner(task: Task) -> str:
        if task.owner_kind == "group":
            return groups.get(task.owner_id, "")
        member = members.get(task.owner_id)
        return member.name if member else ""

    def status(task: Task) -> str:
        if task.status == "open" and task.due_date < today:
            return TASK_NAMES["overdue"]
        return TASK_NAMES[task.status]

    return Table(
        "tasks",
        "任务清单",
        ("编号", "任务", "负责人", "期限", "状态", "完成时间", "延期次数", "布置时间"),
        [
            [
                task.id,
                task.title,
                owner(task),
                task.due_date.isoformat(),
                status(task),
                local(task.done_at),
                postponed.get(task.id, 0),
                local(task.created_at),
            ]
            for task in rows
        ],
    )


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
    """The ledger a person (or the command line) asked for, within what they may see."""
    period = parse_report_period(period_text, now.astimezone(tz).date())
    scope = await resolve_scope(session, org_id, actor, branch_name)
    return scope, period, await ledger_tables(session, org_id, tz, scope, period, now=now)


def file_stem(scope: Scope, period: ReportPeriod) -> str:
    return f"台账-{scope.label or '全部'}-{period.key}"
