"""Auto top-up: when an account's balance falls below its threshold, charge one pack to the
card it saved, off-session, and grant the credits when Stripe's webhook says it is paid.

Never more than one top-up per crossing: ``armed`` is cleared by a compare-and-set in the same
transaction that writes the top-up's payment row, and set again only when the balance is back
at or above the threshold. The charge runs outside any request (the worker's check-in calls
:func:`sweep_auto_top_ups`); the credits come from ``payment_intent.succeeded`` like a pack's.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlalchemy import insert, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.checkout import (
    PaymentsNotConfiguredError,
    insert_pending_payment,
    new_payment_id,
    stripe_session,
)
from grokimagine.domain.purchases.credit_packs import MAX_CREDITS, get_pack
from grokimagine.settings import Settings
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts, auto_top_ups, credit_packs, payments

log = logging.getLogger("grokimagine.payments")


async def save_card(conn: DbConnection, account_id: str, customer_id: str, method_id: str) -> None:
    """Keep the Stripe customer and card of a paid checkout for auto top-up (webhook's
    transaction); the settings already made are kept."""
    found = await conn.execute(
        select(auto_top_ups.c.account_id).where(auto_top_ups.c.account_id == account_id)
    )
    values = {"stripe_customer_id": customer_id, "payment_method_id": method_id}
    if found.first() is None:
        await conn.execute(
            insert(auto_top_ups).values(
                account_id=account_id,
                enabled=False,
                threshold=0,
                armed=True,
                updated_at=utcnow(),
                **values,
            )
        )
    else:
        await conn.execute(
            update(auto_top_ups).where(auto_top_ups.c.account_id == account_id).values(values)
        )


async def get_auto_top_up(db: Database, account_id: str) -> dict[str, Any] | None:
    """The account's auto top-up as the Billing page shows it; None before a card is saved."""
    row = await db.fetch_one(select(auto_top_ups).where(auto_top_ups.c.account_id == account_id))
    if row is None:
        return None
    return {
        "enabled": bool(row.enabled),
        "threshold": int(row.threshold),
        "pack_id": row.pack_id,
        "card_saved": bool(row.payment_method_id),
        "last_payment_id": row.last_payment_id,
    }


async def set_auto_top_up(
    db: Database, account_id: str, *, enabled: bool, threshold: int, pack_id: str
) -> None:
    """Turn auto top-up on or off: below ``threshold`` credits, buy ``pack_id``.

    Raises ``InvalidRequestError`` (no saved card, a bad threshold) or ``PackNotFoundError``.
    """
    if not 1 <= threshold <= MAX_CREDITS:
        raise InvalidRequestError(f"the threshold must be 1 to {MAX_CREDITS} credits")
    await get_pack(db, pack_id, on_sale_only=True)
    async with db.write() as conn:
        changed = await conn.execute(
            update(auto_top_ups)
            .where(
                auto_top_ups.c.account_id == account_id,
                auto_top_ups.c.payment_method_id.is_not(None),
            )
            .values(enabled=enabled, threshold=threshold, pack_id=pack_id, updated_at=utcnow())
        )
        if changed.rowcount != 1:
            raise InvalidRequestError("save a card first: buy a pack with 'save my card' ticked")


async def _claim(db: Database, account_id: str) -> dict[str, Any] | None:
    """Disarm and write the top-up's pending payment in one transaction, if the balance is
    below the threshold and the account is armed; re-arm if the balance is back up."""
    async with db.write() as conn:
        found = await conn.execute(
            select(auto_top_ups, accounts.c.balance, accounts.c.disabled_at)
            .join(accounts, accounts.c.id == auto_top_ups.c.account_id)
            .where(auto_top_ups.c.account_id == account_id)
            .with_for_update()
        )
        row = found.first()
        if row is None or not row.enabled or not row.payment_method_id or row.pack_id is None:
            return None
        if int(row.balance) >= int(row.threshold):
            if not row.armed:
                await conn.execute(
                    update(auto_top_ups)
                    .where(auto_top_ups.c.account_id == account_id)
                    .values(armed=True)
                )
            return None
        if not row.armed or row.disabled_at is not None:
            return None
        pack = (
            await conn.execute(
                select(credit_packs).where(
                    credit_packs.c.id == row.pack_id, credit_packs.c.active.is_(True)
                )
            )
        ).first()
        if pack is None:
            return None  # the pack went off sale: nothing to buy
        payment_id = new_payment_id()
        # The compare-and-set: of racing claims, one sees armed and clears it.
        changed = await conn.execute(
            update(auto_top_ups)
            .where(auto_top_ups.c.account_id == account_id, auto_top_ups.c.armed.is_(True))
            .values(armed=False, last_payment_id=payment_id)
        )
        if changed.rowcount != 1:
            return None
        await insert_pending_payment(
            conn,
            payment_id,
            account_id,
            pack_id=pack.id,
            credits=pack.credits,
            amount_minor=pack.price_minor,
            currency=pack.currency,
        )
    return {
        "payment_id": payment_id,
        "credits": pack.credits,
        "amount": pack.price_minor,
        "currency": pack.currency,
        "customer": row.stripe_customer_id,
        "method": row.payment_method_id,
    }


async def start_top_up(db: Database, settings: Settings, account_id: str) -> str | None:
    """Start one top-up if the account is due one; the payment's id, or None.

    The card is charged off-session; a refusal (declined, authentication needed) marks the
    payment failed and leaves the account disarmed until its balance is back up, so a bad card
    is not charged again and again.
    """
    if not settings.stripe.enabled:
        raise PaymentsNotConfiguredError()
    claim = await _claim(db, account_id)
    if claim is None:
        return None
    metadata = {
        "payment_id": claim["payment_id"],
        "account_id": account_id,
        "credits": str(claim["credits"]),
        "auto_top_up": "1",
    }
    try:
        async with stripe_session(settings.stripe) as client:
            intent = await client.v1.payment_intents.create_async(
                {
                    "amount": claim["amount"],
                    "currency": claim["currency"],
                    "customer": claim["customer"],
                    "payment_method": claim["method"],
                    "off_session": True,
                    "confirm": True,
                    "metadata": metadata,
                },
                {"idempotency_key": claim["payment_id"]},
            )
    except stripe.StripeError as exc:
        log.warning("auto top-up %s of %s refused: %s", claim["payment_id"], account_id, exc)
        async with db.write() as conn:
            await conn.execute(
                update(payments)
                .where(payments.c.id == claim["payment_id"], payments.c.status == "pending")
                .values(status="failed")
            )
        return claim["payment_id"]
    async with db.write() as conn:
        await conn.execute(
            update(payments)
            .where(payments.c.id == claim["payment_id"], payments.c.payment_intent_id.is_(None))
            .values(payment_intent_id=intent.id)
        )
    return claim["payment_id"]


async def sweep_auto_top_ups(db: Database, settings: Settings) -> int:
    """Start the top-ups due and re-arm accounts back above their threshold; how many
    top-ups started. Workers call it as they check in."""
    if not settings.stripe.enabled:
        return 0
    due = await db.fetch_all(
        select(auto_top_ups.c.account_id)
        .join(accounts, accounts.c.id == auto_top_ups.c.account_id)
        .where(
            auto_top_ups.c.enabled.is_(True),
            (auto_top_ups.c.armed.is_(True) & (accounts.c.balance < auto_top_ups.c.threshold))
            | (auto_top_ups.c.armed.is_(False) & (accounts.c.balance >= auto_top_ups.c.threshold)),
        )
    )
    started = 0
    for (account_id,) in due:
        if await start_top_up(db, settings, account_id) is not None:
            started += 1
    return started
