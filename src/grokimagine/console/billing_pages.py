"""Billing actions of the console: buy a credit pack (Stripe Checkout), redeem a code.

The Billing page itself is ``pages.py: billing``; :func:`money_context` is what it adds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from grokimagine.console.web import form_user, see_other, services_of
from grokimagine.domain.purchases.checkout import (
    PaymentProviderError,
    PaymentsNotConfiguredError,
    account_payments,
    start_checkout,
)
from grokimagine.domain.purchases.credit_packs import PackNotFoundError, list_packs
from grokimagine.domain.purchases.redemption_codes import CodeNotRedeemableError, redeem_code
from grokimagine.services import Services

router = APIRouter(prefix="/console/billing", include_in_schema=False)


async def money_context(request: Request, services: Services, account_id: str) -> dict[str, Any]:
    """What the Billing page shows about money in: packs (if Stripe is set up), receipts, and
    the outcome of the last action."""
    enabled = services.settings.stripe.enabled
    return {
        "stripe_enabled": enabled,
        "packs": [pack.describe() for pack in await list_packs(services.db, on_sale_only=True)]
        if enabled
        else [],
        "payments": await account_payments(services.db, account_id),
        "notice": request.query_params.get("notice", ""),
        "error": request.query_params.get("error", ""),
    }


def _back(*, notice: str = "", error: str = "") -> Response:
    query = urlencode({k: v for k, v in (("notice", notice), ("error", error)) if v})
    return see_other("/console/billing" + (f"?{query}" if query else ""))


@router.post("/checkout")
async def checkout(request: Request) -> Response:
    """Open a Stripe Checkout Session for the chosen pack and go there."""
    form = await request.form()
    user = await form_user(request, form)
    services = services_of(request)
    # Behind a proxy the request's own address may be an internal one: the public URL wins.
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    pack_id = form.get("pack_id")
    try:
        session = await start_checkout(
            services.db,
            services.settings,
            user.account_id,
            pack_id if isinstance(pack_id, str) else "",
            success_url=f"{base}/console/billing?"
            + urlencode({"notice": "Thank you: your credits arrive as soon as Stripe confirms."}),
            cancel_url=f"{base}/console/billing?" + urlencode({"notice": "Payment canceled."}),
        )
    except PaymentsNotConfiguredError:
        return _back(error="Card payments are not set up here; redeem a code instead.")
    except PackNotFoundError:
        return _back(error="That pack is no longer on sale.")
    except PaymentProviderError as exc:
        return _back(error=f"The payment could not start: {exc}")
    return RedirectResponse(session.url, status_code=303)


@router.post("/redeem")
async def redeem(request: Request) -> Response:
    """Redeem a code for the signed-in user's account."""
    form = await request.form()
    user = await form_user(request, form)
    code = form.get("code")
    try:
        redeemed = await redeem_code(
            services_of(request).db, user.account_id, code if isinstance(code, str) else ""
        )
    except CodeNotRedeemableError as exc:
        return _back(error=f"Code not redeemed: {exc.why}.")
    return _back(notice=f"Code redeemed: {redeemed.credits:,} credits added.")
