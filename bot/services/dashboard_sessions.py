"""Web dashboard sessions, kept in the database.

A login link opens a session: the browser's cookie carries a random session id, the database only
its SHA-256, with the member, the role the session was opened with and when it ends. Logging out
deletes the row, so a copy of the cookie taken before stops working at once; "log out
everywhere" deletes all of a member's rows. Every request reads the row and the member: a member
whose role is no longer the session's, or who is no longer active (or bound), loses the session.
Expired sessions, and login links a day after they expired, are pruned at start-up and whenever
a link is issued or a session opened.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Denied
from bot.services import audit, dashboard_links, members
from storage.models import DashboardSession

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A new session: the id for the cookie (never stored), and who it is for."""

    token: str
    actor: Actor
    expires_at: datetime


async def log_in(
    session: AsyncSession,
    link_token: str,
    default_language: str,
    *,
    hours: int,
    now: datetime,
) -> Opened:
    """Redeem a login link and open a session for its member, with the member's role of now."""
    member_id = await dashboard_links.redeem(session, link_token, now=now)
    actor = await members.actor_by_id(session, member_id, default_language)
    if actor is None:
        raise Denied("dashboard.bad_link")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + timedelta(hours=hours)
    session.add(
        DashboardSession(
            token_hash=_hash(token),
            member_id=actor.member_id,
            role=actor.role.value,
            created_at=now,
            expires_at=expires,
        )
    )
    await dashboard_links.prune(session, now=now)
    await session.commit()
    return Opened(token, actor, expires)


async def actor_for(
    session: AsyncSession, token: str, default_language: str, *, now: datetime
) -> tuple[Actor | None, bool]:
    """The member behind a session id, read afresh, or None; and whether the session row must
    be ended (its member's role changed, or the member is no longer active or bound). Reads
    only: the caller ends it in a write session."""
    if not token or len(token) > 100:
        return None, False
    row = (
        await session.execute(
            select(DashboardSession.member_id, DashboardSession.role).where(
                DashboardSession.token_hash == _hash(token), DashboardSession.expires_at > now
            )
        )
    ).first()
    if row is None:
        return None, False
    actor = await members.actor_by_id(session, row.member_id, default_language)
    if actor is None or actor.role.value != row.role:
        return None, True
    return actor, False


async def end(session: AsyncSession, token: str) -> None:
    """Log out: this session (and every copy of its cookie) stops working."""
    await session.execute(
        delete(DashboardSession).where(DashboardSession.token_hash == _hash(token))
    )
    await session.commit()


async def end_member(
    session: AsyncSession, member_id: int, *, by: int | None = None, source: str = "bot"
) -> int:
    """Log a member out everywhere; how many sessions ended. `by`: who asked, and `source`:
    from where ("bot": the chat, "web": the dashboard), for the audit log."""
    result = await session.execute(
        delete(DashboardSession).where(DashboardSession.member_id == member_id)
    )
    ended = int(result.rowcount)  # type: ignore[attr-defined]
    audit.record(
        session,
        action="dashboard.logout_all",
        entity="member",
        entity_id=member_id,
        actor_member_id=by,
        source=source,
        sessions=ended,
    )
    await session.commit()
    return ended


async def prune(session: AsyncSession, *, now: datetime) -> None:
    """Delete expired sessions and long-expired login links (at start-up)."""
    await dashboard_links.prune(session, now=now)
    await session.commit()
