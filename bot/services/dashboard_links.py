"""Single-use login links to the web dashboard: a random token goes into the link, its SHA-256
into the database, and redeeming it once (within its minutes) opens a session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Denied
from bot.services import audit
from storage.models import DashboardLink, DashboardSession

TOKEN_BYTES = 24
# A used or expired login link is kept this long after it expired, so that opening it still
# says "expired" rather than "not valid"; then it is pruned.
LINK_KEPT = timedelta(days=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    session: AsyncSession, actor: Actor, *, minutes: int, now: datetime
) -> tuple[str, datetime]:
    """A fresh token for the actor, and when it stops working."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + timedelta(minutes=minutes)
    session.add(
        DashboardLink(
            token_hash=_hash(token), member_id=actor.member_id, created_at=now, expires_at=expires
        )
    )
    audit.record(
        session,
        action="dashboard.link",
        entity="member",
        entity_id=actor.member_id,
        actor_member_id=actor.member_id,
    )
    await prune(session, now=now)
    await session.commit()
    return token, expires


async def prune(session: AsyncSession, *, now: datetime) -> None:
    """Delete expired dashboard sessions, and login links a day after they expired; adds the
    deletes to the caller's transaction (run whenever a link is issued or a session opened)."""
    await session.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
    await session.execute(delete(DashboardLink).where(DashboardLink.expires_at <= now - LINK_KEPT))


async def redeem(session: AsyncSession, token: str, *, now: datetime) -> int:
    """The member the link was for; refused when unknown, used or expired. Marking it used is
    one conditional UPDATE, so two browsers racing with the same link cannot both get in."""
    if not token or len(token) > 100:
        raise Denied("dashboard.bad_link")
    link = await session.scalar(
        select(DashboardLink).where(DashboardLink.token_hash == _hash(token))
    )
    if link is None or link.used_at is not None:
        raise Denied("dashboard.bad_link")
    if now >= link.expires_at:
        raise Denied("dashboard.expired_link")
    claimed = await session.execute(
        update(DashboardLink)
        .where(DashboardLink.id == link.id, DashboardLink.used_at.is_(None))
        .values(used_at=now)
    )
    await session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Denied("dashboard.bad_link")
    return link.member_id
