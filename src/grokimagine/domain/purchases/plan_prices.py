"""What a plan costs a month, set by the operator (keyed by the plan's name), audited.

Plans themselves come from ``domain/billing/plans.py: plan_catalog``; a plan with a price here
can be subscribed to from the Billing page (``subscriptions.py``). Prices are integers in the
currency's minor unit, as Stripe takes them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.plans import DEFAULT_PLAN, PlanCatalog
from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.credit_packs import MAX_PRICE_MINOR, format_money
from grokimagine.storage.db import Database
from grokimagine.storage.schema import plan_prices

_CURRENCY = re.compile(r"^[a-z]{3}$")
_STRIPE_PRICE = re.compile(r"^price_[A-Za-z0-9]{1,190}$")


class PlanPriceNotFoundError(LookupError):
    """This plan has no monthly price: it cannot be subscribed to."""


@dataclass(frozen=True)
class PlanPrice:
    """``unit_amount`` minor units of ``currency`` a month for ``plan``."""

    plan: str
    unit_amount: int
    currency: str
    stripe_price_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """The price as the APIs show it (``price``: ``20.00 USD``)."""
        return {**asdict(self), "price": format_money(self.unit_amount, self.currency)}


def _price(row: Any) -> PlanPrice:
    return PlanPrice(row.plan, int(row.unit_amount), row.currency, row.stripe_price_id)


async def list_plan_prices(db: Database) -> list[PlanPrice]:
    """Every plan's price, cheapest first."""
    rows = await db.fetch_all(select(plan_prices).order_by(plan_prices.c.unit_amount))
    return [_price(row) for row in rows]


async def get_plan_price(db: Database, plan: str) -> PlanPrice:
    """The price of ``plan``, or :class:`PlanPriceNotFoundError`."""
    row = await db.fetch_one(select(plan_prices).where(plan_prices.c.plan == plan))
    if row is None:
        raise PlanPriceNotFoundError(plan)
    return _price(row)


def plan_price(
    plans: PlanCatalog,
    plan: str,
    *,
    unit_amount: int,
    currency: str,
    stripe_price_id: str | None = None,
) -> PlanPrice:
    """The price these terms make (a page checks it before it asks the operator to confirm).

    Raises ``UnknownPlanError`` for a plan nobody defined, ``InvalidRequestError`` for a bad
    price, or for the free plan (every account falls back to it; it cannot be sold).
    """
    plans.get(plan)
    if plan == DEFAULT_PLAN:
        raise InvalidRequestError(f"the {DEFAULT_PLAN} plan is what accounts fall back to")
    if not 50 <= unit_amount <= MAX_PRICE_MINOR:
        raise InvalidRequestError(f"the price must be between 50 and {MAX_PRICE_MINOR} minor units")
    currency = currency.strip().lower()
    if not _CURRENCY.match(currency):
        raise InvalidRequestError("the currency must be a three-letter ISO 4217 code")
    if stripe_price_id is not None and not _STRIPE_PRICE.match(stripe_price_id):
        raise InvalidRequestError("a Stripe price id looks like price_...")
    return PlanPrice(plan, unit_amount, currency, stripe_price_id)


async def set_plan_price(
    db: Database,
    actor: Actor,
    plans: PlanCatalog,
    plan: str,
    *,
    unit_amount: int,
    currency: str,
    stripe_price_id: str | None = None,
) -> PlanPrice:
    """Set (or change) a plan's monthly price; running subscriptions keep their terms. Audited.

    Raises as :func:`plan_price` does.
    """
    price = plan_price(
        plans, plan, unit_amount=unit_amount, currency=currency, stripe_price_id=stripe_price_id
    )
    async with db.write() as conn:
        found = await conn.execute(select(plan_prices).where(plan_prices.c.plan == plan))
        before = found.first()
        values = {**asdict(price), "updated_at": utcnow()}
        if before is None:
            await conn.execute(insert(plan_prices).values(**values))
        else:
            await conn.execute(update(plan_prices).where(plan_prices.c.plan == plan).values(values))
        await record_action(
            conn,
            actor,
            "plan_price.set",
            "plan",
            plan,
            before=_price(before).describe() if before is not None else None,
            after=price.describe(),
        )
    return price


async def remove_plan_price(db: Database, actor: Actor, plan: str) -> None:
    """Take a plan off sale (running subscriptions go on); audited."""
    async with db.write() as conn:
        found = await conn.execute(select(plan_prices).where(plan_prices.c.plan == plan))
        before = found.first()
        if before is None:
            raise PlanPriceNotFoundError(plan)
        await conn.execute(delete(plan_prices).where(plan_prices.c.plan == plan))
        await record_action(
            conn, actor, "plan_price.remove", "plan", plan, before=_price(before).describe()
        )
