"""The audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.fast import Prepared, Tx
from storage.models import AuditEntry, utcnow

_audit_log = AuditEntry.metadata.tables[AuditEntry.__tablename__]
_ADD = Prepared(
    insert(_audit_log),
    keys=("at", "actor_member_id", "source", "action", "entity", "entity_id", "details"),
)


def entry(
    *,
    action: str,
    entity: str,
    entity_id: int | None,
    actor_member_id: int | None = None,
    source: str = "bot",
    **details: Any,
) -> dict[str, Any]:
    """One row's values, for a bulk insert of many (a roster import's batch)."""
    return {
        "actor_member_id": actor_member_id,
        "source": source,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
    }


def record(
    session: AsyncSession,
    *,
    action: str,
    entity: str,
    entity_id: int | None,
    actor_member_id: int | None = None,
    source: str = "bot",
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            **entry(
                action=action,
                entity=entity,
                entity_id=entity_id,
                actor_member_id=actor_member_id,
                source=source,
                **details,
            )
        )
    )


async def add(tx: Tx, **fields: Any) -> None:
    """`record` (the same fields, as `entry` takes them) for a transaction of prepared
    statements (storage.fast)."""
    await tx.run(_ADD, {**entry(**fields), "at": utcnow()})
