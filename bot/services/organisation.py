"""Start-up facts: the organisation row and the admins named in the config."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.address import FEISHU, alias
from bot.services import accounts, audit
from bot.services.names import MAX_MEMBER_NAME, normalise_name
from storage.models import Contact, Member, Organisation, Role


async def ensure_organisation(session: AsyncSession, name: str, timezone: str) -> int:
    """The id of the organisation this database serves, created on first start.

    A database serves one organisation: a changed `organisation.name` renames it rather than
    starting an empty second one beside all the records.
    """
    org = await session.scalar(select(Organisation).order_by(Organisation.id).limit(1))
    if org is None:
        org = Organisation(name=name, timezone=timezone)
        session.add(org)
        await session.flush()
        audit.record(
            session,
            action="organisation.created",
            entity="organisation",
            entity_id=org.id,
            source="config",
            name=name,
        )
    elif org.name != name:
        audit.record(
            session,
            action="organisation.renamed",
            entity="organisation",
            entity_id=org.id,
            source="config",
            old=org.name,
            new=name,
        )
        org.name = name
    org.timezone = timezone
    await session.commit()
    return org.id


def placeholder_name(telegram_id: int | str) -> str:
    """The name of an admin created from the config, until they say theirs (name_admin)."""
    return f"{_PLACEHOLDER}{telegram_id}"


_PLACEHOLDER = "管理员 "


def is_placeholder(name: str) -> bool:
    return name.startswith(_PLACEHOLDER)


async def promote_admins(
    session: AsyncSession,
    org_id: int,
    telegram_ids: tuple[int, ...],
    feishu_open_ids: tuple[str, ...] = (),
) -> None:
    """Make each configured account an admin, creating an organisation-level record if needed.

    Accounts removed from the config keep their role: demotion is a deliberate /setrole.
    """
    named: list[tuple[int, str]] = [(tid, placeholder_name(tid)) for tid in telegram_ids]
    for open_id in feishu_open_ids:
        account = alias(FEISHU, open_id)
        if await session.get(Contact, account) is None:
            session.add(Contact(chat_id=account, channel=FEISHU, external_id=open_id))
        named.append((account, placeholder_name(open_id)))
    await session.flush()
    for telegram_id, placeholder in named:
        member = await accounts.member_of(session, telegram_id)
        if member is None:
            member = Member(organisation_id=org_id, name=placeholder, role=Role.ADMIN, active=True)
            session.add(member)
            await session.flush()
            await accounts.bind(session, member, telegram_id)
            audit.record(
                session,
                action="member.admin_created",
                entity="member",
                entity_id=member.id,
                source="config",
                telegram_user_id=telegram_id,
            )
        elif member.role is not Role.ADMIN or not member.active:
            audit.record(
                session,
                action="member.role",
                entity="member",
                entity_id=member.id,
                source="config",
                old=member.role.value,
                new=Role.ADMIN.value,
            )
            member.role = Role.ADMIN
            member.active = True
    await session.commit()


async def name_admin(session: AsyncSession, telegram_id: int, name: str) -> str | None:
    """An admin created from the config still has a placeholder name (管理员 100): take `name`,
    the one they go by in the messenger, normalised like a roster name. Returns the new name, or
    None when nothing changed (the record has a real name already, or `name` is blank)."""
    member = await accounts.member_of(session, telegram_id)
    if member is None or not name or not is_placeholder(member.name):
        return None
    clean = normalise_name(name)[:MAX_MEMBER_NAME].strip()
    if not clean:
        return None
    audit.record(
        session,
        action="member.named",
        entity="member",
        entity_id=member.id,
        source="messenger",
        old=member.name,
        new=clean,
    )
    member.name = clean
    await session.commit()
    return clean
