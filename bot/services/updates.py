"""The inbox table: updates kept as received, each applied once (see bot/inbound.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.fast import Prepared, Tx
from storage.models import InboxUpdate, Member, utcnow

# Telegram keeps undelivered updates for at most 24 hours; twice that is a safe horizon.
KEEP_FOR = timedelta(hours=48)

_inbox = InboxUpdate.metadata.tables[InboxUpdate.__tablename__]
_members = Member.metadata.tables[Member.__tablename__]
_ADMIT_ONE = Prepared(
    sqlite_insert(_inbox).on_conflict_do_nothing(index_elements=["update_id"]),
    keys=("update_id", "chat_id", "payload", "received_at", "lease_until", "done_at"),
)
_REACHABLE_AGAIN = Prepared(
    update(_members)
    .where(_members.c.chat_id == bindparam("sender"), _members.c.unreachable_at.is_not(None))
    .values(unreachable_at=None, updated_at=bindparam("at"))
)
_FINISH_ONE = Prepared(
    update(_inbox)
    .where(_inbox.c.update_id == bindparam("of_update"), _inbox.c.done_at.is_(None))
    .values(done_at=bindparam("at"))
)


def _sender_of(data: dict[str, Any]) -> int | None:
    for value in data.values():
        if isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
    return None


def _chat_of(data: dict[str, Any]) -> int | None:
    """The update's lane: its chat, else its sender (as bot.inbound.lane_of)."""
    for value in data.values():
        if isinstance(value, dict):
            chat = value.get("chat") or (value.get("message") or {}).get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
    return _sender_of(data)


async def admit(
    source: AsyncSession | Tx,
    payloads: Sequence[dict[str, Any]],
    now: datetime,
    lease_until: datetime,
    *,
    done: bool = False,
) -> set[int]:
    """Insert the updates not seen before; returns their ids. The caller commits. On SQLite's
    prepared-statement connection (a storage.fast Tx) a row a statement, else one statement.

    One statement decides: a copy arriving at once on another instance waits for the row's
    lock and then inserts nothing. With `done`, they are recorded as handled already.
    Members who write to the bot can be reached again, whatever a failed push recorded."""
    if not payloads:
        return set()
    rows: list[dict[str, Any]] = [
        {
            "update_id": int(data["update_id"]),
            "chat_id": _chat_of(data),
            "payload": "" if done else json.dumps(data, ensure_ascii=False),
            "received_at": now,
            "lease_until": None if done else lease_until,
            "done_at": now if done else None,
        }
        for data in payloads
    ]
    if isinstance(source, AsyncSession):
        # Through SQLAlchemy a statement costs a round of its machinery: one for the batch.
        insert = pg_insert if source.get_bind().dialect.name == "postgresql" else sqlite_insert
        fresh = set(
            await source.scalars(
                insert(InboxUpdate)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["update_id"])
                .returning(InboxUpdate.update_id)
            )
        )
    else:
        # On SQLite's own connection (storage.fast) a statement costs microseconds: one a row.
        fresh = {int(row["update_id"]) for row in rows if await source.run(_ADMIT_ONE, row) == 1}
    senders = {
        sender
        for data in payloads
        if int(data["update_id"]) in fresh and (sender := _sender_of(data)) is not None
    }
    if isinstance(source, AsyncSession):
        if senders:
            await source.execute(
                update(Member)
                .where(Member.chat_id.in_(senders), Member.unreachable_at.is_not(None))
                .values(unreachable_at=None)
            )
    else:
        for sender in sorted(senders):
            await source.run(_REACHABLE_AGAIN, {"sender": sender, "at": now})
    return fresh


async def finish(source: AsyncSession | Tx, update_ids: Sequence[int], now: datetime) -> None:
    """Mark updates done that were handled without writing anything (or dropped)."""
    if isinstance(source, AsyncSession):
        await source.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id.in_(update_ids), InboxUpdate.done_at.is_(None))
            .values(done_at=now)
        )
        return
    for update_id in sorted(set(update_ids)):
        await source.run(_FINISH_ONE, {"of_update": update_id, "at": now})


async def reclaim(
    session: AsyncSession, now: datetime, lease_until: datetime, skip: set[int], limit: int
) -> list[dict[str, Any]]:
    """Lease again the unfinished updates whose lease ran out, oldest first. The caller commits."""
    stale = (
        select(InboxUpdate.update_id)
        .where(
            InboxUpdate.done_at.is_(None),
            or_(InboxUpdate.lease_until.is_(None), InboxUpdate.lease_until < now),
        )
        # In the order they arrived: a Feishu event's update id is a hash, not a sequence.
        .order_by(InboxUpdate.received_at, InboxUpdate.update_id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    ids = [i for i in await session.scalars(stale) if i not in skip]
    if not ids:
        return []
    claimed = await session.execute(
        update(InboxUpdate)
        .where(
            InboxUpdate.update_id.in_(ids),
            InboxUpdate.done_at.is_(None),
            or_(InboxUpdate.lease_until.is_(None), InboxUpdate.lease_until < now),
        )
        .values(lease_until=lease_until)
        .returning(InboxUpdate.update_id, InboxUpdate.payload)
    )
    found = {update_id: payload for update_id, payload in claimed if payload}
    return [json.loads(found[i]) for i in ids if i in found]


async def record_handled(session: AsyncSession, data: dict[str, Any]) -> bool:
    """For an update handled outside the inbound path (tests, tools): record it as handled;
    False when it was already recorded. The caller commits."""
    now = utcnow()
    return bool(await admit(session, [data], now, now, done=True))


async def prune(session: AsyncSession) -> int:
    result = await session.execute(
        delete(InboxUpdate).where(
            InboxUpdate.received_at < utcnow() - KEEP_FOR, InboxUpdate.done_at.is_not(None)
        )
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
