"""Billing actions of the console: buy a credit pack (Stripe Checkout), change plan (a Stripe
subscription), redeem a code.

The Billing page itself is ``pages.py: billing``; :func:`money_context` is what it adds.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from grokimagine.console.forms import check_address, form_typed_credits, read_form
from grokimagine.console.web import form_user, see_other, services_of
from grokimagine.domain.billing.plans import UnknownPlanError, plan_catalog
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.auto_top_up import get_auto_top_up, set_auto_top_up
from grokimagine.domain.purchases.checkout import (
    Checkout,
    PaymentProviderError,
    PaymentsNotConfiguredError,
    account_payments,
    start_amount_checkout,
    start_checkout,
)
from grokimagine.domain.purchases.credit_amounts import AmountsNotOnSaleError, get_amount_price
from grokimagine.domain.purchases.credit_packs import PackNotFoundError, list_packs
from grokimagine.domain.purchases.plan_prices import PlanPriceNotFoundError, list_plan_prices
from grokimagine.domain.purchases.redemption_codes import CodeNotRedeemableError, redeem_code
from grokimagine.domain.purchases.subscriptions import (
    SubscriptionExistsError,
    SubscriptionNotFoundError,
    cancel_subscription,
    running_subscription,
    start_subscription,
)
from grokimagine.services import Services

router = APIRouter(
    prefix="/console/billing", include_in_schema=False, dependencies=[Depends(check_address)]
)


async def money_context(request: Request, services: Services, account_id: str) -> dict[str, Any]:
    """What the Billing page shows about money in: packs (if Stripe is set up), receipts, and
    the outcome of the last action."""
    enabled = services.settings.stripe.enabled
    return {
        "stripe_enabled": enabled,
        "packs": [pack.describe() for pack in await list_packs(services.db, on_sale_only=True)]
        if enabled
        else [],
        "plan_offers": await _plan_offers(services) if enabled else [],
        "amount_offer": await _amount_offer(services) if enabled else None,
        "subscription": await running_subscription(services.db, account_id),
        "auto_top_up": await get_auto_top_up(services.db, account_id) if enabled else None,
        "payments": await account_payments(services.db, account_id),
        "notice": request.query_params.get("notice", ""),
        "error": request.query_params.get("error", ""),
    }


async def _plan_offers(services: Services) -> list[dict[str, Any]]:
    """Plans on sale, with their monthly price and credits."""
    plans = plan_catalog(services.settings)
    return [
        {**price.describe(), "monthly_credits": plans.get(price.plan).monthly_credits}
        for price in await list_plan_prices(services.db)
        if price.plan in plans
    ]


async def _amount_offer(services: Services) -> dict[str, Any] | None:
    try:
        return (await get_amount_price(services.db)).describe()
    except AmountsNotOnSaleError:
        return None


def _return_urls(
    request: Request, services: Services, *, paid: str, canceled: str
) -> dict[str, str]:
    """Where Stripe sends the customer back (``success_url``, ``cancel_url``): the Billing
    page, saying ``paid`` or ``canceled``."""
    # Behind a proxy the request's own address may be an internal one: the public URL wins.
    page = (services.settings.public_url or str(request.base_url)).rstrip("/") + "/console/billing"
    return {
        "success_url": f"{page}?" + urlencode({"notice": paid}),
        "cancel_url": f"{page}?" + urlencode({"notice": canceled}),
    }


def _credits_return_urls(request: Request, services: Services) -> dict[str, str]:
    """:func:`_return_urls` of a purchase of credits (a pack, or an amount)."""
    return _return_urls(
        request,
        services,
        paid="Thank you: your credits arrive as soon as Stripe confirms.",
        canceled="Payment canceled.",
    )


def _back(*, notice: str = "", error: str = "") -> Response:
    query = urlencode({k: v for k, v in (("notice", notice), ("error", error)) if v})
    return see_other("/console/billing" + (f"?{query}" if query else ""))


async def _pay_for_credits(start: Awaitable[Checkout]) -> Response:
    """Off to Stripe's page for the purchase of credits (a pack, or an amount) that ``start``
    opens, or back to Billing saying why not."""
    try:
        session = await start
    except PaymentsNotConfiguredError:
        return _back(error="Card payments are not set up here; redeem a code instead.")
    except PackNotFoundError:
        return _back(error="That pack is no longer on sale.")
    except AmountsNotOnSaleError:
        return _back(error="Credits are not sold by the amount here; choose a pack.")
    except InvalidRequestError as exc:  # an amount out of the operator's bounds
        return _back(error=f"Not bought: {exc.message}.")
    except PaymentProviderError as exc:
        return _back(error=f"The payment could not start: {exc}")
    return RedirectResponse(session.url, status_code=303)


@router.post("/checkout")
async def checkout(request: Request) -> Response:
    """Open a Stripe Checkout Session for the chosen pack and go there."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of(request)
    pack_id = form.get("pack_id")
    return await _pay_for_credits(
        start_checkout(
            services.db,
            services.settings,
            user.account_id,
            pack_id if isinstance(pack_id, str) else "",
            save_card=form.get("save_card") == "1",
            **_credits_return_urls(request, services),
        )
    )


