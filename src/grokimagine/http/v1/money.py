"""Money in over HTTP: Stripe's webhook (outside ``/v1``, so no API key) and code redemption.

``POST /webhooks/stripe`` is authenticated by Stripe's signature, not by a Bearer token: the
API gate covers ``/v1`` only, so it is not in front of it, and this route caps its own body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from grokimagine.domain.purchases.redemption_codes import redeem_code
from grokimagine.domain.purchases.stripe_events import receive_event
from grokimagine.http.envelope import error_response, success
from grokimagine.http.v1.generate import principal_of, services_of
from grokimagine.http.v1.schemas import ERROR_RESPONSES, Envelope, Error

STRIPE_WEBHOOK_PATH = "/webhooks/stripe"
MAX_EVENT_BYTES = 512 * 1024  # Stripe's events are a few kilobytes

router = APIRouter(tags=["account"])


class RedeemRequest(BaseModel):
    """A redemption code, as printed (spaces and case do not matter)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=100, examples=["GI-ABCDE-FGHIJ-KLMNO-PQRST"])


class Redemption(BaseModel):
    """What a redemption granted."""

    credits: int = Field(description="Credits the code granted.")
    balance: int = Field(description="The balance after the grant.")


@router.post(
    "/v1/account/redeem",
    operation_id="redeemCode",
    summary="Redeem a code",
    response_model=Envelope[Redemption],
    responses={
        **ERROR_RESPONSES,
        400: {
            "model": Error,
            "description": "Invalid request; CODE_NOT_REDEEMABLE: unknown, expired, revoked,"
            " used up, or already redeemed by this account",
        },
    },
)
async def redeem(request: Request, body: RedeemRequest) -> Response:
    """Add a redemption code's credits to the account; each account redeems a code once."""
    services = services_of(request)
    redeemed = await redeem_code(services.db, principal_of(request).account_id, body.code)
    return success({"credits": redeemed.credits, "balance": redeemed.balance})


@router.post(STRIPE_WEBHOOK_PATH, include_in_schema=False)
async def stripe_webhook(request: Request) -> Response:
    """Apply one Stripe event once; any answer but 2xx makes Stripe deliver it again."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_EVENT_BYTES:
            return error_response(413, "PAYLOAD_TOO_LARGE", "Payload too large: not an event")
    services = services_of(request)
    outcome = await receive_event(
        services.db, services.settings, bytes(body), request.headers.get("stripe-signature")
    )
    return success({"result": outcome.result, "detail": outcome.detail})
