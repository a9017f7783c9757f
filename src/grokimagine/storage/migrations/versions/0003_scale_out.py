"""scale-out: tasks.route_head for workers that serve some engines; the workers table

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("route_head", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ix_tasks_status_route_head_created", ["status", "route_head", "created_at"]
        )
    # Tasks queued before this migration keep the engine they were routed to.
    first = (
        "route::json->>0"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(route, '$[0]')"
    )
    op.execute(f"UPDATE tasks SET route_head = {first} WHERE route IS NOT NULL")
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("engines", sa.JSON(), nullable=False),
        sa.Column(
            "started_at", grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers") as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_last_seen_at"), ["last_seen_at"])


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_last_seen_at"))
    op.drop_table("workers")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_status_route_head_created")
        batch_op.drop_column("route_head")
