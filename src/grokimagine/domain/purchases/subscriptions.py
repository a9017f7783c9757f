"""Plan subscriptions through Stripe: Checkout in subscription mode, cancel, and the list.

Our ``subscriptions`` row is written before Stripe is called and named in the subscription's
metadata; Stripe's events about it are applied by ``subscription_events.py``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import insert, select, update

from grokimagine.domain.billing.plans import PlanCatalog
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.purchases.checkout import (
    Checkout,
    PaymentProviderError,
    PaymentsNotConfiguredError,
    open_session,
    stripe_session,
)
from grokimagine.domain.purchases.credit_packs import format_money
from grokimagine.domain.purchases.plan_prices import get_plan_price
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, subscriptions


class SubscriptionExistsError(Exception):
    """The account already has a running subscription: cancel it before choosing another."""


class SubscriptionNotFoundError(LookupError):
    """The account has no running subscription."""


async def start_subscription(
    db: Database,
    settings: Settings,
    plans: PlanCatalog,
    account_id: str,
    plan: str,
    *,
    success_url: str,
    cancel_url: str,
) -> Checkout:
    """Record a pending subscription to ``plan`` and open a Checkout Session for it.

    Raises ``PaymentsNotConfiguredError``, ``UnknownPlanError``, ``PlanPriceNotFoundError``,
    :class:`SubscriptionExistsError` or ``PaymentProviderError``.
    """
    if not settings.stripe.enabled:
        raise PaymentsNotConfiguredError()
    plans.get(plan)
    found = await db.fetch_one(select(accounts.c.disabled_at).where(accounts.c.id == account_id))
    if found is None or found.disabled_at is not None:
        raise PaymentProviderError("this account is disabled")
    if await running_subscription(db, account_id) is not None:
        raise SubscriptionExistsError()
    price = await get_plan_price(db, plan)
    row_id = "subs_" + secrets.token_urlsafe(12)
    async with db.write() as conn:
        await conn.execute(
            insert(subscriptions).values(
                id=row_id,
                account_id=account_id,
                plan=plan,
                unit_amount=price.unit_amount,
                currency=price.currency,
                status="pending",
                created_at=utcnow(),
            )
        )
    metadata = {"subscription_id": row_id, "account_id": account_id, "plan": plan}
    if price.stripe_price_id:
        item: dict[str, Any] = {"price": price.stripe_price_id, "quantity": 1}
    else:
        item = {
            "price_data": {
                "currency": price.currency,
                "unit_amount": price.unit_amount,
                "recurring": {"interval": "month"},
                "product_data": {"name": f"{plan} plan"},
            },
            "quantity": 1,
        }
    return await open_session(
        db,
        settings,
        subscriptions,
        row_id,
        {
            "mode": "subscription",
            "line_items": [item],
            "client_reference_id": account_id,
            "metadata": metadata,
            # Copied onto the subscription, so its events lead back to our row.
            "subscription_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
    )


async def running_subscription(db: Database, account_id: str) -> dict[str, Any] | None:
    """The account's active subscription, as the Billing page shows it; None if none."""
    row = await db.fetch_one(
        select(subscriptions)
        .where(subscriptions.c.account_id == account_id, subscriptions.c.status == "active")
        .order_by(subscriptions.c.created_at.desc())
    )
    return describe_subscription(row) if row is not None else None


def describe_subscription(row: Any) -> dict[str, Any]:
    """A subscription as the console and the admin API show it."""
    return {
        "id": row.id,
        "account_id": row.account_id,
        "plan": row.plan,
        "status": row.status,
        "price": format_money(int(row.unit_amount), row.currency),
        "stripe_subscription_id": row.stripe_subscription_id,
        "created_at": iso_utc(row.created_at),
        "renewed_at": iso_utc(row.renewed_at),
        "cancels_at": iso_utc(row.cancels_at),
        "ended_at": iso_utc(row.ended_at),
    }


async def cancel_subscription(db: Database, settings: Settings, account_id: str) -> datetime | None:
    """Cancel the account's running subscription at the end of the period paid for (Stripe's
    ``cancel_at_period_end``); the plan ends when Stripe's ``customer.subscription.deleted``
    arrives. Returns when it ends, if Stripe says.

    Raises :class:`SubscriptionNotFoundError` or ``PaymentProviderError``.
    """
    row = await db.fetch_one(
        select(subscriptions.c.id, subscriptions.c.stripe_subscription_id).where(
            subscriptions.c.account_id == account_id,
            subscriptions.c.status == "active",
            subscriptions.c.stripe_subscription_id.is_not(None),
        )
    )
    if row is None:
        raise SubscriptionNotFoundError(account_id)
    try:
        async with stripe_session(settings.stripe) as client:
            remote = await client.v1.subscriptions.update_async(
                row.stripe_subscription_id, {"cancel_at_period_end": True}
            )
    except stripe.StripeError as exc:
        raise PaymentProviderError(exc.user_message or "the payment provider refused") from exc
    ends = period_end(remote.to_dict())
    async with db.write() as conn:
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == row.id)
            .values(cancels_at=ends or utcnow())
        )
    return ends


def period_end(subscription: dict[str, Any]) -> datetime | None:
    """When a Stripe subscription's current period ends (on the subscription in older API
    versions, on its items since 2025-03-31)."""
    moment = subscription.get("cancel_at") or subscription.get("current_period_end")
    if moment is None:
        items = (subscription.get("items") or {}).get("data") or [{}]
        moment = items[0].get("current_period_end")
    if isinstance(moment, int) and moment > 0:
        return datetime.fromtimestamp(moment, UTC)
    return None


async def account_subscriptions(db: Database, account_id: str, *, limit: int = 20) -> list[dict]:
    """The account's subscriptions that started (not abandoned checkouts), newest first."""
    rows = await db.fetch_all(
        select(subscriptions)
        .where(
            subscriptions.c.account_id == account_id,
            subscriptions.c.status.in_(("active", "unpaid", "canceled")),
        )
        .order_by(subscriptions.c.created_at.desc())
        .limit(limit)
    )
    return [describe_subscription(row) for row in rows]
