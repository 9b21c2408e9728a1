"""A member's accounts on the channels (Telegram, Feishu): binding, unbinding, and which one
pushes go to. An account is the integer the core knows a person by: a Telegram user id, or the
alias of their id on another channel (bot.channels.address)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.address import TELEGRAM, channel_of, is_alias
from bot.errors import Denied, NotFound
from storage.models import Contact, Member


def owns(account: int) -> ColumnElement[bool]:
    """A condition on Member: the member this account is bound to."""
    if is_alias(account):
        return (
            Member.id
            == select(Contact.member_id).where(Contact.chat_id == account).scalar_subquery()
        )
    return Member.telegram_user_id == account


async def member_of(session: AsyncSession, account: int) -> Member | None:
    return await session.scalar(select(Member).where(owns(account)))


async def accounts_of(session: AsyncSession, member: Member) -> dict[str, int]:
    """The member's account on each channel they are bound on."""
    found = {TELEGRAM: member.telegram_user_id} if member.telegram_user_id is not None else {}
    rows = await session.execute(
        select(Contact.channel, Contact.chat_id).where(Contact.member_id == member.id)
    )
    return found | {channel: chat for channel, chat in rows.all()}


def is_bound_to(member: Member, account: int, contact: Contact | None) -> bool:
    if is_alias(account):
        return contact is not None and contact.member_id == member.id
    return member.telegram_user_id == account


async def contact(session: AsyncSession, account: int) -> Contact | None:
    return await session.get(Contact, account) if is_alias(account) else None


async def bind(session: AsyncSession, member: Member, account: int) -> None:
    """Tie the account to the member; their first channel is where pushes go until /channel.
    The caller commits (a unique constraint refuses a second member on the same account)."""
    if is_alias(account):
        row = await session.get(Contact, account)
        if row is None:
            # Contacts are kept from a person's first message; a bind without one is a bug.
            raise LookupError(f"no contact for {account}")
        row.member_id = member.id
    else:
        member.telegram_user_id = account
    if member.chat_id is None:
        member.chat_id = account


async def unbind(session: AsyncSession, member: Member, account: int) -> None:
    """Untie the account; pushes move to another channel the member is bound on, if any."""
    pushed_there = member.chat_id == account
    if is_alias(account):
        row = await session.get(Contact, account)
        if row is not None and row.member_id == member.id:
            row.member_id = None
    elif member.telegram_user_id == account:
        member.telegram_user_id = None
    if pushed_there:
        await session.flush()
        rest = await accounts_of(session, member)
        member.chat_id = next(iter(rest.values()), None)


async def choose(session: AsyncSession, member: Member, channel: str) -> bool:
    """Send the member's pushes on `channel`; False when they are not bound on it."""
    account = (await accounts_of(session, member)).get(channel)
    if account is None:
        return False
    member.chat_id = account
    # Blocked on one channel says nothing of the other.
    member.unreachable_at = None
    return True


def channel_of_member(member: Member) -> str | None:
    return channel_of(member.chat_id) if member.chat_id is not None else None


async def external_id(session: AsyncSession, account: int) -> str | None:
    """The id another channel knows this alias by (a Feishu open_id)."""
    row = await session.get(Contact, account) if is_alias(account) else None
    return row.external_id if row is not None else None


async def channels(session: AsyncSession, member_id: int) -> tuple[str, list[str]]:
    """The channel a member's pushes go to, and every channel they are bound on (/channel)."""
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound("not_registered")
    bound = list(await accounts_of(session, member))
    return channel_of_member(member) or TELEGRAM, bound


async def choose_for(session: AsyncSession, member_id: int, channel: str) -> None:
    """Send the member's pushes on `channel`, in one transaction; refused when they are not
    bound on it."""
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound("not_registered")
    if not await choose(session, member, channel):
        raise Denied("channel.not_bound", channel=channel)
    await session.commit()
