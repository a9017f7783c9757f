"""Self-service: two-factor sign-in and recovery codes, email verification, key last use and
expiry, account webhook endpoints, low-balance email

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0011"
# Joins the heads of issue 24 (0010) and main (0009); the lead re-chains at merge.
down_revision = "0010"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(_timestamp("totp_enabled_at", True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(_timestamp("email_verified_at", True))
    # Everyone who exists already came in through the operator or an open sign-up that asked
    # for no verification: they count as verified.
    op.execute("UPDATE users SET email_verified_at = created_at")
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.add_column(
            sa.Column("second_factor_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(_timestamp("last_used_at", True))
        batch_op.add_column(_timestamp("expires_at", True))
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        _timestamp("created_at", False),
        _timestamp("used_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes") as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_codes_user_id"), ["user_id"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        _timestamp("created_at", False),
        _timestamp("deleted_at", True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhook_endpoints_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoints_account_id"), ["account_id"], unique=False
        )
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("low_balance_threshold", sa.BigInteger(), nullable=True))
        batch_op.add_column(_timestamp("low_balance_alerted_at", True))
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("endpoint_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("low_balance_alerted_at")
        batch_op.drop_column("low_balance_threshold")
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_column("payload")
        batch_op.drop_column("endpoint_id")
    op.execute("DELETE FROM webhook_deliveries WHERE task_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.alter_column("task_id", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_endpoints_account_id"))
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("recovery_codes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_user_id"))
    op.drop_table("recovery_codes")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("second_factor_due")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("email_verified_at")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
