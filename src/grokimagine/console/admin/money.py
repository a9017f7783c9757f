"""The operator's Money page under ``/admin/money``: credit packs, redemption codes, payments.

Every change goes through the same domain functions as the admin API and is audited under the
signed-in operator. Each moves money (what customers pay, credits codes grant), so each asks
first (console/confirm.py), once its fields are known to be valid.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.forms import check_address, form_choice, form_text, read_form
from grokimagine.console.web import (
    admin_user,
    carry_once,
    drop_carried,
    form_user,
    render,
    see_other,
    services_of,
)
from grokimagine.domain.billing.plans import UnknownPlanError, plan_catalog
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases import (
    credit_amounts,
    credit_packs,
    plan_prices,
    redemption_codes,
)
from grokimagine.domain.purchases.checkout import recent_payments
from grokimagine.domain.purchases.credit_packs import format_money
from grokimagine.http.fields import FieldError, parse_day, parse_whole

PAGE = "/admin/money"
router = APIRouter(prefix=PAGE, include_in_schema=False, dependencies=[Depends(check_address)])
# What the codes of a batch just minted derive from, carried to the page (web.carry_once).
MINTED_COOKIE = "gi_minted_codes"
# Past every bound the domain checks (credits, uses, batch size): a longer number is a typo.
MAX_FORM_NUMBER = 10**12


def _number(form: FormData, name: str, default: int | None = None) -> int:
    text = form.get(name)
    if not isinstance(text, str) or not text.strip():
        if default is not None:
            return default
        raise InvalidRequestError(f"{name} is required")
    # ASCII digits only (int() would take "٣"), by the rule of every form (http/fields.py).
    try:
        return parse_whole(text.replace(",", ""), name, low=0, high=MAX_FORM_NUMBER)
    except FieldError:
        raise InvalidRequestError(f"{name} must be a whole number") from None


def _price_minor(text: object) -> int:
    # "10", "10.5" or "10.50" in the currency's units -> minor units, without floats.
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError("the price is required")
    units, _, cents = text.strip().partition(".")
    digits = units + cents
    # ASCII digits: "²".isdigit() is true, and int("²") raises.
    if not digits.isascii() or not units.isdigit() or len(units) > 9:
        raise InvalidRequestError("the price must look like 10 or 10.50")
    if not (cents == "" or (cents.isdigit() and len(cents) <= 2)):
        raise InvalidRequestError("the price must look like 10 or 10.50")
    return int(units) * 100 + int(cents.ljust(2, "0") or 0)


def _back(*, notice: str = "", error: str = "") -> Response:
    query = urlencode({k: v for k, v in (("notice", notice), ("error", error)) if v})
    return see_other(PAGE + (f"?{query}" if query else ""))


async def _amount_offer(db: Any) -> dict[str, Any] | None:
    try:
        return (await credit_amounts.get_amount_price(db, on_sale_only=False)).describe()
    except credit_amounts.AmountsNotOnSaleError:
        return None


async def _minted(db: Any, carried: str | None) -> redemption_codes.MintedBatch | None:
    batch, _, seed = (carried or "").partition(":")
    if not batch or not seed:
        return None
    return await redemption_codes.recall_batch(db, batch, seed)


async def _page(request: Request, carried: str | None = None) -> Response:
    user = await admin_user(request)
    services = services_of(request)
    return render(
        request,
        "admin/money.html",
        user,
        section="admin-money",
        stripe_enabled=services.settings.stripe.enabled,
        packs=[pack.describe() for pack in await credit_packs.list_packs(services.db)],
        plan_names=plan_catalog(services.settings).names(),
        amount_offer=await _amount_offer(services.db),
        plan_prices=[price.describe() for price in await plan_prices.list_plan_prices(services.db)],
        batches=await redemption_codes.list_batches(services.db),
        payments=await recent_payments(services.db),
        minted=await _minted(services.db, carried),
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
    )


@router.get("")
async def money_page(request: Request) -> Response:
    """Packs on sale, minted batches (a new batch's codes, once) and recent payments."""
    response = await _page(request, request.cookies.get(MINTED_COOKIE))
    drop_carried(request, response, MINTED_COOKIE, PAGE)
    return response


@router.post("/packs")
async def create_pack(request: Request) -> Response:
    """Put a new pack on sale (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    currency = form_text(form, "currency", max_chars=3) if "currency" in form else "usd"
    name = form_text(form, "name", max_chars=100)
    try:
        credits = _number(form, "credits")
        price_minor = _price_minor(form.get("price"))
        code = credit_packs.check_pack(name, credits, price_minor, currency)
        if not confirmed(form):
            return ask_first(
                request,
                user,
                form,
                title=f"Put the pack {name} on sale: {credits:,} credits for "
                f"{format_money(price_minor, code)}?",
                consequence="Customers can buy it from their Billing page from now on (by "
                "card, through Stripe).",
                button="Put pack on sale",
                back=PAGE,
                danger=False,
            )
        pack = await credit_packs.create_pack(
            services_of(request).db,
            user.actor(),
            name=name,
            credits=credits,
            price_minor=price_minor,
            currency=currency,
        )
    except InvalidRequestError as exc:
        return _back(error=f"Pack not created: {exc.message}")
    return _back(notice=f"Pack {pack.name} is on sale.")


@router.post("/packs/{pack_id}/sale")
async def set_sale(request: Request, pack_id: str) -> Response:
    """Take a pack off sale, or put it back (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    on_sale = form_choice(form, "active", ("0", "1")) == "1"
    db = services_of(request).db
    try:
        if not confirmed(form):
            pack = await credit_packs.get_pack(db, pack_id)
            price = format_money(pack.price_minor, pack.currency)
            if on_sale:
                title = f"Put the pack {pack.name} back on sale?"
                consequence = (
                    f"Customers can buy it again from their Billing page: {pack.credits:,} "
                    f"credits for {price}."
                )
            else:
                title = f"Take the pack {pack.name} off sale?"
                consequence = (
                    "Customers can no longer buy it, and auto top-ups set to it stop; payments "
                    "already started keep their terms."
                )
            return ask_first(
                request,
                user,
                form,
                title=title,
                consequence=consequence,
                button="Put pack on sale" if on_sale else "Take pack off sale",
                back=PAGE,
                danger=not on_sale,
            )
        await credit_packs.update_pack(db, user.actor(), pack_id, active=on_sale)
    except credit_packs.PackNotFoundError:
        return _back(error="No such pack.")
    return _back(notice="Pack on sale." if on_sale else "Pack taken off sale.")


@router.post("/credit-amount")
async def set_amount_price(request: Request) -> Response:
    """Sell credits by the amount: bounds and a price per 1,000 credits (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    currency = form.get("currency")
    try:
        terms: dict[str, Any] = {
            "currency": currency if isinstance(currency, str) else "usd",
            "price_per_thousand_minor": _price_minor(form.get("per_thousand")),
            "min_credits": _number(form, "min_credits"),
            "max_credits": _number(form, "max_credits"),
            "active": form_choice(form, "active", ("0", "1"), default="0") == "1",
        }
        offer = credit_amounts.amount_offer(**terms)
        if not confirmed(form):
            rate = format_money(offer.price_per_thousand_minor, offer.currency)
            bounds = f"{offer.min_credits:,} to {offer.max_credits:,} credits"
            return ask_first(
                request,
                user,
                form,
                title=f"Sell {bounds} at {rate} per 1,000?"
                if offer.active
                else "Take credits by the amount off sale?",
                consequence=(
                    "Customers can buy any amount within these bounds from their Billing page"
                    if offer.active
                    else f"Customers can no longer buy an amount ({bounds} at {rate} per "
                    "1,000 is kept for later)"
                )
                + "; checkouts already started keep their terms.",
                button="Set the price" if offer.active else "Take off sale",
                back=PAGE,
                danger=not offer.active,
            )
        await credit_amounts.set_amount_price(services_of(request).db, user.actor(), **terms)
    except InvalidRequestError as exc:
        return _back(error=f"Not set: {exc.message}")
    return _back(notice="Credits by the amount: set.")


@router.post("/plan-prices")
async def set_plan_price(request: Request) -> Response:
    """Set a plan's monthly price; an empty price takes the plan off sale (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    services = services_of(request)
    plan, price, currency = form.get("plan"), form.get("price"), form.get("currency")
    plan = plan if isinstance(plan, str) else ""
    try:
        if isinstance(price, str) and not price.strip():
            if not confirmed(form):
                await plan_prices.get_plan_price(services.db, plan)
                return ask_first(
                    request,
                    user,
                    form,
                    title=f"Take the {plan} plan off sale?",
                    consequence="Customers can no longer subscribe to it; running "
                    "subscriptions go on.",
                    button="Take plan off sale",
                    back=PAGE,
                )
            await plan_prices.remove_plan_price(services.db, user.actor(), plan)
            return _back(notice=f"The {plan} plan is off sale.")
        catalog = plan_catalog(services.settings)
        terms: dict[str, Any] = {
            "unit_amount": _price_minor(price),
            "currency": currency if isinstance(currency, str) else "usd",
        }
        priced = plan_prices.plan_price(catalog, plan, **terms)
        if not confirmed(form):
            monthly = format_money(priced.unit_amount, priced.currency)
            return ask_first(
                request,
                user,
                form,
                title=f"Sell the {plan} plan at {monthly} a month?",
                consequence="Customers can subscribe to it from their Billing page at this "
                "price; running subscriptions keep their terms.",
                button="Set the price",
                back=PAGE,
                danger=False,
            )
        await plan_prices.set_plan_price(services.db, user.actor(), catalog, plan, **terms)
    except (InvalidRequestError, UnknownPlanError, plan_prices.PlanPriceNotFoundError) as exc:
        return _back(error=f"Plan price not set: {exc}")
    return _back(notice=f"The {plan} plan's monthly price is set.")


@router.post("/codes")
async def mint(request: Request) -> Response:
    """Mint a batch (asks first), then the page, which shows its codes once."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    expires = form_text(form, "expires", max_chars=10)
    note = form_text(form, "note", max_chars=200)
    try:
        expires_at = None
        if expires:
            expires_at = datetime.combine(parse_day(expires, "expires"), time.max, UTC)
        terms: dict[str, Any] = {
            "count": _number(form, "count", 1),
            "credits": _number(form, "credits"),
            "max_uses": _number(form, "uses", 1),
            "expires_at": expires_at,
        }
        redemption_codes.check_mint(**terms)
        if not confirmed(form):
            return ask_first(request, user, form, **_mint_question(**terms))
        batch = await redemption_codes.mint_codes(
            services_of(request).db, user.actor(), **terms, note=note
        )
    except ValueError as exc:
        return _back(error=f"Codes not minted: {exc}")
    response = _back(notice=f"Batch {batch.batch} minted.")
    carry_once(request, response, MINTED_COOKIE, f"{batch.batch}:{batch.seed}", PAGE)
    return response


def _mint_question(
    *, count: int, credits: int, max_uses: int, expires_at: datetime | None
) -> dict[str, Any]:
    codes = "1 code" if count == 1 else f"{count:,} codes"
    until = f", until the end of {expires_at:%Y-%m-%d} (UTC)" if expires_at else ""
    uses = "once" if max_uses == 1 else f"{max_uses:,} times, by different accounts"
    return {
        "title": f"Mint {codes} worth {credits:,} credits each?",
        "consequence": f"Each code can be redeemed {uses}{until}: up to "
        f"{count * credits * max_uses:,} credits in all. The codes are shown once, on the "
        "next page.",
        "button": "Mint codes",
        "back": PAGE,
        "danger": False,
    }
