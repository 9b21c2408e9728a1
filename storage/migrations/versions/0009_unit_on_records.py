"""records keep their branch and group; running tallies for the statistics

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:37:09.814689
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORDS = ("receipts", "invitations")


_MEMBER = "(SELECT {col} FROM members WHERE members.id = {t}.member_id)"
_ITEM = "(SELECT {col} FROM items WHERE items.id = receipts.item_id)"
_MEETING = "(SELECT {col} FROM meetings WHERE meetings.id = invitations.meeting_id)"
_BACKFILL = (
    "UPDATE receipts SET branch_id = CASE "
    f"WHEN {_ITEM.format(col='audience_kind')} IN ('branch', 'committee') "
    f"THEN {_ITEM.format(col='audience_id')} "
    f"WHEN {_ITEM.format(col='audience_kind')} = 'group' THEN (SELECT branch_id FROM "
    f"member_groups WHERE member_groups.id = {_ITEM.format(col='audience_id')}) "
    f"WHEN {_ITEM.format(col='audience_kind')} = 'meeting' THEN (SELECT branch_id FROM "
    f"meetings WHERE meetings.id = {_ITEM.format(col='audience_id')}) "
    f"ELSE {_MEMBER.format(col='branch_id', t='receipts')} END",
    "UPDATE receipts SET group_id = CASE "
    f"WHEN {_ITEM.format(col='audience_kind')} = 'group' THEN {_ITEM.format(col='audience_id')} "
    "ELSE (SELECT group_id FROM members WHERE members.id = receipts.member_id "
    "AND members.branch_id = receipts.branch_id) END",
    f"UPDATE invitations SET branch_id = {_MEETING.format(col='branch_id')}",
    f"UPDATE invitations SET group_id = COALESCE({_MEETING.format(col='group_id')}, "
    "(SELECT group_id FROM members WHERE members.id = invitations.member_id "
    "AND members.branch_id = invitations.branch_id))",
)


def _tally_table(name: str, subject: str, subjects: str, count: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(f"{subject}_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column(count, sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f(f"fk_{name}_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["member_groups.id"], name=op.f(f"fk_{name}_group_id_member_groups")
        ),
        sa.ForeignKeyConstraint(
            [f"{subject}_id"], [f"{subjects}.id"], name=op.f(f"fk_{name}_{subject}_id_{subjects}")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(
        f"ix_{name}_unit", name, [f"{subject}_id", "branch_id", "group_id"], unique=False
    )


def upgrade() -> None:
    for table in RECORDS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("branch_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_branch_id_branches"), "branches", ["branch_id"], ["id"]
            )
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_group_id_member_groups"),
                "member_groups",
                ["group_id"],
                ["id"],
            )
    # Records made before this revision: the branch (and group) their item's or meeting's
    # audience names, else the member's of today; the member's group of today only while they
    # are still in that branch. The best that is known of where they belonged.
    for sql in _BACKFILL:
        op.execute(sql)
    _tally_table("item_tallies", "item", "items", "done")
    _tally_table("meeting_tallies", "meeting", "meetings", "present")
    op.execute(
        "INSERT INTO item_tallies (item_id, branch_id, group_id, total, done) "
        "SELECT item_id, branch_id, group_id, COUNT(*), COUNT(confirmed_at) FROM receipts "
        "GROUP BY item_id, branch_id, group_id"
    )
    op.execute(
        "INSERT INTO meeting_tallies (meeting_id, branch_id, group_id, total, present) "
        "SELECT i.meeting_id, i.branch_id, i.group_id, COUNT(*), "
        "COUNT(CASE WHEN i.outcome IN ('attended', 'late') THEN 1 END) "
        "FROM invitations i JOIN meetings m ON m.id = i.meeting_id WHERE m.status = 'closed' "
        "GROUP BY i.meeting_id, i.branch_id, i.group_id"
    )
    op.create_index(
        "ix_members_unit",
        "members",
        ["branch_id", "group_id", "active", "telegram_user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_members_unit", table_name="members")
    for name in ("meeting_tallies", "item_tallies"):
        op.drop_index(f"ix_{name}_unit", table_name=name)
        op.drop_table(name)
    for table in reversed(RECORDS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_group_id_member_groups"), type_="foreignkey"
            )
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_branch_id_branches"), type_="foreignkey"
            )
            batch_op.drop_column("group_id")
            batch_op.drop_column("branch_id")
