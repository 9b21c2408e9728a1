"""任务清单: tasks with an owner (a member, or a group acted for by its leaders) and a due date;
reminders before it, one escalation to the creator after it, postponement with a reason, and a
ledger ticked off when done (对账销号). Every change is a row in the task's history.

Jobs carry the task's revision, which a postponement increases: the reminders and the escalation
planned for the old date then do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.config import TasksConfig, parse_hhmm
from bot.delivery import Outgoing, enqueue
from bot.errors import Denied, Invalid, NotFound
from bot.scheduler import Firing, add_job
from bot.services import audit, items
from bot.services import ledger as ledger_scope
from bot.services.audience import chat_of, resolve_audience
from bot.services.members import find_member
from bot.texts import plain, t
from storage.models import Group, Member, Role, Task, TaskEvent

JOB_REMIND = "task_reminder"
JOB_ESCALATE = "task_escalate"
MAX_TITLE = 100
MAX_REASON = 200


@dataclass(frozen=True)
class TaskSettings(items.PushScoped):
    push: items.PushSettings
    cfg: TasksConfig


@dataclass(frozen=True)
class Owner:
    kind: str  # member | group
    id: int
    label: str
    branch_id: int


def today(settings: TaskSettings, now: datetime) -> date:
    return now.astimezone(settings.tz).date()


def _at(settings: TaskSettings, day: date) -> datetime:
    at = parse_hhmm(settings.cfg.remind_time)
    assert at is not None  # validated with the config
    return datetime.combine(day, at, tzinfo=settings.tz)


async def resolve_owner(
    session: AsyncSession, settings: TaskSettings, actor: Actor, ref: str
) -> Owner:
    """`张三` or `#12` (a member), `#第一党小组` or `#支部/小组` (a group, acted for by its
    leaders), within the actor's scope."""
    ref = ref.strip()
    if not ref:
        raise Invalid("task.usage")
    if ref.startswith("#") and not ref[1:].isdigit():
        audience = await resolve_audience(session, settings.org_id, actor, ref)
        if audience.kind != "group" or audience.id is None:
            raise Invalid("task.owner_not_group", name=ref)
        group = await session.get(Group, audience.id)
        assert group is not None
        if not await _leaders(session, group.id):
            raise Invalid("task.no_leader", name=audience.label)
        return Owner("group", group.id, audience.label, group.branch_id)
    member = await find_member(session, settings.org_id, actor, ref)
    if member.branch_id is None:
        raise NotFound("unknown_member", name=ref)
    return Owner("member", member.id, member.name, member.branch_id)


async def _leaders(session: AsyncSession, group_id: int) -> list[Member]:
    return list(
        (
            await session.scalars(
                select(Member)
                .where(
                    Member.group_id == group_id,
                    Member.role == Role.GROUP_LEADER,
                    Member.active.is_(True),
                )
                .order_by(Member.id)
            )
        ).all()
    )


async def _owners(session: AsyncSession, task: Task) -> list[Member]:
    """Who acts on the task: the member, or the group's leaders."""
    if task.owner_kind == "group":
        return await _leaders(session, task.owner_id)
    member = await session.get(Member, task.owner_id)
    return [member] if member is not None and member.active else []


def may_act(actor: Actor, task: Task) -> bool:
    if task.owner_kind == "member":
        return actor.member_id == task.owner_id
    return actor.role is Role.GROUP_LEADER and actor.group_id == task.owner_id


def task_buttons(task_id: int, lang: str) -> dict[str, object]:
    return {
        "inline_keyboard": [
            [
                {"text": plain(t(lang, "task.btn_done")), "callback_data": f"tk:dn:{task_id}"},
                {"text": plain(t(lang, "task.btn_postpone")), "callback_data": f"tk:pp:{task_id}"},
            ]
        ]
    }


def describe(task: Task, lang: str) -> str:
    return t(lang, "task.card", id=task.id, title=task.title, due=task.due_date.isoformat())


