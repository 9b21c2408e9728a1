"""Running counts behind the statistics: per item and per closed meeting, for each branch and
group its records were made in, how many there are and how many are confirmed or came.

They change only in the transactions that change the records themselves (publishing an item,
a member's first confirmation, a meeting's close), so a count is never ahead of or behind its
rows; a test compares them with the ledger's rows. Counting the rows instead takes 0.3-0.6 s
for a year of 100,000 members (docs/benchmarks.md); reading these takes milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.fast import Prepared, SessionTx, Tx
from storage.models import Invitation, Item, ItemTally, Meeting, MeetingTally, Member, Receipt

Unit = tuple[int | None, int | None]  # (branch_id, group_id)

# A member's first confirmation, prebuilt (it runs for every 「已学习」/「已阅」): the conditional
# update of the receipt, then the count of its item and unit. (The tables from the metadata:
# update() wants a Table, and a model's __table__ is typed as any FromClause.)
_receipts = Receipt.metadata.tables[Receipt.__tablename__]
_item_tallies = ItemTally.metadata.tables[ItemTally.__tablename__]
_CONFIRM = Prepared(
    update(_receipts)
    .where(_receipts.c.id == bindparam("receipt_id"), _receipts.c.confirmed_at.is_(None))
    .values(confirmed_at=bindparam("now"))
)
_CONFIRMED_AT = Prepared(
    select(_receipts.c.confirmed_at).where(_receipts.c.id == bindparam("receipt_id"))
)
_COUNT_DONE = Prepared(
    update(_item_tallies)
    .where(
        # (An update's binds may not be named like the table's columns.)
        _item_tallies.c.item_id == bindparam("of_item"),
        _item_tallies.c.branch_id.is_not_distinct_from(bindparam("of_branch")),
        _item_tallies.c.group_id.is_not_distinct_from(bindparam("of_group")),
    )
    .values(done=_item_tallies.c.done + 1)
)


async def add_receipts(session: AsyncSession, item_id: int, members: Iterable[Member]) -> None:
    """An item was pushed to these members (its receipts carry their branch and group)."""
    counts = Counter((m.branch_id, m.group_id) for m in members)
    if counts:
        await session.execute(
            insert(ItemTally),
            [
                {"item_id": item_id, "branch_id": b, "group_id": g, "total": n, "done": 0}
                for (b, g), n in counts.items()
            ],
        )


async def confirm_receipt(
    tx: Tx, receipt_id: int, item_id: int, unit: Unit, now: datetime
) -> tuple[bool, datetime]:
    """Confirm a receipt unless it is confirmed already, counting it if this call did it: a
    conditional update, so two presses racing on two instances count once. Returns whether
    this call confirmed it, and when it was confirmed."""
    first, confirmed_at = await claim_receipt(tx, receipt_id, now)
    if first:
        await count_confirmed(tx, item_id, unit)
    return first, confirmed_at


async def claim_receipt(tx: Tx, receipt_id: int, now: datetime) -> tuple[bool, datetime]:
    """The receipt's half of confirm_receipt: whether this call confirmed it, and when it was
    confirmed. The caller then counts it (count_confirmed) in the same transaction."""
    if await tx.run(_CONFIRM, {"receipt_id": receipt_id, "now": now}) != 1:
        # Confirmed meanwhile by another transaction: the time that was stored.
        stored = await tx.first(_CONFIRMED_AT, {"receipt_id": receipt_id})
        assert stored is not None
        return False, stored.confirmed_at
    return True, now


async def count_confirmed(tx: Tx, item_id: int, unit: Unit) -> None:
    """One more confirmation of the item in this unit. Every confirmation of an item in one
    unit updates this one row, so a caller runs it last before committing (the row's lock is
    then held briefly)."""
    await tx.run(_COUNT_DONE, {"of_item": item_id, "of_branch": unit[0], "of_group": unit[1]})


async def confirm_once(session: AsyncSession, receipt: Receipt, now: datetime) -> bool:
    """confirm_receipt for a loaded receipt, which then shows the stored time."""
    first, confirmed_at = await confirm_receipt(
        SessionTx(session),
        receipt.id,
        receipt.item_id,
        (receipt.branch_id, receipt.group_id),
        now,
    )
    # What was stored, without reading it back into the entity.
    set_committed_value(receipt, "confirmed_at", confirmed_at)
    return first


async def add_attendance(
    session: AsyncSession, meeting_id: int, invitations: Iterable[Invitation]
) -> None:
    """A meeting closed with these final outcomes."""
    total: Counter[Unit] = Counter()
    present: Counter[Unit] = Counter()
    for invitation in invitations:
        unit = (invitation.branch_id, invitation.group_id)
        total[unit] += 1
        present[unit] += invitation.outcome in ("attended", "late")
    if total:
        await session.execute(
            insert(MeetingTally),
            [
                {
                    "meeting_id": meeting_id,
                    "branch_id": b,
                    "group_id": g,
                    "total": n,
                    "present": present[b, g],
                }
                for (b, g), n in total.items()
            ],
        )


async def of_items(
    session: AsyncSession, items: Sequence[ColumnElement[bool]], branch_ids: Iterable[int]
) -> list[tuple[str, int, int | None, int | None, int, int]]:
    """(kind, item, branch, group, total, done) for the items matching `items` and the
    branches, in one statement: on PostgreSQL each statement sees its own snapshot, so an item
    published between two reads would have tallies and no kind."""
    rows = await session.execute(
        select(
            Item.kind,
            ItemTally.item_id,
            ItemTally.branch_id,
            ItemTally.group_id,
            ItemTally.total,
            ItemTally.done,
        )
        .join(Item, Item.id == ItemTally.item_id)
        .where(*items, ItemTally.branch_id.in_(list(branch_ids)))
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def of_meetings(
    session: AsyncSession, meetings: Sequence[ColumnElement[bool]], branch_ids: Iterable[int]
) -> list[tuple[str, int, int | None, int | None, int, int]]:
    """(kind, meeting, branch, group, total, present) for the meetings matching `meetings`
    (closed ones have tallies) and the branches, in one statement as for items."""
    rows = await session.execute(
        select(
            Meeting.kind,
            MeetingTally.meeting_id,
            MeetingTally.branch_id,
            MeetingTally.group_id,
            MeetingTally.total,
            MeetingTally.present,
        )
        .join(Meeting, Meeting.id == MeetingTally.meeting_id)
        .where(*meetings, MeetingTally.branch_id.in_(list(branch_ids)))
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]
