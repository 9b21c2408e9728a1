"""Who a push goes to: the organisation, one branch or one group, within the sender's scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.errors import Denied, Invalid, NotFound
from bot.services.names import normalise_name
from storage.models import Branch, Group, Invitation, Meeting, Member, Role

# A make-up item (补学) goes to those on leave or absent from one meeting.
MAKEUP_OUTCOMES = ("leave", "absent")


@dataclass(frozen=True)
class Audience:
    # "org" | "branch" | "group"; "committee" (a branch's committee, id = branch id);
    # "meeting" (a meeting's absentees, id = meeting id)
    kind: str
    id: int | None
    label: str


async def default_audience(session: AsyncSession, actor: Actor) -> Audience:
    """Admins address the organisation; secretaries their branch; group leaders their group."""
    if actor.role is Role.ADMIN:
        return Audience("org", None, "")
    if actor.role is Role.SECRETARY and actor.branch_id is not None:
        branch = await session.get(Branch, actor.branch_id)
        assert branch is not None
        return Audience("branch", branch.id, branch.name)
    if actor.role is Role.GROUP_LEADER and actor.group_id is not None:
        group = await session.get(Group, actor.group_id)
        assert group is not None
        return Audience("group", group.id, group.name)
    raise Denied("out_of_scope")


async def resolve_audience(
    session: AsyncSession, org_id: int, actor: Actor, ref: str | None
) -> Audience:
    """`#第一支部`, `#第一党小组` or `#第一支部/第一党小组`; None means the default audience."""
    if ref is None or not ref.strip().lstrip("#"):
        return await default_audience(session, actor)
    name = normalise_name(normalise_name(ref).lstrip("#"))
    branch_name, _, group_name = name.partition("/")
    branch_name, group_name = normalise_name(branch_name), normalise_name(group_name)
    if group_name:
        rows = (
            await session.execute(
                select(Group, Branch)
                .join(Branch, Group.branch_id == Branch.id)
                .where(
                    Branch.organisation_id == org_id,
                    Branch.name == branch_name,
                    Group.name == group_name,
                )
            )
        ).all()
        groups = [(g, b) for g, b in rows]
    else:
        branch = await session.scalar(
            select(Branch).where(Branch.organisation_id == org_id, Branch.name == name)
        )
        if branch is not None:
            if not can_manage_branch(actor, branch.id):
                raise Denied("out_of_scope")
            return Audience("branch", branch.id, branch.name)
        rows = (
            await session.execute(
                select(Group, Branch)
                .join(Branch, Group.branch_id == Branch.id)
                .where(Branch.organisation_id == org_id, Group.name == name)
            )
        ).all()
        groups = [(g, b) for g, b in rows]
    visible = [
        (g, b)
        for g, b in groups
        if can_manage_branch(actor, b.id)
        or (actor.role is Role.GROUP_LEADER and actor.group_id == g.id)
    ]
    if not visible:
        if groups:
            raise Denied("out_of_scope")
        raise NotFound("unknown_audience", name=name)
    if len(visible) > 1:
        raise Invalid(
            "ambiguous_audience",
            name=name,
            options="、".join(f"#{b.name}/{g.name}" for g, b in visible),
        )
    group, branch = visible[0]
    return Audience("group", group.id, f"{branch.name}/{group.name}")


def chat_of(member: Member) -> int | None:
    """The member's chat, if a push can reach them (joined the bot and has not blocked it)."""
    return member.chat_id if member.unreachable_at is None else None


def reachable(member: Member) -> bool:
    return chat_of(member) is not None


async def audience_members(
    session: AsyncSession, org_id: int, kind: str, audience_id: int | None
) -> list[Member]:
    """Active roster members of the audience (organisation-level admin records excluded)."""
    query = select(Member).where(
        Member.organisation_id == org_id, Member.active.is_(True), Member.branch_id.is_not(None)
    )
    if kind == "branch":
        query = query.where(Member.branch_id == audience_id)
    elif kind == "group":
        query = query.where(Member.group_id == audience_id)
    elif kind == "committee":
        query = query.where(
            Member.branch_id == audience_id,
            or_(Member.committee.is_(True), Member.role == Role.SECRETARY),
        )
    elif kind == "meeting":
        absentees = select(Invitation.member_id).where(
            Invitation.meeting_id == audience_id, Invitation.outcome.in_(MAKEUP_OUTCOMES)
        )
        query = query.where(Member.id.in_(absentees))
    return list((await session.scalars(query.order_by(Member.id))).all())


async def may_manage(
    session: AsyncSession, actor: Actor, kind: str, audience_id: int | None
) -> bool:
    """Whether the actor may follow up on something sent to this audience."""
    if actor.role is Role.ADMIN:
        return True
    if kind in ("branch", "committee"):
        return can_manage_branch(actor, audience_id)
    if kind == "meeting" and audience_id is not None:
        meeting = await session.get(Meeting, audience_id)
        if meeting is None:
            return False
        target = ("group", meeting.group_id) if meeting.group_id else ("branch", meeting.branch_id)
        return await may_manage(session, actor, *target)
    if kind == "group" and audience_id is not None:
        group = await session.get(Group, audience_id)
        if group is None:
            return False
        return can_manage_branch(actor, group.branch_id) or (
            actor.role is Role.GROUP_LEADER and actor.group_id == audience_id
        )
    return False
