"""holiday notices: the State Council's arrangement as an admin imported it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holiday_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("created_by_member_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_member_id"],
            ["members.id"],
            name=op.f("fk_holiday_notices_created_by_member_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_holiday_notices_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_notices")),
    )
    op.create_index(op.f("ix_holiday_notices_year"), "holiday_notices", ["year"], unique=False)
    op.create_table(
        "holiday_notice_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("holiday", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["holiday_notices.id"],
            name=op.f("fk_holiday_notice_days_notice_id_holiday_notices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_notice_days")),
        sa.UniqueConstraint("notice_id", "day", name=op.f("uq_holiday_notice_days_notice_id_day")),
    )
    op.create_table(
        "holiday_notice_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_holiday_notice_alerts_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_notice_alerts")),
        sa.UniqueConstraint(
            "organisation_id",
            "year",
            "month",
            name=op.f("uq_holiday_notice_alerts_organisation_id_year_month"),
        ),
    )


def downgrade() -> None:
    op.drop_table("holiday_notice_alerts")
    op.drop_table("holiday_notice_days")
    op.drop_index(op.f("ix_holiday_notices_year"), table_name="holiday_notices")
    op.drop_table("holiday_notices")
