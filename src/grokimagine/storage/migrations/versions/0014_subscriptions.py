"""Plan prices and plan subscriptions through Stripe, with their paid invoices; the price of
credits bought by the amount; auto top-up

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import grokimagine.storage.schema

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, grokimagine.storage.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "plan_prices",
        sa.Column("plan", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("stripe_price_id", sa.String(length=200), nullable=True),
        _timestamp("updated_at", False),
        sa.PrimaryKeyConstraint("plan", name=op.f("pk_plan_prices")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("plan", sa.String(length=40), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=200), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=200), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=200), nullable=True),
        _timestamp("created_at", False),
        _timestamp("renewed_at", True),
        _timestamp("cancels_at", True),
        _timestamp("ended_at", True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_subscriptions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_subscriptions_checkout_session_id")
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")
        ),
    )
    op.create_index(op.f("ix_subscriptions_account_id"), "subscriptions", ["account_id"])
    op.create_table(
        "subscription_invoices",
        sa.Column("invoice_id", sa.String(length=200), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        _timestamp("paid_at", False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_invoices_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscription_invoices_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_subscription_invoices")),
    )
    op.create_index(
        op.f("ix_subscription_invoices_subscription_id"),
        "subscription_invoices",
        ["subscription_id"],
    )
    op.create_table(
        "credit_amount_prices",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_per_thousand_minor", sa.BigInteger(), nullable=False),
        sa.Column("min_credits", sa.BigInteger(), nullable=False),
        sa.Column("max_credits", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _timestamp("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_amount_prices")),
    )
    op.create_table(
        "auto_top_ups",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("pack_id", sa.String(length=40), nullable=True),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=200), nullable=True),
        sa.Column("payment_method_id", sa.String(length=200), nullable=True),
        sa.Column("last_payment_id", sa.String(length=40), nullable=True),
        _timestamp("updated_at", False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_auto_top_ups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_auto_top_ups")),
    )


def downgrade() -> None:
    op.drop_table("auto_top_ups")
    op.drop_table("credit_amount_prices")
    op.drop_index(
        op.f("ix_subscription_invoices_subscription_id"), table_name="subscription_invoices"
    )
    op.drop_table("subscription_invoices")
    op.drop_index(op.f("ix_subscriptions_account_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("plan_prices")
