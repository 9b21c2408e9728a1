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

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Invitation, Item, ItemTally, Meeting, MeetingTally, Member, Receipt

Unit = tuple[int | None, int | None]  # (branch_id, group_id)


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


async def confirm_once(session: AsyncSession, receipt: Receipt, now: datetime) -> bool:
    """Confirm a receipt unless it is confirmed already, counting it if this call did it: a
    conditional update, so two presses racing on two instances count once."""
    done = await session.execute(
        update(Receipt)
        .where(Receipt.id == receipt.id, Receipt.confirmed_at.is_(None))
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        # Confirmed meanwhile by another transaction: show the time that was stored.
        await session.refresh(receipt, ["confirmed_at"])
        return False
    await session.execute(
        update(ItemTally)
        .where(
            ItemTally.item_id == receipt.item_id,
            ItemTally.branch_id.is_not_distinct_from(receipt.branch_id),
            ItemTally.group_id.is_not_distinct_from(receipt.group_id),
        )
        .values(done=ItemTally.done + 1)
    )
    # What the update stored, without reading it back.
    set_committed_value(receipt, "confirmed_at", now)
    return True


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
