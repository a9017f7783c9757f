"""Operators without a shell: email links, disabled users, business settings, retention

Revision ID: 0010
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0010"
# The head of this branch after merging main (0016_subscriptions); the lead re-chains at merge.
down_revision = "0016"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(_timestamp("disabled_at", True))
    op.create_table(
        "link_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False, server_default=""),
        _timestamp("created_at", False),
        _timestamp("expires_at", False),
        _timestamp("spent_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_link_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_tokens")),
    )
    with op.batch_alter_table("link_tokens") as batch_op:
        batch_op.create_index(batch_op.f("ix_link_tokens_user_id"), ["user_id"], unique=False)
    op.create_table(
        "business_settings",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False, server_default=""),
        _timestamp("created_at", False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_business_settings")),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        _timestamp("expires_at", True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(_timestamp("files_expired_at", True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("files_expired_at")
    op.drop_table("job_leases")
    op.drop_table("business_settings")
    with op.batch_alter_table("link_tokens") as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_tokens_user_id"))
    op.drop_table("link_tokens")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("disabled_at")
