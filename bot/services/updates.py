"""Remembering handled Telegram updates, so a redelivered one is not applied twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Member, ProcessedUpdate, utcnow

# Telegram keeps undelivered updates for at most 24 hours; twice that is a safe horizon.
KEEP_FOR = timedelta(hours=48)


async def first_time(
    session: AsyncSession, update_id: int, telegram_user_id: int | None = None
) -> bool:
    """Record the update id; False if it was already recorded (a redelivery).

    A member who writes to the bot can be reached again, whatever a failed push recorded.
    """
    seen = await session.scalar(
        select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
    )
    if seen is not None:
        return False
    session.add(ProcessedUpdate(update_id=update_id))
    if telegram_user_id is not None:
        await session.execute(
            update(Member)
            .where(Member.telegram_user_id == telegram_user_id, Member.unreachable_at.is_not(None))
            .values(unreachable_at=None)
        )
    try:
        await session.commit()
    except IntegrityError:
        # The same update arrived twice at once; the other copy won.
        await session.rollback()
        return False
    return True


async def prune(session: AsyncSession) -> int:
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < utcnow() - KEEP_FOR)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
