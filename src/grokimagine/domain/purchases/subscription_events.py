"""Stripe's events about plan subscriptions, applied inside the webhook's transaction.

Our ``subscriptions`` row is named in the subscription's metadata, so every event finds it,
whatever order Stripe delivers them in:
- a paid invoice (``invoice.paid`` / ``invoice.payment_succeeded``) renews the plan and grants
  its monthly credits once per invoice (the invoice id is a primary key, written with the grant);
- ``customer.subscription.deleted`` ends it for good (``canceled``); an unpaid subscription
  (its status ``unpaid``, or ``invoice.payment_failed`` with no retry left) ends it until an
  invoice is paid again (``unpaid``). Ending moves the account back to the free plan, unless it
  is meanwhile on another plan.
The webhook (``stripe_events.py``) calls :func:`find_subscription` before its transaction and
:func:`apply_subscription_event` inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import insert, select, update

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.credits import grant_credits
from grokimagine.domain.billing.plans import DEFAULT_PLAN, PlanCatalog
from grokimagine.domain.clock import utcnow
from grokimagine.domain.purchases.checkout import stripe_session
from grokimagine.domain.purchases.credit_packs import format_money
from grokimagine.domain.purchases.subscriptions import period_end
from grokimagine.settings import Settings
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts, subscription_invoices, subscriptions

STRIPE = Actor("stripe")
INVOICE_PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
SUBSCRIPTION_EVENTS = (
    *INVOICE_PAID_EVENTS,
    "invoice.payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
ENDED_STATUSES = ("canceled", "unpaid", "incomplete_expired")  # Stripe's, that end the plan


@dataclass(frozen=True)
class SubscriptionRef:
    """Our subscription row an event is about, and the Stripe subscription it names."""

    row_id: str
    stripe_subscription_id: str | None


def is_subscription_event(kind: str, data: dict[str, Any]) -> bool:
    """Whether the webhook hands this event to this module."""
    if kind in SUBSCRIPTION_EVENTS:
        return True
    return kind.startswith("checkout.session.") and data.get("mode") == "subscription"


def _stripe_subscription_of(kind: str, data: dict[str, Any]) -> tuple[str | None, dict]:
    """The Stripe subscription id an event names, and the metadata it carries, if any."""
    if kind.startswith("customer.subscription."):
        return _text(data.get("id")), data.get("metadata") or {}
    if kind.startswith("checkout.session."):
        return _text(data.get("subscription")), data.get("metadata") or {}
    details = ((data.get("parent") or {}).get("subscription_details") or {}) or (
        data.get("subscription_details") or {}
    )
    sub = data.get("subscription") or details.get("subscription")
    if isinstance(sub, dict):  # expanded
        return _text(sub.get("id")), sub.get("metadata") or {}
    return _text(sub), details.get("metadata") or {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def find_subscription(
    db: Database, settings: Settings, kind: str, data: dict[str, Any]
) -> SubscriptionRef | None:
    """Our row the event is about (asking Stripe for the subscription's metadata when the
    event does not carry it); None for a subscription of some other business of the account.

    Raises ``StripeUnreachableError`` when Stripe cannot say now (the event is retried).
    """
    stripe_id, metadata = _stripe_subscription_of(kind, data)
    if stripe_id:
        row = await db.fetch_one(
            select(subscriptions.c.id).where(subscriptions.c.stripe_subscription_id == stripe_id)
        )
        if row is not None:
            return SubscriptionRef(row.id, stripe_id)
    row_id = metadata.get("subscription_id") if isinstance(metadata, dict) else None
    if not row_id and stripe_id:
        try:
            async with stripe_session(settings.stripe) as client:
                remote = await client.v1.subscriptions.retrieve_async(stripe_id)
        except stripe.InvalidRequestError:
            return None  # Stripe does not know it: nothing of ours
        except stripe.StripeError as exc:
            raise StripeUnreachableError(f"cannot read {stripe_id} now") from exc
        row_id = (remote.to_dict().get("metadata") or {}).get("subscription_id")
    if not isinstance(row_id, str) or not row_id:
        return None
    row = await db.fetch_one(
        select(subscriptions.c.id, subscriptions.c.stripe_subscription_id).where(
            subscriptions.c.id == row_id
        )
    )
    if row is None or row.stripe_subscription_id not in (None, stripe_id):
        return None
    return SubscriptionRef(row.id, stripe_id)


class StripeUnreachableError(Exception):
    """Stripe could not be asked about an event's subscription; the event is retried."""


