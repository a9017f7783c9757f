"""Money: the credits ledger, monthly grants, and money in (packs, payments, Stripe events, codes,
plan prices, subscriptions, auto top-up)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, Text

from grokimagine.storage.schema.core import UTCDateTime, metadata

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


# One row per account and month whose plan grant was made: the primary key makes it once only.
monthly_grants = Table(
    "monthly_grants",
    metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("period", String(7), primary_key=True),  # YYYY-MM (UTC)
    Column("credits", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
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
