"""tasks.operation (generate | extend | edit) and tasks.input_video (the source of extend/edit)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"  # chained after main's head at merge time (the task said 0004)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("operation", sa.String(length=20), nullable=False, server_default="generate")
        )
        batch.add_column(sa.Column("input_video", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("input_video")
        batch.drop_column("operation")
