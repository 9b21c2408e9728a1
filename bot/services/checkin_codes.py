"""Rotating check-in codes, shared by meetings and volunteer activities.

A code (six digits) and a QR token are an HMAC of the event's secret, what they are for and the
current minute: nothing is stored per minute, and a screenshot stops working a minute later (plus
a grace period). Wrong codes are counted per member so that guessing is cut off.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.config import Config
from bot.errors import Denied
from storage.models import AuditEntry

CODE_DIGITS = 6
CODE_PATTERN = rf"[0-9]{{{CODE_DIGITS}}}"
# Wrong codes a member may send before check-in refuses them for a while: six digits change every
# minute, so this makes guessing hopeless while leaving room for typos.
MAX_FAILED_CHECKINS = 5
FAILED_CHECKIN_WINDOW = timedelta(minutes=10)
_FAILED = "meeting.checkin_failed"

# The member's wrong codes within the window (binds: member_id, failures_since). As a one-row
# subquery, a check-in statement reads it together with what the code may be for.
_audit = AuditEntry.__table__
_FAILURES = select(func.count(_audit.c.id).label("failures")).where(
    _audit.c.entity == "member",
    _audit.c.entity_id == bindparam("member_id"),
    _audit.c.action == _FAILED,
    _audit.c.at > bindparam("failures_since"),
)
FAILURES = _FAILURES.subquery("failures")


def counter(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _mac(secret: str, purpose: str, entity_id: int, minute: int) -> bytes:
    message = f"{purpose}:{entity_id}:{minute}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def code_for(secret: str, purpose: str, entity_id: int, minute: int) -> str:
    number = int.from_bytes(_mac(secret, purpose, entity_id, minute)[:4], "big") % 10**CODE_DIGITS
    return f"{number:0{CODE_DIGITS}d}"


def token_for(secret: str, purpose: str, entity_id: int, minute: int) -> str:
    """12 hex digits: a deep link's start parameter may hold 64 characters."""
    return _mac(secret, purpose, entity_id, minute)[:6].hex()


def accepted(now: datetime, grace_seconds: int) -> list[int]:
    """This minute's counter, and the previous minute's within the grace period."""
    current = counter(now)
    counters = [current]
    if now.timestamp() - current * 60 < grace_seconds:
        counters.append(current - 1)
    return counters


def code_matches(
    code: str, secret: str, purpose: str, entity_id: int, now: datetime, grace_seconds: int
) -> bool:
    return any(
        hmac.compare_digest(code, code_for(secret, purpose, entity_id, c))
        for c in accepted(now, grace_seconds)
    )


def token_matches(
    token: str, secret: str, purpose: str, entity_id: int, now: datetime, grace_seconds: int
) -> bool:
    return any(
        hmac.compare_digest(token, token_for(secret, purpose, entity_id, c))
        for c in accepted(now, grace_seconds)
    )


def valid_until(now: datetime) -> datetime:
    return datetime.fromtimestamp((counter(now) + 1) * 60, tz=now.tzinfo)


@dataclass(frozen=True)
class CheckinCode:
    """What the organiser's screen shows for this minute."""

    entity_id: int
    title: str
    code: str
    qr_param: str
    valid_until: datetime
    opens: datetime
    closes: datetime


@dataclass(frozen=True)
class CodeMiss:
    """A code that matched nothing of one feature: whether any code was compared (a wrong code
    counts as a failure) and whether the member was expected at one of them (a typo)."""

    compared: bool
    expected: bool


def failure_params(actor: Actor, now: datetime) -> dict[str, object]:
    """The binds of FAILURES."""
    return {"member_id": actor.member_id, "failures_since": now - FAILED_CHECKIN_WINDOW}


def refuse_after_failures(failures: int | None) -> None:
    """Too many wrong codes lately: check-in refuses the member for a while."""
    if (failures or 0) >= MAX_FAILED_CHECKINS:
        minutes = int(FAILED_CHECKIN_WINDOW.total_seconds() // 60)
        raise Denied("checkin.too_many", minutes=minutes)


async def check_attempts(session: AsyncSession, actor: Actor, now: datetime) -> None:
    refuse_after_failures(await session.scalar(_FAILURES, failure_params(actor, now)))


async def record_failure(session: AsyncSession, actor: Actor, now: datetime) -> None:
    """Kept even though the use case then refuses: committed before the refusal is raised."""
    session.add(
        AuditEntry(
            at=now,
            actor_member_id=actor.member_id,
            source="bot",
            action=_FAILED,
            entity="member",
            entity_id=actor.member_id,
            details="",
        )
    )
    await session.commit()


def qr_target(config: Config, username: str, start_param: str, code: str) -> str:
    """The link that opens the bot on Telegram and checks the scanner in; without Telegram (an
    office on Feishu alone, where no link opens the bot) the code itself, to type."""
    if config.telegram.token:
        return f"https://t.me/{username}?start={start_param}"
    return code