async def _tell(
    session: AsyncSession,
    settings: TaskSettings,
    task: Task,
    members: list[Member],
    key: str,
    *,
    now: datetime,
    buttons: bool = False,
    **params: object,
) -> int:
    outgoing = []
    for member in members:
        chat = chat_of(member)
        # Someone who has left the roster (an old creator, say) hears nothing more.
        if chat is None or not member.active:
            continue
        lang = settings.push.language_of(member)
        text = t(lang, key, **params) + "\n" + describe(task, lang)
        markup = task_buttons(task.id, lang) if buttons else None
        outgoing.append(Outgoing(chat, member.id, text, "notice", markup=markup))
    await enqueue(session, outgoing, now=now, quiet=settings.push.quiet)
    return len(outgoing)


async def _creator(session: AsyncSession, task: Task) -> list[Member]:
    if task.created_by_member_id is None:
        return []
    creator = await session.get(Member, task.created_by_member_id)
    return [creator] if creator is not None else []


def _plan(session: AsyncSession, settings: TaskSettings, task: Task, now: datetime) -> None:
    for days in settings.cfg.remind_before_days:
        moment = _at(settings, task.due_date - timedelta(days=days))
        if moment > now:
            add_job(
                session,
                organisation_id=settings.org_id,
                kind=JOB_REMIND,
                payload={"task_id": task.id, "revision": task.revision, "days": days},
                first=moment,
            )
    add_job(
        session,
        organisation_id=settings.org_id,
        kind=JOB_ESCALATE,
        payload={"task_id": task.id, "revision": task.revision},
        first=max(_at(settings, task.due_date + timedelta(days=1)), now),
    )


def _event(
    session: AsyncSession,
    task: Task,
    kind: str,
    now: datetime,
    actor_member_id: int | None = None,
    **fields: object,
) -> None:
    session.add(
        TaskEvent(task_id=task.id, at=now, kind=kind, actor_member_id=actor_member_id, **fields)
    )


# ---------------------------------------------------------------- creating and acting


@dataclass(frozen=True)
class Created:
    task_id: int
    title: str
    owner: str
    due: date
    told: int


async def create_task(
    session: AsyncSession,
    settings: TaskSettings,
    actor: Actor,
    title: str,
    owner: Owner,
    due: date,
    *,
    now: datetime,
) -> Created:
    title = title.strip()
    if not title:
        raise Invalid("task.usage")
    if len(title) > MAX_TITLE:
        raise Invalid("item.title_too_long", limit=MAX_TITLE)
    if due < today(settings, now):
        raise Invalid("task.due_in_past")
    if not can_manage_branch(actor, owner.branch_id):
        raise Denied("out_of_scope")
    task = Task(
        organisation_id=settings.org_id,
        branch_id=owner.branch_id,
        title=title,
        owner_kind=owner.kind,
        owner_id=owner.id,
        due_date=due,
        status="open",
        revision=0,
        created_by_member_id=actor.member_id,
        created_at=now,
    )
    session.add(task)
    await session.flush()
    _event(session, task, "created", now, actor.member_id, new_due=due)
    told = await _tell(
        session,
        settings,
        task,
        await _owners(session, task),
        "task.assigned",
        now=now,
        buttons=True,
    )
    _plan(session, settings, task, now)
    audit.record(
        session,
        action="task.created",
        entity="task",
        entity_id=task.id,
        actor_member_id=actor.member_id,
        owner=f"{owner.kind}:{owner.id}",
        due=due.isoformat(),
    )
    await session.commit()
    return Created(task.id, task.title, owner.label, due, told)


