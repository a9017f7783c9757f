"""The fair-share claim's index (tasks by account and start) and workers.nodes (the fleet view)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_account_started", "tasks", ["account_id", "started_at"])
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("nodes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("nodes")
    op.drop_index("ix_tasks_account_started", table_name="tasks")
