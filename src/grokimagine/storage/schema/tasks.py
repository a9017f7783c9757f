"""Tasks and what serves them: workers, webhook deliveries and endpoints, job leases, business
settings."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from grokimagine.storage.schema.core import UTCDateTime, metadata

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("live", Boolean, nullable=False, default=True),
    # pending | processing | completed | failed | canceled
    Column("status", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("ratio", String(10), nullable=False),
    Column("request", JSON, nullable=False),  # the normalised request, echoed by status
    Column("input_images", JSON, nullable=False),  # [{"key", "mime", "sha256"}]
    Column("video_count", Integer, nullable=False, default=1),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("num_frames", Integer, nullable=False),
    Column("fps", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("negative_prompt", Text, nullable=True),
    Column("route", JSON, nullable=True),  # engine names to try, in order, chosen at submission
    # route[0], in a column so that a worker can claim only the tasks it serves, on an index.
    Column("route_head", String(40), nullable=True),
    Column("engine", String(40), nullable=True),  # the engine that ran it
    Column("engine_info", JSON, nullable=True),  # provider ids and costs
    # The relay's jobs at its providers, written the moment a provider accepts one, so that a
    # re-run resumes the job instead of paying for another. Operators see them; customers don't.
    Column("provider_job_id", String(200), nullable=True),  # the latest job accepted
    # [{"video", "engine", "job_id", "state", "cost_usd"}], one per provider job, in order
    Column("provider_jobs", JSON, nullable=True),
    Column("provider_cost_usd", Float, nullable=True),  # sum of the costs providers reported
    Column("consumed_credits", Integer, nullable=False),
    # The price at submission (the table then in force); what a refund gives back is what the
    # ledger says was charged.
    Column("price_credits", Integer, nullable=True),
    Column("progress", Integer, nullable=False, default=0),
    Column("videos", JSON, nullable=False),  # storage keys of finished videos
    Column("posters", JSON, nullable=True),  # storage keys of their poster frames (JPEG)
    Column("error_code", String(40), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("idempotency_hash", String(64), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("deleted_at", UTCDateTime, nullable=True),
    # generate | extend | edit; extend and edit take the source video stored as input_video
    # ({"key", "mime", "sha256", "seconds", "width", "height", "frames"}).
    Column("operation", String(20), nullable=False, default="generate", server_default="generate"),
    Column("input_video", JSON, nullable=True),
    # Set when the retention purge deleted the task's files (videos, posters, sources); the row,
    # its money and its audit stay.
    Column("files_expired_at", UTCDateTime, nullable=True),
    Index("ix_tasks_account_created", "account_id", "created_at"),
    # The queue in order, ids included: a ranking of the queue reads this index alone.
    Index("ix_tasks_status_created_id", "status", "created_at", "id"),
    Index("ix_tasks_status_route_head_created", "status", "route_head", "created_at"),
    Index("ix_tasks_account_idempotency", "account_id", "idempotency_key", unique=True),
    # The fair-share claim's "when was this account last served" (domain/tasks/queue.py).
    Index("ix_tasks_account_started", "account_id", "started_at"),
)


# Workers that have run against this database, for the fleet's last-seen metric.
workers = Table(
    "workers",
    metadata,
    Column("id", String(100), primary_key=True),  # the lease owner name of one worker process
    Column("engines", JSON, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False, index=True),
    # The GPU nodes behind the worker's fleet engines as it last saw them (health, jobs in
    # flight, latency), written at each check-in: [{"engine", "name", "url", ...}].
    Column("nodes", JSON, nullable=True),
)


# One row per webhook message (a task reaching a final state with a callback_url), written in the
# transaction of that state change; the delivery loop claims due rows under a lease.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id header, same on every retry
    # Null for an endpoint's test event (issue 25), which is about no task.
    Column("task_id", ForeignKey("tasks.id"), nullable=True, index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("event", String(40), nullable=False),  # task.completed | task.failed | task.canceled
    Column("url", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("attempt_log", JSON, nullable=False),  # [{"at", "status_code", "error", "ms"}]
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    # Issue 25: the account's endpoint it goes to (null: the task's callback_url), signed with
    # that endpoint's secret; a test event's body is stored (a task's is built at each attempt).
    Column("endpoint_id", String(40), nullable=True),
    Column("payload", JSON, nullable=True),
)


# The operator's business settings (plans, prices, sign-ups, starter credits, allow-list,
# retention), one row per version, never updated: the newest row is in force. The environment
# only seeds version 1 on the first start.
business_settings = Table(
    "business_settings",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("settings", JSON, nullable=False),
    Column("actor", String(40), nullable=False),  # a user id, an admin key id, "env" or "cli"
    Column("note", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)


# Leases of jobs that one process at a time runs (the retention purge): a claim is an UPDATE of
# an expired lease, so every process may try and one wins.
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("owner", String(100), nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
)


# Issue 25: an account's webhook endpoints: every task event of the chosen types goes to each,
# signed with the endpoint's own secret (Standard Webhooks), besides any per-request callback_url.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),  # e.g. ["task.completed", "task.failed"]
    Column("secret", String(100), nullable=False),  # whsec_...
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
)