async def apply_subscription_event(
    conn: DbConnection, plans: PlanCatalog, kind: str, data: dict[str, Any], ref: SubscriptionRef
) -> tuple[str, str]:
    """Apply one subscription event inside the webhook's transaction: (result, detail)."""
    found = await conn.execute(
        select(subscriptions).where(subscriptions.c.id == ref.row_id).with_for_update()
    )
    row = found.first()
    if row is None:
        return ("ignored", "not a subscription of this service")
    if ref.stripe_subscription_id and row.stripe_subscription_id is None:
        customer = data.get("customer")
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == row.id)
            .values(
                stripe_subscription_id=ref.stripe_subscription_id,
                stripe_customer_id=customer if isinstance(customer, str) else None,
            )
        )
    if kind.startswith("checkout.session."):
        if kind == "checkout.session.expired":
            await _status_if(conn, row.id, ("pending",), "expired")
            return ("applied", "subscription checkout expired")
        if data.get("payment_status") != "paid":
            return ("ignored", "session not paid yet")
        return await _activate(conn, row, "checkout completed")
    if kind in INVOICE_PAID_EVENTS:
        return await _invoice_paid(conn, plans, row, data)
    if kind == "invoice.payment_failed":
        paid = await conn.execute(
            select(subscription_invoices.c.invoice_id).where(
                subscription_invoices.c.invoice_id == data.get("id")
            )
        )
        if paid.first() is not None:
            return ("ignored", "that invoice was paid since")
        if data.get("next_payment_attempt") is not None:
            return ("ignored", "Stripe retries the payment")
        return await _end(conn, row, "unpaid", "the last payment attempt failed")
    status = str(data.get("status") or "")
    if kind == "customer.subscription.deleted":
        return await _end(conn, row, "canceled", "the subscription was canceled")
    if status in ENDED_STATUSES:
        return await _end(conn, row, "unpaid" if status == "unpaid" else "canceled", status)
    if kind == "customer.subscription.updated" and row.status == "active":
        # Canceled at the period's end, or resumed (Stripe's dashboard or portal).
        ends = (
            period_end(data) if data.get("cancel_at_period_end") or data.get("cancel_at") else None
        )
        await conn.execute(
            update(subscriptions).where(subscriptions.c.id == row.id).values(cancels_at=ends)
        )
        return ("applied", "ends at the period's end" if ends else "renews")
    return ("ignored", f"subscription {status or 'updated'}")


async def _status_if(conn: DbConnection, row_id: str, before: tuple[str, ...], after: str) -> int:
    changed = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row_id, subscriptions.c.status.in_(before))
        .values(status=after)
    )
    return int(changed.rowcount)


async def _activate(conn: DbConnection, row: Any, why: str) -> tuple[str, str]:
    """Make a pending or unpaid subscription active and put the account on its plan; a
    canceled one stays canceled (its events may arrive after its end)."""
    if row.status == "canceled":
        return ("ignored", "the subscription has ended")
    if row.status != "active":
        await _status_if(conn, row.id, (row.status,), "active")
        await conn.execute(
            update(subscriptions).where(subscriptions.c.id == row.id).values(ended_at=None)
        )
    await _move_plan(conn, row.account_id, row.plan, f"subscription {row.id}: {why}")
    return ("applied", f"{row.plan} plan active")


