"""Guided dialogs kept in the database: one row per chat (`dialog_states`), with an expiry.

What a dialog holds is the handlers' business (handlers/dialogs.py turns it into JSON); here it
is a kind and a string. `keep` and `end` commit; `drop` only adds the delete to the caller's
transaction, so a dialog's last step ends it in the same commit as the step's effects. A row
past its expiry counts as no dialog; `prune` deletes such rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import DialogState


@dataclass(frozen=True)
class StoredDialog:
    kind: str
    state: str


async def find(
    session: AsyncSession | AsyncConnection, chat_id: int, *, now: datetime
) -> StoredDialog | None:
    """The chat's open dialog, or None (no row, or one that has expired)."""
    row = (
        await session.execute(
            select(DialogState.kind, DialogState.state).where(
                DialogState.chat_id == chat_id, DialogState.expires_at > now
            )
        )
    ).first()
    return None if row is None else StoredDialog(row.kind, row.state)


async def put(
    session: AsyncSession, chat_id: int, kind: str, state: str, *, now: datetime, ttl: timedelta
) -> None:
    """Write the chat's dialog (replacing any other) into the caller's transaction."""
    values = {"chat_id": chat_id, "kind": kind, "state": state, "expires_at": now + ttl}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(DialogState).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id"],
            set_={
                "kind": statement.excluded.kind,
                "state": statement.excluded.state,
                "expires_at": statement.excluded.expires_at,
            },
        )
    )


async def keep(
    session: AsyncSession,
    chat_id: int,
    kind: str,
    state: str,
    *,
    now: datetime,
    ttl: timedelta,
    opening: bool = False,
) -> None:
    """Store the dialog after a step and commit. Opening one also deletes expired rows."""
    if opening:
        await session.execute(delete(DialogState).where(DialogState.expires_at <= now))
    await put(session, chat_id, kind, state, now=now, ttl=ttl)
    await session.commit()


async def drop(session: AsyncSession, chat_id: int) -> bool:
    """End the chat's dialog in the caller's transaction (the caller commits); False when there
    was none (another update, perhaps on another instance, ended it a moment ago)."""
    result = await session.execute(delete(DialogState).where(DialogState.chat_id == chat_id))
    return bool(getattr(result, "rowcount", 0))


async def end(session: AsyncSession, chat_id: int, *, now: datetime) -> bool:
    """End the chat's dialog and commit; True when one was open."""
    if await find(session, chat_id, now=now) is None:
        return False
    await drop(session, chat_id)
    await session.commit()
    return True


async def prune(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(DialogState).where(DialogState.expires_at <= now))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
