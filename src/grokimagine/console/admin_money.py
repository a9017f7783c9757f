"""The operator's Money page under ``/admin/money``: credit packs, redemption codes, payments.

Every change goes through the same domain functions as the admin API and is audited under the
signed-in operator.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.web import admin_user, form_user, render, see_other, services_of
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases import credit_packs, redemption_codes
from grokimagine.domain.purchases.checkout import recent_payments

router = APIRouter(prefix="/admin/money", include_in_schema=False)


def _number(form: FormData, name: str, default: int | None = None) -> int:
    text = form.get(name)
    if not isinstance(text, str) or not text.strip():
        if default is not None:
            return default
        raise InvalidRequestError(f"{name} is required")
    try:
        return int(text.strip().replace(",", ""))
    except ValueError:
        raise InvalidRequestError(f"{name} must be a whole number") from None


def _price_minor(text: object) -> int:
    # "10", "10.5" or "10.50" in the currency's units -> minor units, without floats.
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError("the price is required")
    units, _, cents = text.strip().partition(".")
    if not units.isdigit() or not (cents == "" or (cents.isdigit() and len(cents) <= 2)):
        raise InvalidRequestError("the price must look like 10 or 10.50")
    return int(units) * 100 + int(cents.ljust(2, "0") or 0)


def _back(*, notice: str = "", error: str = "") -> Response:
    query = urlencode({k: v for k, v in (("notice", notice), ("error", error)) if v})
    return see_other("/admin/money" + (f"?{query}" if query else ""))


async def _page(request: Request, **extra: Any) -> Response:
    user = await admin_user(request)
    services = services_of(request)
    return render(
        request,
        "admin/money.html",
        user,
        section="admin-money",
        stripe_enabled=services.settings.stripe.enabled,
        packs=[pack.describe() for pack in await credit_packs.list_packs(services.db)],
        batches=await redemption_codes.list_batches(services.db),
        payments=await recent_payments(services.db),
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
        **extra,
    )


@router.get("")
async def money_page(request: Request) -> Response:
    """Packs on sale, minted batches and recent payments."""
    return await _page(request)


@router.post("/packs")
async def create_pack(request: Request) -> Response:
    """Put a new pack on sale."""
    form = await request.form()
    user = await form_user(request, form, admin=True)
    currency = form.get("currency")
    name = form.get("name")
    try:
        pack = await credit_packs.create_pack(
            services_of(request).db,
            user.actor(),
            name=name if isinstance(name, str) else "",
            credits=_number(form, "credits"),
            price_minor=_price_minor(form.get("price")),
            currency=currency if isinstance(currency, str) else "usd",
        )
    except InvalidRequestError as exc:
        return _back(error=f"Pack not created: {exc.message}")
    return _back(notice=f"Pack {pack.name} is on sale.")


@router.post("/packs/{pack_id}/sale")
async def set_sale(request: Request, pack_id: str) -> Response:
    """Take a pack off sale, or put it back."""
    form = await request.form()
    user = await form_user(request, form, admin=True)
    on_sale = form.get("active") == "1"
    try:
        await credit_packs.update_pack(
            services_of(request).db, user.actor(), pack_id, active=on_sale
        )
    except credit_packs.PackNotFoundError:
        return _back(error="No such pack.")
    return _back(notice="Pack on sale." if on_sale else "Pack taken off sale.")


@router.post("/codes")
async def mint(request: Request) -> Response:
    """Mint a batch and show its codes, this once."""
    form = await request.form()
    user = await form_user(request, form, admin=True)
    expires = form.get("expires")
    note = form.get("note")
    try:
        expires_at = None
        if isinstance(expires, str) and expires:
            expires_at = datetime.combine(datetime.fromisoformat(expires).date(), time.max, UTC)
        batch = await redemption_codes.mint_codes(
            services_of(request).db,
            user.actor(),
            count=_number(form, "count", 1),
            credits=_number(form, "credits"),
            max_uses=_number(form, "uses", 1),
            expires_at=expires_at,
            note=note if isinstance(note, str) else "",
        )
    except ValueError as exc:
        return _back(error=f"Codes not minted: {exc}")
    return await _page(request, minted=batch)