async def _invoice_paid(
    conn: DbConnection, plans: PlanCatalog, row: Any, invoice: dict[str, Any]
) -> tuple[str, str]:
    invoice_id = _text(invoice.get("id"))
    if invoice_id is None or invoice.get("status") not in (None, "paid"):
        return ("ignored", "invoice not paid")
    done = await conn.execute(
        select(subscription_invoices.c.invoice_id).where(
            subscription_invoices.c.invoice_id == invoice_id
        )
    )
    if done.first() is not None:
        return ("ignored", "invoice already granted")  # invoice.paid and .payment_succeeded
    plan = plans.plans.get(row.plan)
    credits = plan.monthly_credits if plan is not None else 0
    amount = int(invoice.get("amount_paid") or 0)
    currency = str(invoice.get("currency") or row.currency).lower()[:3]
    now = utcnow()
    await conn.execute(
        insert(subscription_invoices).values(
            invoice_id=invoice_id,
            subscription_id=row.id,
            account_id=row.account_id,
            credits=credits,
            amount_minor=amount,
            currency=currency,
            hosted_invoice_url=_link(invoice.get("hosted_invoice_url")),
            paid_at=now,
        )
    )
    result = await _activate(conn, row, f"invoice {invoice_id} paid")
    await conn.execute(
        update(subscriptions).where(subscriptions.c.id == row.id).values(renewed_at=now)
    )
    if credits > 0:
        # The customer paid for this month: its credits come even if the plan has ended.
        await grant_credits(
            conn,
            row.account_id,
            credits,
            note=f"subscription {row.id}: {row.plan} plan, invoice {invoice_id}",
            reason="monthly",
        )
    await record_action(
        conn,
        STRIPE,
        "subscription.invoice_paid",
        "account",
        row.account_id,
        after={
            "subscription": row.id,
            "invoice": invoice_id,
            "credits": credits,
        },
        note=format_money(amount, currency),
    )
    return ("applied", f"granted {credits}; {result[1]}")


async def _end(conn: DbConnection, row: Any, status: str, why: str) -> tuple[str, str]:
    if row.status == "canceled" or row.status == status:
        return ("ignored", f"already {row.status}")
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row.id)
        .values(status=status, ended_at=utcnow())
    )
    # Another running subscription of the account (a newer plan) keeps the account's plan.
    others = await conn.execute(
        select(subscriptions.c.id).where(
            subscriptions.c.account_id == row.account_id,
            subscriptions.c.id != row.id,
            subscriptions.c.status == "active",
            subscriptions.c.plan == row.plan,
        )
    )
    account = (
        await conn.execute(
            select(accounts.c.plan).where(accounts.c.id == row.account_id).with_for_update()
        )
    ).first()
    moved = ""
    if others.first() is None and account is not None and account.plan == row.plan:
        await _move_plan(conn, row.account_id, DEFAULT_PLAN, f"subscription {row.id}: {why}")
        moved = f"; back to {DEFAULT_PLAN}"
    await record_action(
        conn,
        STRIPE,
        "subscription.end",
        "account",
        row.account_id,
        before={"subscription": row.id, "status": row.status},
        after={"status": status},
        note=why,
    )
    return ("applied", f"{status}{moved}")


async def _move_plan(conn: DbConnection, account_id: str, plan: str, why: str) -> None:
    found = await conn.execute(
        select(accounts.c.plan).where(accounts.c.id == account_id).with_for_update()
    )
    account = found.first()
    if account is None or account.plan == plan:
        return
    await conn.execute(update(accounts).where(accounts.c.id == account_id).values(plan=plan))
    await record_action(
        conn,
        STRIPE,
        "account.plan",
        "account",
        account_id,
        before={"plan": account.plan},
        after={"plan": plan},
        note=why,
    )


def _link(url: Any) -> str | None:
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 2000:
        return url
    return None
