"""Database tables (SQLAlchemy Core), in modules by what they hold. Alembic migrations in
``storage/migrations`` create them. Importing this package registers every table on
``metadata``, so ``from grokimagine.storage.schema import tasks`` works for any table."""

from __future__ import annotations

from grokimagine.storage.schema.core import UTCDateTime, metadata
from grokimagine.storage.schema.money import (
    auto_top_ups,
    credit_amount_prices,
    credit_packs,
    ledger,
    monthly_grants,
    payments,
    plan_prices,
    redemption_codes,
    redemptions,
    stripe_events,
    subscription_invoices,
    subscriptions,
)
from grokimagine.storage.schema.people import (
    accounts,
    admin_keys,
    api_keys,
    audit_log,
    link_tokens,
    recovery_codes,
    sessions,
    users,
)
from grokimagine.storage.schema.tasks import (
    business_settings,
    job_leases,
    tasks,
    webhook_deliveries,
    webhook_endpoints,
    workers,
)

__all__ = [
    "UTCDateTime",
    "accounts",
    "admin_keys",
    "api_keys",
    "audit_log",
    "auto_top_ups",
    "business_settings",
    "credit_amount_prices",
    "credit_packs",
    "job_leases",
    "ledger",
    "link_tokens",
    "metadata",
    "monthly_grants",
    "payments",
    "plan_prices",
    "recovery_codes",
    "redemption_codes",
    "redemptions",
    "sessions",
    "stripe_events",
    "subscription_invoices",
    "subscriptions",
    "tasks",
    "users",
    "webhook_deliveries",
    "webhook_endpoints",
    "workers",
]
