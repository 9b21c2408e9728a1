"""Invite codes and binding a Telegram account to a roster member."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor, can_manage_branch
from bot.channels.address import channel_of
from bot.errors import Denied, NotFound
from bot.services import accounts, audit, export_files
from bot.services.members import MemberView, find_branch, load_directory, member_view
from bot.texts import plain, t
from storage.models import InviteCode, Member, Role, utcnow

# No 0/o, 1/l/i: codes are sometimes read out or typed from paper.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 10


def looks_like_code(text: str) -> bool:
    """Whether a typed message is an invite code (and not, say, a greeting)."""
    return len(text) == CODE_LENGTH and all(c in _ALPHABET for c in text)


def issue_link_code(session: AsyncSession, member_id: int, hours: int) -> InviteCode:
    """A one-time code for a member to bind another messenger (/link): an invite of their own
    that lasts hours, not an invite's weeks. The caller commits."""
    invite = issue_invite(session, member_id, 1)
    invite.expires_at = invite.created_at + timedelta(hours=hours)
    return invite


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def issue_invite(session: AsyncSession, member_id: int, valid_days: int) -> InviteCode:
    now = utcnow()
    invite = InviteCode(
        member_id=member_id,
        code=new_code(),
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    session.add(invite)
    return invite


@dataclass(frozen=True)
class InviteLine:
    member_id: int
    name: str
    branch: str
    group: str
    code: str
    expires_at: datetime


async def invites_for_unbound(
    session: AsyncSession,
    org_id: int,
    *,
    valid_days: int,
    branch_id: int | None = None,
) -> list[InviteLine]:
    """Every active unbound member in scope with a usable code, issuing one where none is left.

    Commits when it had to issue codes, so the printed codes are the stored ones.
    """
    query = (
        select(Member)
        .where(
            Member.organisation_id == org_id,
            Member.chat_id.is_(None),
            Member.active.is_(True),
            Member.branch_id.is_not(None),
        )
        .order_by(Member.branch_id, Member.group_id, Member.name)
    )
    if branch_id is not None:
        query = query.where(Member.branch_id == branch_id)
    members = (await session.scalars(query)).all()
    now = utcnow()
    usable: dict[int, InviteCode] = {}
    if members:
        codes = await session.scalars(
            select(InviteCode).where(
                InviteCode.member_id.in_([m.id for m in members]),
                InviteCode.used_at.is_(None),
                InviteCode.expires_at > now,
            )
        )
        for code in codes:
            best = usable.get(code.member_id)
            if best is None or code.expires_at > best.expires_at:
                usable[code.member_id] = code
    issued = False
    for m in members:
        if m.id not in usable:
            usable[m.id] = issue_invite(session, m.id, valid_days)
            issued = True
    if issued:
        await session.commit()
    directory = await load_directory(session, org_id)
    return [
        InviteLine(
            m.id,
            m.name,
            directory.branch(m.branch_id),
            directory.group(m.group_id),
            usable[m.id].code,
            usable[m.id].expires_at,
        )
        for m in members
    ]


async def invites_in_scope(
    session: AsyncSession, org_id: int, actor: Actor, branch_name: str | None, *, valid_days: int
) -> list[InviteLine]:
    """Invites a secretary (own branch) or admin (all, or the named branch) may hand out."""
    if branch_name:
        branch = await find_branch(session, org_id, branch_name)
        if not can_manage_branch(actor, branch.id):
            raise Denied("out_of_scope")
        branch_id: int | None = branch.id
    elif actor.role is Role.ADMIN:
        branch_id = None
    elif can_manage_branch(actor, actor.branch_id):
        branch_id = actor.branch_id
    else:
        raise Denied("out_of_scope")
    return await invites_for_unbound(session, org_id, valid_days=valid_days, branch_id=branch_id)


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def invites_csv(lines: list[InviteLine], bot_username: str | None, language: str) -> bytes:
    """The invites as a CSV file for Excel: UTF-8 with a BOM, headers in the organisation's
    language, and the ledger's guard on every cell, so a name like `=HYPERLINK(…)` stays text.
    Without a Telegram bot (`bot_username` None) there is no link column: the code is all."""
    text = io.StringIO(newline="")
    headers = plain(t(language, "invites.csv_headers")).split(",")
    rows = [[line.name, line.branch, line.group, line.code] for line in lines]
    if bot_username is None:
        headers = headers[:4]
    else:
        rows = [[*row, deep_link(bot_username, row[3])] for row in rows]
    export_files.write_csv_rows(text, [headers, *rows])
    return text.getvalue().encode("utf-8-sig")


@dataclass(frozen=True)
class BindResult:
    member: MemberView
    already_bound: bool


async def bind(
    session: AsyncSession, code: str, telegram_user_id: int, *, now: datetime | None = None
) -> BindResult:
    """Tie the sender's account to the member the code belongs to, in one transaction, at `now`
    (the bot's clock; default the current time)."""
    now = now or utcnow()
    # Row locks serialize two binds of one code on PostgreSQL; SQLite's writer lock already does.
    invite = await session.scalar(
        select(InviteCode).where(InviteCode.code == code.strip().lower()).with_for_update()
    )
    member = await session.get(Member, invite.member_id, with_for_update=True) if invite else None
    if invite is None or member is None or not member.active:
        raise NotFound("invite_unknown")
    held_by = await accounts.contact(session, telegram_user_id)
    if accounts.is_bound_to(member, telegram_user_id, held_by):
        # A second /start with the same link (or a redelivered update) just greets again.
        return BindResult(await member_view(session, member), already_bound=True)
    # A member bound on one channel may bind another with a fresh code (/link): one account
    # per channel each.
    on_channel = await accounts.accounts_of(session, member)
    if invite.used_at is not None or channel_of(telegram_user_id) in on_channel:
        raise Denied("invite_used")
    if invite.expires_at <= now:
        raise Denied("invite_expired")
    current = await accounts.member_of(session, telegram_user_id)
    role = member.role
    if current is not None:
        if current.branch_id is None and current.role is Role.ADMIN:
            # An admin named in the config joins the roster: the roster record takes over
            # the account and the admin role; the placeholder record retires.
            await accounts.unbind(session, current, telegram_user_id)
            current.active = False
            role = Role.ADMIN
            await session.flush()
        else:
            raise Denied("account_already_bound", name=current.name)
    await accounts.bind(session, member, telegram_user_id)
    member.bound_at = now
    member.role = role
    invite.used_at = now
    invite.used_by_telegram_id = telegram_user_id
    audit.record(
        session,
        action="member.bound",
        entity="member",
        entity_id=member.id,
        actor_member_id=member.id,
        telegram_user_id=telegram_user_id,
    )
    try:
        await session.commit()
    except IntegrityError:
        # Another update bound this account or member a moment ago.
        await session.rollback()
        raise Denied("invite_used") from None
    return BindResult(await member_view(session, member), already_bound=False)
