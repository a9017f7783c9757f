"""webhook_deliveries, and webhook secrets in the Standard Webhooks form (whsec_ + base64)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import base64
import secrets

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("next_attempt_at", True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        _timestamp("lease_expires_at", True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempt_log", sa.JSON(), nullable=False),
        _timestamp("created_at", False),
        _timestamp("finished_at", True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhook_deliveries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_webhook_deliveries_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_status_next", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_task_id"), ["task_id"], unique=False
        )

    # Secrets made before this revision were URL-safe base64, which Standard Webhooks libraries
    # do not decode. None was ever shown to a client, so they are simply replaced.
    accounts = sa.table("accounts", sa.column("id", sa.String), sa.column("webhook_secret"))
    bind = op.get_bind()
    for (account_id,) in bind.execute(sa.select(accounts.c.id)).all():
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        bind.execute(
            accounts.update().where(accounts.c.id == account_id).values(webhook_secret=secret)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_task_id"))
        batch_op.drop_index("ix_webhook_deliveries_status_next")
    op.drop_table("webhook_deliveries")
