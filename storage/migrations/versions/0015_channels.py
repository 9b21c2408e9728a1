"""channels: members bound on several messengers, outbox rows that name their channel

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_contacts_member_id_members")
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_contacts_channel_external_id")),
        sa.UniqueConstraint("member_id", "channel", name=op.f("uq_contacts_member_id_channel")),
    )
    op.create_index(op.f("ix_contacts_member_id"), "contacts", ["member_id"], unique=False)
    op.create_table(
        "channel_messages",
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_channel_messages")),
    )
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("chat_id", sa.BigInteger(), nullable=True))
        batch.create_index(batch.f("ix_members_chat_id"), ["chat_id"], unique=False)
    # Everyone bound so far is bound on Telegram, and gets their pushes there.
    op.execute("UPDATE members SET chat_id = telegram_user_id")
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="telegram")
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("members") as batch:
        batch.drop_index(batch.f("ix_members_chat_id"))
        batch.drop_column("chat_id")
    op.drop_table("channel_messages")
    op.drop_index(op.f("ix_contacts_member_id"), table_name="contacts")
    op.drop_table("contacts")
