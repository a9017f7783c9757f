"""Credit packs the operator sells (1,000 credits for 10 USD): kept in the database, audited.

Prices are integers in the currency's minor unit (cents), as Stripe takes them; nothing here
touches floating point.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select, update

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.storage.db import Database
from grokimagine.storage.schema import credit_packs

_CURRENCY = re.compile(r"^[a-z]{3}$")
MAX_CREDITS = 10**9
MAX_PRICE_MINOR = 10**8  # one million units of the currency: far above any sane pack


class PackNotFoundError(LookupError):
    """No credit pack with this id (or it is not on sale)."""


@dataclass(frozen=True)
class CreditPack:
    """A pack: ``credits`` for ``price_minor`` minor units of ``currency``."""

    id: str
    name: str
    credits: int
    price_minor: int
    currency: str
    active: bool

    def describe(self) -> dict[str, Any]:
        """The pack as the APIs show it, with the price written out (``10.00 USD``)."""
        return {**asdict(self), "price": format_money(self.price_minor, self.currency)}


def format_money(minor: int, currency: str) -> str:
    """``1000, "usd"`` -> ``10.00 USD`` (two decimals: the currencies packs are sold in)."""
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 100)
    return f"{sign}{units:,}.{cents:02d} {currency.upper()}"


def check_pack(name: str, credits: int, price_minor: int, currency: str) -> str:
    """The currency code of a pack with these terms, or :class:`InvalidRequestError` naming what
    is wrong (a page checks before it asks the operator to confirm)."""
    if not name.strip() or len(name) > 100:
        raise InvalidRequestError("a pack needs a name of 1 to 100 characters")
    if not 1 <= credits <= MAX_CREDITS:
        raise InvalidRequestError(f"credits must be between 1 and {MAX_CREDITS}")
    # Stripe's smallest charge is about 0.50 USD; 50 minor units is the floor for any currency.
    if not 50 <= price_minor <= MAX_PRICE_MINOR:
        raise InvalidRequestError(f"the price must be between 50 and {MAX_PRICE_MINOR} minor units")
    currency = currency.strip().lower()
    if not _CURRENCY.match(currency):
        raise InvalidRequestError("the currency must be a three-letter ISO 4217 code")
    return currency


def _pack(row: Any) -> CreditPack:
    return CreditPack(
        row.id, row.name, int(row.credits), int(row.price_minor), row.currency, bool(row.active)
    )


async def list_packs(db: Database, *, on_sale_only: bool = False) -> list[CreditPack]:
    """The packs, cheapest first (only those on sale, if asked)."""
    query = select(credit_packs).order_by(credit_packs.c.price_minor, credit_packs.c.id)
    if on_sale_only:
        query = query.where(credit_packs.c.active.is_(True))
    return [_pack(row) for row in await db.fetch_all(query)]


async def get_pack(db: Database, pack_id: str, *, on_sale_only: bool = False) -> CreditPack:
    """One pack, or :class:`PackNotFoundError`."""
    row = await db.fetch_one(select(credit_packs).where(credit_packs.c.id == pack_id))
    if row is None or (on_sale_only and not row.active):
        raise PackNotFoundError(pack_id)
    return _pack(row)


async def create_pack(
    db: Database, actor: Actor, *, name: str, credits: int, price_minor: int, currency: str
) -> CreditPack:
    """Put a new pack on sale; audited."""
    currency = check_pack(name, credits, price_minor, currency)
    pack = CreditPack(
        "pack_" + secrets.token_urlsafe(9), name.strip(), credits, price_minor, currency, True
    )
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            insert(credit_packs).values(**asdict(pack), created_at=now, updated_at=now)
        )
        await record_action(conn, actor, "pack.create", "pack", pack.id, after=pack.describe())
    return pack


async def update_pack(
    db: Database,
    actor: Actor,
    pack_id: str,
    *,
    name: str | None = None,
    credits: int | None = None,
    price_minor: int | None = None,
    currency: str | None = None,
    active: bool | None = None,
) -> CreditPack:
    """Change a pack (payments already started keep the terms they were made with); audited."""
    before = await get_pack(db, pack_id)
    changed = CreditPack(
        pack_id,
        before.name if name is None else name.strip(),
        before.credits if credits is None else credits,
        before.price_minor if price_minor is None else price_minor,
        before.currency if currency is None else currency,
        before.active if active is None else active,
    )
    currency_code = check_pack(changed.name, changed.credits, changed.price_minor, changed.currency)
    changed = CreditPack(**{**asdict(changed), "currency": currency_code})
    async with db.write() as conn:
        await conn.execute(
            update(credit_packs)
            .where(credit_packs.c.id == pack_id)
            .values(**asdict(changed), updated_at=utcnow())
        )
        await record_action(
            conn,
            actor,
            "pack.update",
            "pack",
            pack_id,
            before=before.describe(),
            after=changed.describe(),
        )
    return changed
