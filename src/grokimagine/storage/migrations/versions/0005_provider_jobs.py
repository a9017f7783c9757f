"""tasks.provider_job_id, provider_jobs, provider_cost_usd: the relay's jobs at its providers

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("provider_job_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("provider_jobs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("provider_cost_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("provider_cost_usd")
        batch_op.drop_column("provider_jobs")
        batch_op.drop_column("provider_job_id")
