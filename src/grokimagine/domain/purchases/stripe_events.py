"""Stripe's webhook events: verified, then applied exactly once, whatever the deliveries.

Stripe delivers at least once, retries until it gets a 2xx and may deliver out of order. So:
- the signature is checked with Stripe's library (a tampered or stale event is refused);
- the event id is inserted into ``stripe_events`` in the same transaction as the event's effect
  (ledger rows, payment row, audit entry): a replay finds the row (or waits for the first
  delivery's commit and hits its primary key) and changes nothing, and a failed effect leaves
  no row, so the error answer makes Stripe retry;
- effects are written as targets, not increments: ``charge.refunded`` carries the cumulative
  amount refunded, so the credits to take back are "what this much refund is worth, minus what
  was taken back already", right in any order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.credits import grant_credits, take_back_credits
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.clock import utcnow
from grokimagine.domain.purchases.auto_top_up import save_card
from grokimagine.domain.purchases.checkout import PaymentsNotConfiguredError, stripe_session
from grokimagine.domain.purchases.credit_packs import format_money
from grokimagine.domain.purchases.subscription_events import (
    SubscriptionRef,
    apply_subscription_event,
    find_subscription,
    is_subscription_event,
)
from grokimagine.settings import Settings
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import payments, stripe_events

log = logging.getLogger("grokimagine.payments")

STRIPE = Actor("stripe")  # the audit log's actor for what Stripe's events do
PAID_SESSION_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


class WebhookSignatureError(Exception):
    """The body is not a Stripe event signed with our endpoint's secret, within the tolerance."""


class PaymentNotYetKnownError(Exception):
    """An event about one of our payments arrived before the payment was recorded as paid;
    answered with an error so that Stripe delivers it again later."""


@dataclass(frozen=True)
class Outcome:
    """What an event did: ``applied``, ``duplicate`` or ``ignored``, and a word on why."""

    result: str
    detail: str


