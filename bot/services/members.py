"""Members as seen by the bot: the caller's identity, their record, overviews and roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.auth import Actor, can_grant, can_manage_branch, can_see_group
from bot.channels.address import is_alias
from bot.errors import Denied, Invalid, NotFound
from bot.services import audit
from bot.services.names import normalise_name
from storage.fast import Prepared, Reader, reader_of
from storage.models import Branch, Contact, DashboardSession, Group, Member, Role

LANGUAGES = ("zh", "en")

# Prebuilt Core statements for the lookups every update makes: the columns alone, no ORM entity,
# and SQLAlchemy builds their SQL and cache key once.
_members = Member.__table__
_branches = Branch.__table__
_groups = Group.__table__
_ACTOR_COLUMNS = (
    _members.c.id,
    _members.c.name,
    _members.c.role,
    _members.c.branch_id,
    _members.c.group_id,
    _members.c.language,
)
_ACTOR_BY_TELEGRAM_ID = select(*_ACTOR_COLUMNS).where(
    _members.c.telegram_user_id == bindparam("telegram_user_id"), _members.c.active.is_(True)
)
_contacts = Contact.__table__
# A caller on another channel, by the alias the core knows them by (bot.channels.address).
_ACTOR_BY_ALIAS = (
    select(*_ACTOR_COLUMNS)
    .select_from(_members.join(_contacts, _contacts.c.member_id == _members.c.id))
    .where(_contacts.c.chat_id == bindparam("chat_id"), _members.c.active.is_(True))
)
_ACTOR_BY_ID = select(*_ACTOR_COLUMNS).where(
    _members.c.id == bindparam("member_id"),
    _members.c.active.is_(True),
    _members.c.chat_id.is_not(None),
)
# A member's record with their branch's and group's names: what /me and /start show.
_MY_RECORD = Prepared(
    select(
        _members.c.id,
        _members.c.name,
        _members.c.role,
        _branches.c.name.label("branch_name"),
        _groups.c.name.label("group_name"),
        _members.c.phone,
        _members.c.language,
        _members.c.chat_id,
        _members.c.bound_at,
        _members.c.active,
        _members.c.committee,
    )
    .select_from(
        _members.outerjoin(_branches, _branches.c.id == _members.c.branch_id).outerjoin(
            _groups, _groups.c.id == _members.c.group_id
        )
    )
    .where(_members.c.id == bindparam("member_id"))
)


@dataclass(frozen=True)
class Directory:
    """Branch and group names of one organisation, for rendering ids as names."""

    branches: dict[int, str]
    groups: dict[int, str]

    def branch(self, branch_id: int | None) -> str:
        return self.branches.get(branch_id, "") if branch_id is not None else ""

    def group(self, group_id: int | None) -> str:
        return self.groups.get(group_id, "") if group_id is not None else ""


async def load_directory(session: AsyncSession, org_id: int) -> Directory:
    branch_rows = await session.execute(
        select(Branch.id, Branch.name).where(Branch.organisation_id == org_id)
    )
    group_rows = await session.execute(
        select(Group.id, Group.name).join(Branch).where(Branch.organisation_id == org_id)
    )
    return Directory(
        {row.id: row.name for row in branch_rows}, {row.id: row.name for row in group_rows}
    )


@dataclass(frozen=True)
class MemberView:
    id: int
    name: str
    role: Role
    branch: str
    group: str
    phone: str | None
    language: str | None
    bound: bool
    bound_at: datetime | None
    active: bool
    committee: bool


async def member_view(session: AsyncSession, member: Member) -> MemberView:
    branch = await session.get(Branch, member.branch_id) if member.branch_id else None
    group = await session.get(Group, member.group_id) if member.group_id else None
    return MemberView(
        id=member.id,
        name=member.name,
        role=member.role,
        branch=branch.name if branch else "",
        group=group.name if group else "",
        phone=member.phone,
        language=member.language,
        bound=member.chat_id is not None,
        bound_at=member.bound_at,
        active=member.active,
        committee=member.committee,
    )


async def get_actor(
    session: AsyncSession | AsyncConnection, telegram_user_id: int, default_language: str
) -> Actor | None:
    """The active member bound to this account (a Telegram id, or another channel's alias), or
    None for a stranger. Runs for every update: one prebuilt statement."""
    if is_alias(telegram_user_id):
        row = (await session.execute(_ACTOR_BY_ALIAS, {"chat_id": telegram_user_id})).first()
    else:
        row = (
            await session.execute(_ACTOR_BY_TELEGRAM_ID, {"telegram_user_id": telegram_user_id})
        ).first()
    return _actor_of(row, default_language)


_FIND_ACTOR = Prepared(_ACTOR_BY_TELEGRAM_ID)
_FIND_ACTOR_BY_ALIAS = Prepared(_ACTOR_BY_ALIAS)


async def find_actor(reader: Reader, telegram_user_id: int, default_language: str) -> Actor | None:
    """get_actor on a prepared statement (storage.fast): the caller of every update, read
    outside any session."""
    if is_alias(telegram_user_id):
        row = await reader.first(_FIND_ACTOR_BY_ALIAS, {"chat_id": telegram_user_id})
    else:
        row = await reader.first(_FIND_ACTOR, {"telegram_user_id": telegram_user_id})
    return _actor_of(row, default_language)


async def actor_by_id(session: AsyncSession, member_id: int, default_language: str) -> Actor | None:
    """The active, bound member with this roster number (a dashboard session's), or None."""
    row = (await session.execute(_ACTOR_BY_ID, {"member_id": member_id})).first()
    return _actor_of(row, default_language)


def _actor_of(row: Any, default_language: str) -> Actor | None:
    if row is None:
        return None
    return Actor(
        member_id=row.id,
        name=row.name,
        role=row.role,
        branch_id=row.branch_id,
        group_id=row.group_id,
        language=row.language or default_language,
    )


async def my_record(source: AsyncSession | Reader, actor: Actor) -> MemberView:
    """The caller's own record with their branch and group names, in one statement."""
    row = await reader_of(source).first(_MY_RECORD, {"member_id": actor.member_id})
    if row is None:
        raise NotFound("not_registered")
    return MemberView(
        id=row.id,
        name=row.name,
        role=row.role,
        branch=row.branch_name or "",
        group=row.group_name or "",
        phone=row.phone,
        language=row.language,
        bound=row.chat_id is not None,
        bound_at=row.bound_at,
        active=row.active,
        committee=row.committee,
    )


async def set_language(session: AsyncSession, actor: Actor, language: str) -> str:
    if language not in LANGUAGES:
        raise Invalid("lang_usage")
    member = await session.get(Member, actor.member_id)
    if member is None:
        raise NotFound("not_registered")
    if member.language != language:
        audit.record(
            session,
            action="member.language",
            entity="member",
            entity_id=member.id,
            actor_member_id=actor.member_id,
            old=member.language,
            new=language,
        )
        member.language = language
        await session.commit()
    return language


@dataclass(frozen=True)
class GroupCount:
    branch: str
    group: str
    bound: int
    unbound: int


@dataclass(frozen=True)
class MembersOverview:
    counts: list[GroupCount]
    unbound: list[tuple[str, str, str]]  # (name, branch, group)

    @property
    def total_bound(self) -> int:
        return sum(c.bound for c in self.counts)

    @property
    def total_unbound(self) -> int:
        return sum(c.unbound for c in self.counts)


async def members_overview(
    session: AsyncSession, org_id: int, actor: Actor, branch_name: str | None = None
) -> MembersOverview:
    """Bound and unbound counts per group within what the actor may see."""
    query = select(Member).where(
        Member.organisation_id == org_id,
        Member.active.is_(True),
        Member.branch_id.is_not(None),
    )
    if branch_name:
        branch = await find_branch(session, org_id, branch_name)
        if not can_manage_branch(actor, branch.id):
            raise Denied("out_of_scope")
        query = query.where(Member.branch_id == branch.id)
    elif actor.role is Role.GROUP_LEADER:
        query = query.where(Member.group_id == actor.group_id)
    elif actor.role is not Role.ADMIN:
        query = query.where(Member.branch_id == actor.branch_id)
    members = [
        m
        for m in (await session.scalars(query.order_by(Member.name))).all()
        if can_see_group(actor, m.branch_id, m.group_id)
    ]
    directory = await load_directory(session, org_id)
    tally: dict[tuple[str, str], list[int]] = {}
    unbound: list[tuple[str, str, str]] = []
    for m in members:
        key = (directory.branch(m.branch_id), directory.group(m.group_id))
        slot = tally.setdefault(key, [0, 0])
        if m.chat_id is None:
            slot[1] += 1
            unbound.append((m.name, key[0], key[1]))
        else:
            slot[0] += 1
    counts = [GroupCount(b, g, v[0], v[1]) for (b, g), v in sorted(tally.items())]
    unbound.sort(key=lambda u: (u[1], u[2], u[0]))
    return MembersOverview(counts, unbound)


async def find_branch(session: AsyncSession, org_id: int, name: str) -> Branch:
    branch = await session.scalar(
        select(Branch).where(Branch.organisation_id == org_id, Branch.name == normalise_name(name))
    )
    if branch is None:
        raise NotFound("unknown_branch", name=name)
    return branch


async def find_member(session: AsyncSession, org_id: int, actor: Actor, ref: str) -> Member:
    """A member by roster number ("#12" or "12") or exact name, among those the actor manages.
    The name is normalised as roster names are (`张\u200b三` finds 张三)."""
    ref = normalise_name(ref)
    match = re.fullmatch(r"#?([0-9]{1,9})", ref)
    if match:
        candidates = list(
            (
                await session.scalars(
                    select(Member).where(
                        Member.id == int(match[1]), Member.organisation_id == org_id
                    )
                )
            ).all()
        )
    else:
        candidates = list(
            (
                await session.scalars(
                    select(Member).where(Member.name == ref, Member.organisation_id == org_id)
                )
            ).all()
        )
    visible = [m for m in candidates if m.active and can_manage_branch(actor, m.branch_id)]
    if not visible:
        raise NotFound("unknown_member", name=ref)
    if len(visible) > 1:
        directory = await load_directory(session, org_id)
        options = "; ".join(f"#{m.id} {m.name} ({directory.branch(m.branch_id)})" for m in visible)
        raise Invalid("ambiguous_member", name=ref, options=options)
    return visible[0]


@dataclass(frozen=True)
class RoleChange:
    member: MemberView
    old: Role
    new: Role


async def set_role(
    session: AsyncSession, org_id: int, actor: Actor, ref: str, role: Role
) -> RoleChange:
    member = await find_member(session, org_id, actor, ref)
    if not can_grant(actor, role, member.role):
        raise Denied("cannot_grant", role=role.value)
    old = member.role
    if old is not role:
        member.role = role
        audit.record(
            session,
            action="member.role",
            entity="member",
            entity_id=member.id,
            actor_member_id=actor.member_id,
            old=old.value,
            new=role.value,
        )
        # Dashboard sessions opened under the old role end with it.
        await session.execute(
            delete(DashboardSession).where(DashboardSession.member_id == member.id)
        )
        await session.commit()
    return RoleChange(await member_view(session, member), old, role)
