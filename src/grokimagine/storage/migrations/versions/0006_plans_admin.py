"""Plans and admin: admin keys, the audit log, monthly grants, disabled accounts, task prices

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(_timestamp("disabled_at", True))
    with op.batch_alter_table("ledger") as batch_op:
        batch_op.add_column(sa.Column("admin_key_id", sa.String(length=40), nullable=True))
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("price_credits", sa.Integer(), nullable=True))
    # Tasks made before prices were stored cost the flat 40 a video (nothing on a test key).
    tasks = sa.table(
        "tasks",
        sa.column("price_credits", sa.Integer),
        sa.column("video_count", sa.Integer),
        sa.column("live", sa.Boolean),
    )
    op.get_bind().execute(
        tasks.update().values(
            price_credits=sa.case((tasks.c.live, tasks.c.video_count * 40), else_=0)
        )
    )

    op.create_table(
        "admin_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=20), nullable=False),
        _timestamp("created_at", False),
        _timestamp("revoked_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_keys_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        _timestamp("created_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.create_index("ix_audit_log_target", ["target_type", "target_id"], unique=False)
        batch_op.create_index("ix_audit_log_created", ["created_at"], unique=False)
    op.create_table(
        "monthly_grants",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        _timestamp("created_at", False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_monthly_grants_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "period", name=op.f("pk_monthly_grants")),
    )


def downgrade() -> None:
    op.drop_table("monthly_grants")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_index("ix_audit_log_created")
        batch_op.drop_index("ix_audit_log_target")
    op.drop_table("audit_log")
    op.drop_table("admin_keys")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("price_credits")
    with op.batch_alter_table("ledger") as batch_op:
        batch_op.drop_column("admin_key_id")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("disabled_at")
