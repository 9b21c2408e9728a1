"""holiday texts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:12:02.583215
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holiday_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("holiday", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by_member_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_holiday_texts_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_holiday_texts_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_member_id"],
            ["members.id"],
            name=op.f("fk_holiday_texts_updated_by_member_id_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_texts")),
        sa.UniqueConstraint(
            "organisation_id",
            "branch_id",
            "holiday",
            name=op.f("uq_holiday_texts_organisation_id_branch_id_holiday"),
        ),
    )


def downgrade() -> None:
    op.drop_table("holiday_texts")