async def _locked_for_owner(
    session: AsyncSession, settings: TaskSettings, actor: Actor, task_id: int
) -> Task:
    task = await session.scalar(
        select(Task)
        .where(Task.id == task_id, Task.organisation_id == settings.org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    # Another member's task looks like no task at all.
    if task is None or not may_act(actor, task):
        raise Denied("not_your_button")
    return task


async def check_may_postpone(
    session: AsyncSession, settings: TaskSettings, actor: Actor, task_id: int
) -> Task:
    """Before asking for the new date: the task is the actor's and still open."""
    task = await session.get(Task, task_id)
    if task is None or task.organisation_id != settings.org_id or not may_act(actor, task):
        raise Denied("not_your_button")
    _require_open(task)
    return task


def _require_open(task: Task) -> None:
    """Only an open task takes the owner's 「完成」 or 「延期」: a withdrawn one is refused."""
    if task.status == "done":
        raise Invalid("task.is_done", title=task.title)
    if task.status != "open":
        raise Invalid("task.is_cancelled", title=task.title)


@dataclass(frozen=True)
class Done:
    task_id: int
    title: str
    already: bool


async def complete(
    session: AsyncSession, settings: TaskSettings, actor: Actor, task_id: int, *, now: datetime
) -> Done:
    """「完成」: ticked off once; pressing again changes nothing; a withdrawn task refuses."""
    task = await _locked_for_owner(session, settings, actor, task_id)
    if task.status == "done":
        return Done(task.id, task.title, True)
    _require_open(task)
    task.status = "done"
    task.done_at = now
    task.done_by_member_id = actor.member_id
    _event(session, task, "done", now, actor.member_id)
    await _tell(
        session,
        settings,
        task,
        await _creator(session, task),
        "task.done_notice",
        now=now,
        name=actor.name,
    )
    audit.record(
        session,
        action="task.done",
        entity="task",
        entity_id=task.id,
        actor_member_id=actor.member_id,
    )
    await session.commit()
    return Done(task.id, task.title, False)


@dataclass(frozen=True)
class Postponed:
    task_id: int
    title: str
    old_due: date
    new_due: date


async def postpone(
    session: AsyncSession,
    settings: TaskSettings,
    actor: Actor,
    task_id: int,
    new_due: date,
    reason: str,
    *,
    now: datetime,
) -> Postponed:
    """「延期」: a later date and a reason; the creator is told and the jobs move with it."""
    reason = reason.strip()
    if not reason:
        raise Invalid("task.no_reason")
    if len(reason) > MAX_REASON:
        raise Invalid("task.reason_too_long", limit=MAX_REASON, length=len(reason))
    task = await _locked_for_owner(session, settings, actor, task_id)
    _require_open(task)
    if new_due <= task.due_date or new_due < today(settings, now):
        raise Invalid("task.not_later", due=task.due_date.isoformat())
    old_due = task.due_date
    task.due_date = new_due
    # The old date's reminders and escalation now carry a stale revision and do nothing; the
    # new date may be escalated once again.
    task.revision += 1
    task.escalated_at = None
    _event(
        session,
        task,
        "postponed",
        now,
        actor.member_id,
        old_due=old_due,
        new_due=new_due,
        reason=reason,
    )
    _plan(session, settings, task, now)
    await _tell(
        session,
        settings,
        task,
        await _creator(session, task),
        "task.postponed_notice",
        now=now,
        name=actor.name,
        old=old_due.isoformat(),
        reason=reason,
    )
    audit.record(
        session,
        action="task.postponed",
        entity="task",
        entity_id=task.id,
        actor_member_id=actor.member_id,
        old_due=old_due.isoformat(),
        new_due=new_due.isoformat(),
        reason=reason,
    )
    await session.commit()
    return Postponed(task.id, task.title, old_due, new_due)


async def close_by_manager(
    session: AsyncSession,
    settings: TaskSettings,
    actor: Actor,
    task_id: int,
    *,
    cancel: bool,
    reason: str,
    now: datetime,
) -> Done:
    """A secretary ticks a task off (done on the owner's word) or cancels it with a reason: an
    owner who left, or a group without a leader, must not keep a task open for ever."""
    reason = reason.strip()
    if cancel and not reason:
        raise Invalid("task.no_reason")
    if len(reason) > MAX_REASON:
        raise Invalid("task.reason_too_long", limit=MAX_REASON, length=len(reason))
    task = await session.scalar(
        select(Task)
        .where(Task.id == task_id, Task.organisation_id == settings.org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if task is None:
        raise NotFound("task.unknown", id=task_id)
    if not can_manage_branch(actor, task.branch_id):
        raise Denied("out_of_scope")
    if task.status != "open":
        return Done(task.id, task.title, True)
    task.status = "cancelled" if cancel else "done"
    task.done_at = now
    task.done_by_member_id = actor.member_id
    _event(session, task, task.status, now, actor.member_id, reason=reason or None)
    audit.record(
        session,
        action=f"task.{task.status}",
        entity="task",
        entity_id=task.id,
        actor_member_id=actor.member_id,
        reason=reason,
    )
    await session.commit()
    return Done(task.id, task.title, False)


# ---------------------------------------------------------------- jobs


async def _current(session: AsyncSession, firing: Firing) -> Task | None:
    """The task the job was planned for, locked; None once done or moved."""
    task = await session.scalar(
        select(Task)
        .where(Task.id == int(firing.payload["task_id"]))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if task is None or task.status != "open" or task.revision != firing.payload.get("revision"):
        return None
    return task


async def fire_reminder(session: AsyncSession, settings: TaskSettings, firing: Firing) -> None:
    task = await _current(session, firing)
    if task is None or today(settings, firing.now) > task.due_date:
        return
    days = (task.due_date - today(settings, firing.now)).days
    await _tell(
        session,
        settings,
        task,
        await _owners(session, task),
        "task.reminder",
        now=firing.now,
        buttons=True,
        days=days,
    )
    _event(session, task, "reminded", firing.now)


async def fire_escalation(session: AsyncSession, settings: TaskSettings, firing: Firing) -> None:
    """Overdue: the creator hears once per due date, however often the job runs."""
    task = await _current(session, firing)
    if task is None or task.escalated_at is not None:
        return
    owners = await _owners(session, task)
    names = "、".join(m.name for m in owners) or "—"
    task.escalated_at = firing.now
    _event(session, task, "escalated", firing.now)
    await _tell(
        session,
        settings,
        task,
        await _creator(session, task),
        "task.escalation",
        now=firing.now,
        owners=names,
    )


# ---------------------------------------------------------------- ledger and history


@dataclass(frozen=True)
class TaskRow:
    id: int
    title: str
    owner: str
    due: date
    status: str  # open | overdue | done | cancelled
    done_at: datetime | None


async def _owner_labels(session: AsyncSession, tasks: list[Task]) -> dict[int, str]:
    labels: dict[int, str] = {}
    for task in tasks:
        if task.owner_kind == "group":
            group = await session.get(Group, task.owner_id)
            labels[task.id] = group.name if group else "—"
        else:
            member = await session.get(Member, task.owner_id)
            labels[task.id] = member.name if member else "—"
    return labels


class _TaskFields(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def due_date(self) -> date: ...
    @property
    def status(self) -> str: ...
    @property
    def done_at(self) -> datetime | None: ...


def _row(task: _TaskFields, owner: str, day: date) -> TaskRow:
    status = task.status
    if status == "open" and task.due_date < day:
        status = "overdue"
    return TaskRow(task.id, task.title, owner, task.due_date, status, task.done_at)


async def ledger(
    session: AsyncSession,
    settings: TaskSettings,
    actor: Actor,
    branch_name: str | None,
    *,
    now: datetime,
    done_limit: int = 20,
) -> tuple[list[TaskRow], dict[str, int]]:
    """对账销号: open and overdue tasks (soonest first), then the latest done or cancelled ones
    (at most `done_limit`), and how many there are of each, all of them counted."""
    scope = await ledger_scope.resolve_scope(session, settings.org_id, actor, branch_name)
    query = select(Task).where(
        Task.organisation_id == settings.org_id, Task.branch_id.in_(scope.branch_ids)
    )
    tasks = list((await session.scalars(query.order_by(Task.due_date, Task.id))).all())
    open_tasks = [task for task in tasks if task.status == "open"]
    closed = sorted(
        (task for task in tasks if task.status != "open"),
        key=lambda task: task.done_at or task.created_at,
        reverse=True,
    )
    day = today(settings, now)
    counts = {"open": 0, "overdue": 0, "done": 0, "cancelled": 0}
    for task in tasks:
        counts[_row(task, "", day).status] += 1
    shown = open_tasks + closed[:done_limit]
    labels = await _owner_labels(session, shown)
    return [_row(task, labels[task.id], day) for task in shown], counts


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str
    actor: str | None
    old_due: date | None
    new_due: date | None
    reason: str | None


async def history(
    session: AsyncSession, settings: TaskSettings, actor: Actor, task_id: int, *, now: datetime
) -> tuple[TaskRow, list[HistoryEntry]]:
    task = await session.get(Task, task_id)
    if task is None or task.organisation_id != settings.org_id:
        raise NotFound("task.unknown", id=task_id)
    if not (can_manage_branch(actor, task.branch_id) or may_act(actor, task)):
        raise Denied("out_of_scope")
    rows = (
        await session.execute(
            select(TaskEvent, Member.name)
            .outerjoin(Member, Member.id == TaskEvent.actor_member_id)
            .where(TaskEvent.task_id == task.id)
            .order_by(TaskEvent.at, TaskEvent.id)
        )
    ).all()
    labels = await _owner_labels(session, [task])
    entries = [HistoryEntry(e.at, e.kind, name, e.old_due, e.new_due, e.reason) for e, name in rows]
    return _row(task, labels[task.id], today(settings, now)), entries


_tasks = Task.__table__
_groups = Group.__table__
_members = Member.__table__
# The open tasks a member acts on: theirs, and their group's when they lead it (binds: org_id,
# member_id, leader_group_id, None for a member who leads no group). Prebuilt for /todo and /me.
_MINE = and_(
    _tasks.c.organisation_id == bindparam("org_id"),
    _tasks.c.status == "open",
    or_(
        and_(_tasks.c.owner_kind == "member", _tasks.c.owner_id == bindparam("member_id")),
        and_(_tasks.c.owner_kind == "group", _tasks.c.owner_id == bindparam("leader_group_id")),
    ),
)
_MY_OPEN_TASKS = (
    select(
        _tasks.c.id,
        _tasks.c.title,
        _tasks.c.due_date,
        _tasks.c.status,
        _tasks.c.done_at,
        # The owner's name, as _owner_labels gives it.
        case((_tasks.c.owner_kind == "group", _groups.c.name), else_=_members.c.name).label(
            "owner"
        ),
    )
    .select_from(
        _tasks.outerjoin(
            _groups, and_(_tasks.c.owner_kind == "group", _groups.c.id == _tasks.c.owner_id)
        ).outerjoin(
            _members, and_(_tasks.c.owner_kind != "group", _members.c.id == _tasks.c.owner_id)
        )
    )
    .where(_MINE)
    .order_by(_tasks.c.due_date, _tasks.c.id)
)
# How many of them there are, and how many are overdue (bind: today, the local date): one row,
# for /me's single statement.
MY_TASK_COUNTS = select(
    func.count().label("open_tasks"),
    func.count(case((_tasks.c.due_date < bindparam("today"), 1))).label("overdue_tasks"),
).where(_MINE)


def mine_params(settings: items.PushSettings, actor: Actor, now: datetime) -> dict[str, Any]:
    """The binds of _MY_OPEN_TASKS and MY_TASK_COUNTS."""
    leads = actor.group_id if actor.role is Role.GROUP_LEADER else None
    return {
        "org_id": settings.org_id,
        "member_id": actor.member_id,
        "leader_group_id": leads,
        "today": now.astimezone(settings.tz).date(),
    }


async def my_open_tasks(
    session: AsyncSession, settings: TaskSettings, actor: Actor, *, now: datetime
) -> list[TaskRow]:
    """The open tasks the member acts on (theirs, and their group's when they lead it)."""
    rows = (await session.execute(_MY_OPEN_TASKS, mine_params(settings.push, actor, now))).all()
    day = today(settings, now)
    return [_row(row, row.owner or "—", day) for row in rows]
