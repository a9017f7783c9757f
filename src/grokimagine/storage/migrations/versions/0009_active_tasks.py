"""accounts.active_tasks: the account's tasks pending or processing, kept with every change;
the queue's index holds the task id too (queue positions read it alone)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("active_tasks", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE accounts SET active_tasks = (SELECT count(*) FROM tasks"
        " WHERE tasks.account_id = accounts.id AND tasks.status IN ('pending', 'processing'))"
    )
    with op.batch_alter_table("tasks") as batch:
        batch.create_index("ix_tasks_status_created_id", ["status", "created_at", "id"])
        batch.drop_index("ix_tasks_status_created")


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.create_index("ix_tasks_status_created", ["status", "created_at"])
        batch.drop_index("ix_tasks_status_created_id")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("active_tasks")
