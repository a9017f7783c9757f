"""Buying any number of credits between the operator's bounds, at a price per 1,000 credits.

The price of ``n`` credits is ``ceil(n * price_per_thousand_minor / 1000)`` minor units: integer
arithmetic, rounded up to the minor unit (never a float, never below the operator's rate).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select, update

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.credit_packs import MAX_CREDITS, MAX_PRICE_MINOR, format_money
from grokimagine.storage.db import Database
from grokimagine.storage.schema import credit_amount_prices

ROW = "default"
_CURRENCY = re.compile(r"^[a-z]{3}$")
STRIPE_MIN_MINOR = 50  # about 0.50 USD: Stripe's smallest charge


class AmountsNotOnSaleError(LookupError):
    """The operator sells no arbitrary amounts (only packs, if any)."""


@dataclass(frozen=True)
class CreditAmountPrice:
    """Any number of credits in ``[min_credits, max_credits]`` at a rate per 1,000."""

    currency: str
    price_per_thousand_minor: int
    min_credits: int
    max_credits: int
    active: bool = True

    def price_minor(self, credits: int) -> int:
        """What ``credits`` cost, in minor units, rounded up."""
        return -(-credits * self.price_per_thousand_minor // 1000)

    def describe(self) -> dict[str, Any]:
        """The offer as the APIs show it (``per_thousand``: ``10.00 USD``)."""
        return {
            **asdict(self),
            "per_thousand": format_money(self.price_per_thousand_minor, self.currency),
        }


async def get_amount_price(db: Database, *, on_sale_only: bool = True) -> CreditAmountPrice:
    """The operator's offer, or :class:`AmountsNotOnSaleError`."""
    row = await db.fetch_one(select(credit_amount_prices).where(credit_amount_prices.c.id == ROW))
    if row is None or (on_sale_only and not row.active):
        raise AmountsNotOnSaleError()
    return CreditAmountPrice(
        row.currency,
        int(row.price_per_thousand_minor),
        int(row.min_credits),
        int(row.max_credits),
        bool(row.active),
    )


def quote_amount(offer: CreditAmountPrice, credits: int) -> int:
    """The price of ``credits`` under ``offer``; ``InvalidRequestError`` out of its bounds."""
    if not offer.min_credits <= credits <= offer.max_credits:
        raise InvalidRequestError(
            f"buy between {offer.min_credits:,} and {offer.max_credits:,} credits"
        )
    return offer.price_minor(credits)


def amount_offer(
    *,
    currency: str,
    price_per_thousand_minor: int,
    min_credits: int,
    max_credits: int,
    active: bool = True,
) -> CreditAmountPrice:
    """The offer these terms make, or :class:`InvalidRequestError` naming what is wrong (a page
    checks before it asks the operator to confirm)."""
    currency = currency.strip().lower()
    if not _CURRENCY.match(currency):
        raise InvalidRequestError("the currency must be a three-letter ISO 4217 code")
    if not 1 <= price_per_thousand_minor <= MAX_PRICE_MINOR:
        raise InvalidRequestError(f"the price per 1,000 must be 1 to {MAX_PRICE_MINOR} minor units")
    if not 1 <= min_credits <= max_credits <= MAX_CREDITS:
        raise InvalidRequestError(f"need 1 <= min_credits <= max_credits <= {MAX_CREDITS}")
    offer = CreditAmountPrice(currency, price_per_thousand_minor, min_credits, max_credits, active)
    if offer.price_minor(min_credits) < STRIPE_MIN_MINOR:
        raise InvalidRequestError(
            f"the smallest amount must cost at least {STRIPE_MIN_MINOR} minor units (Stripe's)"
        )
    if offer.price_minor(max_credits) > MAX_PRICE_MINOR:
        raise InvalidRequestError(f"the largest amount must cost at most {MAX_PRICE_MINOR}")
    return offer


async def set_amount_price(
    db: Database,
    actor: Actor,
    *,
    currency: str,
    price_per_thousand_minor: int,
    min_credits: int,
    max_credits: int,
    active: bool = True,
) -> CreditAmountPrice:
    """Set the offer (audited); checkouts already started keep their terms."""
    offer = amount_offer(
        currency=currency,
        price_per_thousand_minor=price_per_thousand_minor,
        min_credits=min_credits,
        max_credits=max_credits,
        active=active,
    )
    async with db.write() as conn:
        found = await conn.execute(
            select(credit_amount_prices).where(credit_amount_prices.c.id == ROW)
        )
        before = found.first()
        values = {**asdict(offer), "updated_at": utcnow()}
        if before is None:
            await conn.execute(insert(credit_amount_prices).values(id=ROW, **values))
        else:
            await conn.execute(
                update(credit_amount_prices).where(credit_amount_prices.c.id == ROW).values(values)
            )
        await record_action(
            conn,
            actor,
            "credit_amount.set",
            "credit_amount",
            ROW,
            before={k: getattr(before, k) for k in asdict(offer)} if before is not None else None,
            after=offer.describe(),
        )
    return offer
