"""Buying credits: a Stripe Checkout Session per purchase, and the account's payments.

Stripe hosts the payment page, so no card data ever reaches this service. The payment row is
written before Stripe is called and named in the session's metadata; the webhook
(``stripe_events.py``) grants the credits when Stripe says the session is paid.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import Table, insert, select, update

from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.purchases.credit_amounts import get_amount_price, quote_amount
from grokimagine.domain.purchases.credit_packs import format_money, get_pack
from grokimagine.settings import Settings, StripeSettings
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts, payments


class PaymentsNotConfiguredError(Exception):
    """Stripe is not configured here: credits come from redemption codes or the operator."""


class PaymentProviderError(Exception):
    """Stripe refused or could not be reached; nothing was charged."""


@dataclass(frozen=True)
class Checkout:
    """A Checkout Session to send the customer to."""

    payment_id: str
    session_id: str
    url: str


@contextlib.asynccontextmanager
async def stripe_session(config: StripeSettings) -> AsyncIterator[stripe.StripeClient]:
    """A Stripe client of these settings on httpx (for the async calls), closed afterwards.

    Made per use: its connection pool belongs to the event loop it first ran on, and payments
    are rare enough that a fresh connection costs nothing that matters.
    """
    if not config.enabled or config.secret_key is None:
        raise PaymentsNotConfiguredError()
    addresses: dict[str, str] = {"api": config.api_base} if config.api_base else {}
    http_client = stripe.HTTPXClient(timeout=30)
    try:
        yield stripe.StripeClient(
            config.secret_key.get_secret_value(),
            base_addresses=addresses,  # type: ignore[arg-type]
            http_client=http_client,
            max_network_retries=2,
        )
    finally:
        await http_client.close_async()


async def start_checkout(
    db: Database,
    settings: Settings,
    account_id: str,
    pack_id: str,
    *,
    success_url: str,
    cancel_url: str,
    save_card: bool = False,
) -> Checkout:
    """Record a pending payment for a pack and open a Checkout Session for it (with
    ``save_card``, Stripe keeps the card for auto top-up, off-session).

    Raises :class:`PaymentsNotConfiguredError`, ``PackNotFoundError`` or
    :class:`PaymentProviderError`.
    """
    if not settings.stripe.enabled:
        raise PaymentsNotConfiguredError()
    pack = await get_pack(db, pack_id, on_sale_only=True)
    order = _Order(pack.id, pack.credits, pack.price_minor, pack.currency, pack.name, save_card)
    return await _open_checkout(db, settings, account_id, order, success_url, cancel_url)


async def start_amount_checkout(
    db: Database,
    settings: Settings,
    account_id: str,
    credits: int,
    *,
    success_url: str,
    cancel_url: str,
) -> Checkout:
    """Record a pending payment for ``credits`` at the operator's rate and open a Checkout
    Session for it.

    Raises :class:`PaymentsNotConfiguredError`, ``AmountsNotOnSaleError``,
    ``InvalidRequestError`` (out of the bounds) or :class:`PaymentProviderError`.
    """
    if not settings.stripe.enabled:
        raise PaymentsNotConfiguredError()
    offer = await get_amount_price(db)
    price = quote_amount(offer, credits)
    order = _Order(None, credits, price, offer.currency, "Credits")
    return await _open_checkout(db, settings, account_id, order, success_url, cancel_url)


def new_payment_id() -> str:
    """The id of a new payment (also Stripe's idempotency key for it)."""
    return "pay_" + secrets.token_urlsafe(12)


async def insert_pending_payment(
    conn: DbConnection,
    payment_id: str,
    account_id: str,
    *,
    pack_id: str | None,
    credits: int,
    amount_minor: int,
    currency: str,
) -> None:
    """Record a Stripe payment not paid yet: nothing granted, taken back or refunded."""
    await conn.execute(
        insert(payments).values(
            id=payment_id,
            account_id=account_id,
            provider="stripe",
            pack_id=pack_id,
            credits=credits,
            amount_minor=amount_minor,
            currency=currency,
            status="pending",
            credits_granted=0,
            credits_taken_back=0,
            amount_refunded_minor=0,
            created_at=utcnow(),
        )
    )


@dataclass(frozen=True)
class _Order:
    pack_id: str | None
    credits: int
    price_minor: int
    currency: str
    name: str
    save_card: bool = False


async def _open_checkout(
    db: Database,
    settings: Settings,
    account_id: str,
    order: _Order,
    success_url: str,
    cancel_url: str,
) -> Checkout:
    found = await db.fetch_one(select(accounts.c.disabled_at).where(accounts.c.id == account_id))
    if found is None or found.disabled_at is not None:
        raise PaymentProviderError("this account is disabled")
    payment_id = new_payment_id()
    async with db.write() as conn:
        await insert_pending_payment(
            conn,
            payment_id,
            account_id,
            pack_id=order.pack_id,
            credits=order.credits,
            amount_minor=order.price_minor,
            currency=order.currency,
        )
    metadata = {"payment_id": payment_id, "account_id": account_id, "credits": str(order.credits)}
    intent_data: dict[str, Any] = {"metadata": metadata}
    saving: dict[str, Any] = {}
    if order.save_card:
        # Stripe's "save payment details during payment": a customer, the card kept for
        # off-session charges (auto top-up).
        metadata = {**metadata, "save_card": "1"}
        intent_data = {"metadata": metadata, "setup_future_usage": "off_session"}
        saving = {"customer_creation": "always"}
    line_item = {
        "price_data": {
            "currency": order.currency,
            "unit_amount": order.price_minor,
            "product_data": {"name": f"{order.name} ({order.credits:,} credits)"},
        },
        "quantity": 1,
    }
    return await open_session(
        db,
        settings,
        payments,
        payment_id,
        {
            **saving,
            "mode": "payment",
            "line_items": [line_item],
            "client_reference_id": account_id,
            "metadata": metadata,
            "payment_intent_data": intent_data,
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
    )


async def open_session(
    db: Database, settings: Settings, rows: Table, row_id: str, params: dict[str, Any]
) -> Checkout:
    """Open a Checkout Session of ``params`` for the pending row ``row_id`` of ``rows`` (a
    payment or a subscription): the row keeps the session's id, or is failed when Stripe
    refuses (raises :class:`PaymentProviderError`)."""
    try:
        async with stripe_session(settings.stripe) as client:
            session = await client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]  # Stripe's TypedDict: built by the callers
                # Stripe's own idempotency: a retried call opens the same session.
                {"idempotency_key": row_id},
            )
    except stripe.StripeError as exc:
        async with db.write() as conn:
            await conn.execute(update(rows).where(rows.c.id == row_id).values(status="failed"))
        raise PaymentProviderError(exc.user_message or "the payment provider refused") from exc
    async with db.write() as conn:
        await conn.execute(
            update(rows).where(rows.c.id == row_id).values(checkout_session_id=session.id)
        )
    if not session.url:
        raise PaymentProviderError("the payment provider returned no payment page")
    return Checkout(row_id, session.id, session.url)


