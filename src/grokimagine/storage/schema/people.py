"""Accounts and the people and keys that act for them: API keys, console users and sessions, admin
keys, link tokens, recovery codes, the audit log."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table

from grokimagine.storage.schema.core import UTCDateTime, metadata

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
