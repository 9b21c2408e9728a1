"""Remembering handled Telegram updates, so a redelivered one is not applied twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Member, ProcessedUpdate, utcnow

# Telegram keeps undelivered updates for at most 24 hours; twice that is a safe horizon.
KEEP_FOR = timedelta(hours=48)


async def first_time(
    session: AsyncSession, update_id: int, telegram_user_id: int | None = None
) -> bool:
    """Record the update id; False if it was already recorded (a redelivery). The caller
    commits, with whatever else it reads or writes for the update in the same transaction.

    A member who writes to the bot can be reached again, whatever a failed push recorded.
    """
    # One statement decides: a copy arriving at once on another instance waits for this row's
    # lock and then inserts nothing.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    recorded = await session.execute(
        insert(ProcessedUpdate)
        .values(update_id=update_id, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["update_id"])
    )
    if getattr(recorded, "rowcount", 0) != 1:
        await session.rollback()
        return False
    if telegram_user_id is not None:
        await session.execute(
            update(Member)
            .where(Member.telegram_user_id == telegram_user_id, Member.unreachable_at.is_not(None))
            .values(unreachable_at=None)
        )
    return True


async def prune(session: AsyncSession) -> int:
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < utcnow() - KEEP_FOR)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