def describe_payment(row: Any) -> dict[str, Any]:
    """A payment as the console and the admin API show it."""
    return {
        "id": row.id,
        "account_id": row.account_id,
        "status": row.status,
        "credits": int(row.credits),
        "amount": format_money(int(row.amount_minor), row.currency),
        "amount_minor": int(row.amount_minor),
        "currency": row.currency,
        "credits_granted": int(row.credits_granted),
        "credits_taken_back": int(row.credits_taken_back),
        "amount_refunded": format_money(int(row.amount_refunded_minor), row.currency),
        "dispute_status": row.dispute_status,
        "receipt_url": row.receipt_url,
        "payment_intent_id": row.payment_intent_id,
        "created_at": iso_utc(row.created_at),
        "paid_at": iso_utc(row.paid_at),
    }


async def account_payments(db: Database, account_id: str, *, limit: int = 50) -> list[dict]:
    """The account's payments that were paid (receipts), newest first."""
    rows = await db.fetch_all(
        select(payments)
        .where(payments.c.account_id == account_id, payments.c.status == "paid")
        .order_by(payments.c.created_at.desc())
        .limit(limit)
    )
    return [describe_payment(row) for row in rows]


async def recent_payments(db: Database, *, limit: int = 100) -> list[dict]:
    """Every account's paid payments, newest first (for operators)."""
    rows = await db.fetch_all(
        select(payments)
        .where(payments.c.status == "paid")
        .order_by(payments.c.created_at.desc())
        .limit(limit)
    )
    return [describe_payment(row) for row in rows]
