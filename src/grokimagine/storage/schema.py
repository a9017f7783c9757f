"""Database tables (SQLAlchemy Core). Alembic migrations in ``storage/migrations`` create them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored with its zone and always read back as aware UTC (SQLite drops it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("plan", String(20), nullable=False),
    # A cache of SUM(ledger.delta), kept in the same transaction as every ledger row.
    Column("balance", BigInteger, nullable=False, default=0),
    Column("allow_spicy", Boolean, nullable=False, default=False),
    Column("webhook_secret", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Set by an operator: the account's keys are refused and it cannot spend.
    Column("disabled_at", UTCDateTime, nullable=True),
    # Issue 25: email the account's users when the balance falls below this (null: never);
    # set when that email went out, cleared when the balance is back at or above it.
    Column("low_balance_threshold", BigInteger, nullable=True),
    Column("low_balance_alerted_at", UTCDateTime, nullable=True),
    # Tasks pending or processing, changed in the transaction of every task that enters or leaves
    # those states: the plan's active-task limit reads it instead of counting the tasks.
    Column("active_tasks", Integer, nullable=False, server_default="0"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_prefix", String(20), nullable=False),  # shown in listings, e.g. "gi_live_AbC"
    Column("kind", String(10), nullable=False),  # "live" | "test"
    Column("name", String(100), nullable=False, default=""),  # given in the console
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    # Issue 25: when a request last used the key (written at most once a minute per key), and
    # when it stops working (optional, set by its owner).
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("delta", BigInteger, nullable=False),
    # grant | deduct | monthly | reserve | refund | purchase | redeem | takeback
    Column("reason", String(20), nullable=False),
    Column("task_id", String(64), nullable=True, index=True),
    Column("note", String(200), nullable=False, default=""),
    Column("admin_key_id", String(40), nullable=True),  # the admin key behind a grant or deduction
    Column("created_at", UTCDateTime, nullable=False),
)

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

# People who sign in to the console: each belongs to one account; role "admin" makes an operator.
users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),  # stored lower-cased
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("role", String(20), nullable=False),  # customer | admin
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    # Set by an operator: the user cannot sign in and their sessions are gone.
    Column("disabled_at", UTCDateTime, nullable=True),
    # Issue 25: the TOTP secret (base32; pending until the first code confirms it), when
    # two-factor sign-in was turned on, the time step of the last code accepted (a code works
    # once), and when the email was verified (null: a sign-up that has not opened its link).
    Column("totp_secret", String(64), nullable=True),
    Column("totp_enabled_at", UTCDateTime, nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("email_verified_at", UTCDateTime, nullable=True),
)

# Console sessions, server-side: the cookie holds a random token; only its SHA-256 is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the cookie's token
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("address", String(64), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Issue 25: the password was right, the second factor is still due; such a session signs
    # nobody in (a few minutes long; replaced by a new session once the code is right).
    Column("second_factor_due", Boolean, nullable=False, default=False, server_default="0"),
)

# Operators' keys for /admin/v1: never accepted on /v1, as API keys are never accepted here.
admin_keys = Table(
    "admin_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_prefix", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Every admin action, append-only: nothing in the code updates or deletes a row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(40), nullable=False),  # an admin key id, or "cli"
    Column("action", String(40), nullable=False),  # e.g. account.disable, credits.grant
    Column("target_type", String(20), nullable=False),  # account | key | task | admin_key
    Column("target_id", String(64), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("note", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_audit_log_target", "target_type", "target_id"),
    Index("ix_audit_log_created", "created_at"),
)

# One row per account and month whose plan grant was made: the primary key makes it once only.
monthly_grants = Table(
    "monthly_grants",
    metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("period", String(7), primary_key=True),  # YYYY-MM (UTC)
    Column("credits", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Single-use links sent by email (invite, password_reset, email_verify): only the SHA-256 of the
# link's token is stored; spending one is a conditional UPDATE, so two clicks spend it once.
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the token in the link
    Column("purpose", String(20), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("created_by", String(40), nullable=False, default=""),  # who asked: an actor id
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("spent_at", UTCDateTime, nullable=True),  # used, or superseded by a newer link
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

# Issue 25: single-use recovery codes of two-factor sign-in, stored as SHA-256 (high-entropy
# random codes, like API keys); a code is spent by a conditional UPDATE.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
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

# Money in (issue 26, docs/payments.md). Credit packs the operator sells, priced in minor units
# (cents) of one currency.
credit_packs = Table(
    "credit_packs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("price_minor", BigInteger, nullable=False),  # 1000 = 10.00 USD
    Column("currency", String(3), nullable=False),  # ISO 4217, lower case as Stripe writes it
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per purchase, made when the Checkout Session is; the webhook moves it along.
payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("provider", String(20), nullable=False),  # stripe
    Column("checkout_session_id", String(200), nullable=True, unique=True),
    Column("payment_intent_id", String(200), nullable=True, unique=True),
    Column("charge_id", String(200), nullable=True),
    Column("pack_id", String(40), nullable=True),
    Column("credits", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # pending | paid | expired | failed (Stripe refused the session); refunds and disputes below
    Column("status", String(20), nullable=False),
    Column("credits_granted", BigInteger, nullable=False, default=0),
    Column("credits_taken_back", BigInteger, nullable=False, default=0),
    Column("amount_refunded_minor", BigInteger, nullable=False, default=0),
    Column("dispute_status", String(40), nullable=True),
    Column("receipt_url", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
)

# Stripe events whose effect committed: written in the effect's transaction, so the primary key
# makes each event count once however often it is delivered, and a failed effect leaves no row.
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", String(200), primary_key=True),  # evt_...
    Column("type", String(100), nullable=False),
    Column("outcome", String(100), nullable=False),
    Column("handled_at", UTCDateTime, nullable=False),
)

# Codes that grant credits when redeemed; only the SHA-256 of a code is stored.
redemption_codes = Table(
    "redemption_codes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("code_prefix", String(20), nullable=False),
    Column("batch", String(40), nullable=False, index=True),
    Column("credits", BigInteger, nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False, default=0),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("note", String(200), nullable=False, default=""),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Who redeemed what: an account redeems a code once.
redemptions = Table(
    "redemptions",
    metadata,
    Column("code_id", ForeignKey("redemption_codes.id"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# The monthly price the operator charges for a plan (keyed by the plan's name, issue 26).
plan_prices = Table(
    "plan_prices",
    metadata,
    Column("plan", String(40), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("unit_amount", BigInteger, nullable=False),  # minor units (cents) a month
    Column("stripe_price_id", String(200), nullable=True),  # the operator's own Stripe Price
    Column("updated_at", UTCDateTime, nullable=False),
)

# A customer's plan subscription through Stripe: ``pending`` until Checkout completes,
# ``active`` while invoices are paid, ``ended`` once canceled or unpaid (the plan downgraded).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("plan", String(40), nullable=False),
    Column("unit_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("checkout_session_id", String(200), nullable=True, unique=True),
    Column("stripe_subscription_id", String(200), nullable=True, unique=True),
    Column("stripe_customer_id", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("renewed_at", UTCDateTime, nullable=True),
    Column("cancels_at", UTCDateTime, nullable=True),  # canceled at the period's end
    Column("ended_at", UTCDateTime, nullable=True),
)

# Each paid subscription invoice grants the plan's monthly credits once: the invoice id is
# the primary key, written in the grant's transaction.
subscription_invoices = Table(
    "subscription_invoices",
    metadata,
    Column("invoice_id", String(200), primary_key=True),
    Column("subscription_id", ForeignKey("subscriptions.id"), nullable=False, index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("hosted_invoice_url", Text, nullable=True),
    Column("paid_at", UTCDateTime, nullable=False),
)

# "Buy an amount": the operator's price for any number of credits between two bounds (one row).
credit_amount_prices = Table(
    "credit_amount_prices",
    metadata,
    Column("id", String(20), primary_key=True),  # always "default"
    Column("currency", String(3), nullable=False),
    Column("price_per_thousand_minor", BigInteger, nullable=False),  # minor units per 1,000
    Column("min_credits", BigInteger, nullable=False),
    Column("max_credits", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Auto top-up: below ``threshold`` credits, one pack is charged to the saved card. ``armed``
# is cleared when a top-up starts and set again only once the balance is back at the threshold,
# so one crossing starts one top-up.
auto_top_ups = Table(
    "auto_top_ups",
    metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("threshold", BigInteger, nullable=False),
    Column("pack_id", String(40), nullable=True),
    Column("armed", Boolean, nullable=False),
    Column("stripe_customer_id", String(200), nullable=True),
    Column("payment_method_id", String(200), nullable=True),
    Column("last_payment_id", String(40), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