def verify_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in ``payload`` after checking its ``Stripe-Signature`` header."""
    config = settings.stripe
    if config.webhook_secret is None:
        raise PaymentsNotConfiguredError()
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            signature or "",
            config.webhook_secret.get_secret_value(),
            config.webhook_tolerance_seconds,
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise WebhookSignatureError(str(exc)) from None
    if not isinstance(event, dict):
        raise WebhookSignatureError("not a Stripe event")
    return event


async def receive_event(
    db: Database, settings: Settings, payload: bytes, signature: str | None
) -> Outcome:
    """Verify a webhook delivery and apply its event once (see the module's docstring)."""
    return await handle_event(db, settings, verify_event(settings, payload, signature))


async def handle_event(db: Database, settings: Settings, event: dict[str, Any]) -> Outcome:
    """Apply one verified event once; a second delivery of it is a ``duplicate``."""
    event_id = str(event.get("id") or "")
    kind = str(event.get("type") or "")
    data = (event.get("data") or {}).get("object") or {}
    if not event_id.startswith("evt_") or not isinstance(data, dict):
        raise WebhookSignatureError("not a Stripe event")
    if await db.fetch_one(select(stripe_events.c.id).where(stripe_events.c.id == event_id)):
        return Outcome("duplicate", "handled before")
    receipt = None
    subscription: SubscriptionRef | None = None
    if is_subscription_event(kind, data):
        subscription = await find_subscription(db, settings, kind, data)
    elif kind in PAID_SESSION_EVENTS and data.get("payment_status") == "paid":
        receipt = await _charge_of(settings, data.get("payment_intent"))
    if kind == "charge.refunded" or kind.startswith("charge.dispute."):
        await _check_known(db, settings, data)
    try:
        async with db.write() as conn:
            # First: a concurrent delivery of this event waits here for ours to end, then
            # hits the primary key (or, if ours rolled back, goes on to apply it).
            await conn.execute(
                insert(stripe_events).values(
                    id=event_id, type=kind[:100], outcome="", handled_at=utcnow()
                )
            )
            if is_subscription_event(kind, data):
                outcome = await _apply_subscription(conn, settings, kind, data, subscription)
            else:
                outcome = await _apply(conn, kind, data, receipt)
            await conn.execute(
                update(stripe_events)
                .where(stripe_events.c.id == event_id)
                .values(outcome=f"{outcome.result}: {outcome.detail}"[:100])
            )
    except IntegrityError:
        # Another delivery of this event committed first (its row is the primary key we hit).
        return Outcome("duplicate", "handled concurrently")
    log.info("stripe event %s %s: %s (%s)", event_id, kind, outcome.result, outcome.detail)
    return outcome


async def _apply_subscription(
    conn: DbConnection,
    settings: Settings,
    kind: str,
    data: dict[str, Any],
    subscription: SubscriptionRef | None,
) -> Outcome:
    if subscription is None:
        return Outcome("ignored", "not a subscription of this service")
    plans = plan_catalog(settings)
    return Outcome(*await apply_subscription_event(conn, plans, kind, data, subscription))


async def _apply(
    conn: DbConnection, kind: str, data: dict[str, Any], receipt: dict[str, str | None] | None
) -> Outcome:
    if kind in PAID_SESSION_EVENTS:
        return await _session_paid(conn, data, receipt or {})
    if kind == "checkout.session.expired":
        payment_id = (data.get("metadata") or {}).get("payment_id")
        await conn.execute(
            update(payments)
            .where(payments.c.id == payment_id, payments.c.status == "pending")
            .values(status="expired")
        )
        return Outcome("applied", "session expired")
    if kind == "payment_intent.succeeded" and (data.get("metadata") or {}).get("auto_top_up"):
        return await _top_up_paid(conn, data)
    if kind == "charge.refunded":
        return await _charge_refunded(conn, data)
    if kind.startswith("charge.dispute."):
        return await _dispute(conn, data)
    return Outcome("ignored", f"{kind} is not used here")


async def _session_paid(
    conn: DbConnection, session: dict[str, Any], receipt: dict[str, str | None]
) -> Outcome:
    if session.get("payment_status") != "paid":
        return Outcome("ignored", "session not paid yet")  # async methods: a later event pays
    payment_id = (session.get("metadata") or {}).get("payment_id")
    found = await conn.execute(select(payments).where(payments.c.id == payment_id))
    payment = found.first()
    if payment is None:
        return Outcome("ignored", "not a payment of this service")
    if session.get("amount_total") != payment.amount_minor or (
        str(session.get("currency") or "").lower() != payment.currency
    ):
        # The amount paid is not the one we asked for: grant nothing, an operator looks.
        log.error("payment %s: session %s amount differs", payment.id, session.get("id"))
        return Outcome("ignored", "amount differs from the payment's")
    now = utcnow()
    # Compare-and-set on the status: two different events for one session grant once.
    changed = await conn.execute(
        update(payments)
        .where(payments.c.id == payment.id, payments.c.status.in_(("pending", "expired")))
        .values(
            status="paid",
            paid_at=now,
            credits_granted=payment.credits,
            checkout_session_id=session.get("id"),
            payment_intent_id=session.get("payment_intent"),
            charge_id=receipt.get("charge_id"),
            receipt_url=receipt.get("receipt_url"),
        )
    )
    if changed.rowcount != 1:
        return Outcome("ignored", "payment already paid")
    customer, method = session.get("customer"), receipt.get("payment_method")
    if (session.get("metadata") or {}).get("save_card") and customer and method:
        await save_card(conn, payment.account_id, str(customer), str(method))
    return await _grant_payment(conn, payment, "", str(session.get("payment_intent")))


async def _top_up_paid(conn: DbConnection, intent: dict[str, Any]) -> Outcome:
    """An auto top-up's off-session charge succeeded: grant its pack once."""
    payment_id = (intent.get("metadata") or {}).get("payment_id")
    payment = (await conn.execute(select(payments).where(payments.c.id == payment_id))).first()
    if payment is None:
        return Outcome("ignored", "not a payment of this service")
    received = intent.get("amount_received", intent.get("amount"))
    if received != payment.amount_minor or str(intent.get("currency")) != payment.currency:
        log.error("auto top-up %s: intent %s amount differs", payment.id, intent.get("id"))
        return Outcome("ignored", "amount differs from the payment's")
    charge = intent.get("latest_charge")
    changed = await conn.execute(
        update(payments)
        .where(payments.c.id == payment.id, payments.c.status.in_(("pending", "failed")))
        .values(
            status="paid",
            paid_at=utcnow(),
            credits_granted=payment.credits,
            payment_intent_id=intent.get("id"),
            charge_id=charge if isinstance(charge, str) else None,
        )
    )
    if changed.rowcount != 1:
        return Outcome("ignored", "payment already paid")
    return await _grant_payment(conn, payment, "auto top-up, ", f"auto top-up {intent.get('id')}")


async def _grant_payment(conn: DbConnection, payment: Any, kind: str, reference: str) -> Outcome:
    """Grant a paid payment's credits and audit it, in the transaction that marked it paid."""
    price = format_money(int(payment.amount_minor), payment.currency)
    balance = await grant_credits(
        conn,
        payment.account_id,
        int(payment.credits),
        note=f"payment {payment.id}: {kind}{int(payment.credits):,} credits for {price}",
        reason="purchase",
    )
    await record_action(
        conn,
        STRIPE,
        "payment.paid",
        "account",
        payment.account_id,
        after={"payment": payment.id, "credits": int(payment.credits), "balance": balance},
        note=f"{price}, {reference}",
    )
    return Outcome("applied", f"granted {payment.credits}")


async def _payment_of_charge(conn: DbConnection, charge: dict[str, Any]) -> Any:
    intent = charge.get("payment_intent")
    if not intent:
        return None
    found = await conn.execute(select(payments).where(payments.c.payment_intent_id == intent))
    return found.first()


async def _charge_refunded(conn: DbConnection, charge: dict[str, Any]) -> Outcome:
    payment = await _payment_of_charge(conn, charge)
    if payment is None:
        return Outcome("ignored", "not a payment of this service")
    refunded = max(int(charge.get("amount_refunded") or 0), int(payment.amount_refunded_minor))
    await conn.execute(
        update(payments)
        .where(payments.c.id == payment.id)
        .values(
            amount_refunded_minor=refunded,
            receipt_url=_link(charge.get("receipt_url")) or payment.receipt_url,
            charge_id=charge.get("id") or payment.charge_id,
        )
    )
    return await _take_back(conn, payment, refunded, payment.dispute_status, "refund")


async def _dispute(conn: DbConnection, dispute: dict[str, Any]) -> Outcome:
    payment = await _payment_of_charge(conn, dispute)
    if payment is None:
        return Outcome("ignored", "not a payment of this service")
    status = str(dispute.get("status") or "")[:40]
    if payment.dispute_status == "lost":
        return Outcome("ignored", "dispute already lost")  # a lost dispute stays lost
    await conn.execute(
        update(payments).where(payments.c.id == payment.id).values(dispute_status=status)
    )
    return await _take_back(conn, payment, int(payment.amount_refunded_minor), status, "dispute")


async def _take_back(
    conn: DbConnection, payment: Any, refunded_minor: int, dispute_status: str | None, why: str
) -> Outcome:
    """Bring the credits taken back to what the refunds and a lost dispute are worth."""
    credits, amount = int(payment.credits), int(payment.amount_minor)
    if dispute_status == "lost":
        target = credits
    else:
        target = credits * min(refunded_minor, amount) // amount
    # The row is re-read under the UPDATE's lock: racing events cannot both take the same part.
    done = int(payment.credits_taken_back)
    if target <= done:
        return Outcome("ignored", f"{why}: nothing more to take back")
    changed = await conn.execute(
        update(payments)
        .where(payments.c.id == payment.id, payments.c.credits_taken_back == done)
        .values(credits_taken_back=target)
    )
    if changed.rowcount != 1:
        raise PaymentNotYetKnownError("the payment changed meanwhile; retry")
    amount_text = format_money(refunded_minor, payment.currency)
    detail = "lost dispute" if why == "dispute" else f"refund of {amount_text}"
    balance = await take_back_credits(
        conn, payment.account_id, target - done, note=f"payment {payment.id}: {detail}"
    )
    await record_action(
        conn,
        STRIPE,
        f"payment.{why}",
        "account",
        payment.account_id,
        before={"credits_taken_back": done},
        after={"payment": payment.id, "credits_taken_back": target, "balance": balance},
        note=detail,
    )
    return Outcome("applied", f"took back {target - done}")


async def _charge_of(settings: Settings, intent_id: Any) -> dict[str, str | None]:
    """The charge id and hosted receipt link of a paid intent; none if Stripe cannot say now
    (the receipt is not worth failing a grant over: a later charge event brings it)."""
    if not isinstance(intent_id, str) or not intent_id:
        return {}
    try:
        async with stripe_session(settings.stripe) as client:
            intent = await client.v1.payment_intents.retrieve_async(
                intent_id, {"expand": ["latest_charge"]}
            )
    except stripe.StripeError:
        log.warning("could not read payment intent %s for its receipt", intent_id)
        return {}
    charge = intent.to_dict().get("latest_charge")
    method = intent.to_dict().get("payment_method")
    method = method if isinstance(method, str) else None
    if isinstance(charge, str):
        return {"charge_id": charge, "receipt_url": None, "payment_method": method}
    if not charge:
        return {"payment_method": method}
    return {
        "charge_id": charge.get("id"),
        "receipt_url": _link(charge.get("receipt_url")),
        "payment_method": method,
    }


def _link(url: Any) -> str | None:
    """A receipt link fit for an ``href``: http(s) only, of a sane length."""
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 2000:
        return url
    return None


async def _check_known(db: Database, settings: Settings, charge: dict[str, Any]) -> None:
    """Refuse (for a later retry) a refund or dispute of one of our payments that is not yet
    recorded as paid; events of other Stripe business pass through to be ignored."""
    intent_id = charge.get("payment_intent")
    if not isinstance(intent_id, str) or not intent_id:
        return
    known = await db.fetch_one(
        select(payments.c.id).where(payments.c.payment_intent_id == intent_id)
    )
    if known is not None:
        return
    try:
        async with stripe_session(settings.stripe) as client:
            intent = await client.v1.payment_intents.retrieve_async(intent_id)
    except stripe.StripeError as exc:
        raise PaymentNotYetKnownError(f"cannot read {intent_id} now") from exc
    payment_id = (intent.to_dict().get("metadata") or {}).get("payment_id")
    if payment_id and await db.fetch_one(select(payments.c.id).where(payments.c.id == payment_id)):
        raise PaymentNotYetKnownError(f"{payment_id} is not paid yet")