@router.post("/checkout-amount")
async def checkout_amount(request: Request) -> Response:
    """Open a Stripe Checkout Session for the number of credits typed in, and go there."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of(request)
    credits = form_typed_credits(form, "credits")
    if credits is None:
        return _back(error="Type the number of credits to buy, as a whole number.")
    return await _pay_for_credits(
        start_amount_checkout(
            services.db,
            services.settings,
            user.account_id,
            credits,
            **_credits_return_urls(request, services),
        )
    )


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    """Open a Stripe Checkout Session subscribing to the chosen plan, and go there."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of(request)
    plan = form.get("plan")
    try:
        session = await start_subscription(
            services.db,
            services.settings,
            plan_catalog(services.settings),
            user.account_id,
            plan if isinstance(plan, str) else "",
            **_return_urls(
                request,
                services,
                paid="Thank you: your plan changes as soon as Stripe confirms.",
                canceled="Plan change canceled.",
            ),
        )
    except PaymentsNotConfiguredError:
        return _back(error="Card payments are not set up here.")
    except (UnknownPlanError, PlanPriceNotFoundError):
        return _back(error="That plan is not on sale.")
    except SubscriptionExistsError:
        return _back(error="You already have a subscription: cancel it first.")
    except PaymentProviderError as exc:
        return _back(error=f"The subscription could not start: {exc}")
    return RedirectResponse(session.url, status_code=303)


@router.post("/cancel-subscription")
async def cancel(request: Request) -> Response:
    """Cancel the running subscription at the end of the period paid for."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of(request)
    try:
        await cancel_subscription(services.db, services.settings, user.account_id)
    except SubscriptionNotFoundError:
        return _back(error="You have no subscription to cancel.")
    except (PaymentsNotConfiguredError, PaymentProviderError) as exc:
        return _back(error=f"The subscription could not be canceled: {exc}")
    return _back(notice="Subscription canceled: your plan runs to the end of the month paid for.")


@router.post("/auto-top-up")
async def auto_top_up(request: Request) -> Response:
    """Turn auto top-up on or off (threshold and pack)."""
    form = await read_form(request)
    user = await form_user(request, form)
    threshold, pack_id = form_typed_credits(form, "threshold"), form.get("pack_id")
    if threshold is None:
        return _back(error="The threshold is a whole number of credits.")
    enabled = form.get("enabled") == "1"
    try:
        await set_auto_top_up(
            services_of(request).db,
            user.account_id,
            enabled=enabled,
            threshold=threshold,
            pack_id=pack_id if isinstance(pack_id, str) else "",
        )
    except InvalidRequestError as exc:
        return _back(error=f"Auto top-up not changed: {exc.message}.")
    except PackNotFoundError:
        return _back(error="That pack is no longer on sale.")
    return _back(notice="Auto top-up is on." if enabled else "Auto top-up is off.")


@router.post("/redeem")
async def redeem(request: Request) -> Response:
    """Redeem a code for the signed-in user's account."""
    form = await read_form(request)
    user = await form_user(request, form)
    code = form.get("code")
    try:
        redeemed = await redeem_code(
            services_of(request).db, user.account_id, code if isinstance(code, str) else ""
        )
    except CodeNotRedeemableError as exc:
        return _back(error=f"Code not redeemed: {exc.why}.")
    return _back(notice=f"Code redeemed: {redeemed.credits:,} credits added.")
