"""Part 3 account routes: the account itself, its ledger, and prices and options."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.usage import account_details, ledger_page, usage_by_day
from grokimagine.domain.submission.generate import price_list
from grokimagine.http.edge.gate import rate_identity
from grokimagine.http.envelope import success
from grokimagine.http.v1.generate import limiter_of, principal_of, services_of
from grokimagine.http.v1.schemas import ERROR_RESPONSES
from grokimagine.http.v1.task_schemas import (
    AccountResponse,
    CursorParam,
    LedgerResponse,
    PricingResponse,
)

router = APIRouter(prefix="/v1", tags=["account"])


@router.get(
    "/account",
    operation_id="getAccount",
    summary="The account",
    response_model=AccountResponse,
    responses=ERROR_RESPONSES,
)
async def account(request: Request) -> Response:
    """Plan, balance, the rate limit and its current window, usage per day and the webhook
    secret (the key that signs webhook deliveries)."""
    services = services_of(request)
    principal = principal_of(request)
    details = await account_details(services.db, principal.account_id)
    per_minute = plan_catalog(services.settings).of_account(principal.plan).requests_per_minute
    window = await limiter_of(request).peek(per_minute, *rate_identity(principal))
    return success(
        {
            "account_id": principal.account_id,
            "plan": details["plan"],
            "balance": details["balance"],
            "allow_spicy": details["allow_spicy"],
            "key": {"id": principal.key_id, "kind": "live" if principal.live else "test"},
            "rate_limit": {
                "limit": window.limit,
                "remaining": window.remaining,
                "reset": window.reset_at,
            },
            "usage": await usage_by_day(services.db, principal.account_id),
            "webhook_secret": details["webhook_secret"],
        }
    )


@router.get(
    "/account/ledger",
    operation_id="listLedger",
    summary="The account's ledger",
    response_model=LedgerResponse,
    responses=ERROR_RESPONSES,
)
async def ledger(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200, description="Entries per page.")] = 50,
    cursor: CursorParam = None,
) -> Response:
    """Every change of balance (grants, reservations, refunds), newest first; their sum is the
    balance."""
    services = services_of(request)
    page = await ledger_page(
        services.db, principal_of(request).account_id, limit=limit, cursor=cursor
    )
    return success({"entries": page.entries, "next_cursor": page.next_cursor})


@router.get(
    "/pricing",
    operation_id="getPricing",
    summary="Prices and options",
    response_model=PricingResponse,
    responses=ERROR_RESPONSES,
)
async def pricing(request: Request) -> Response:
    """What a task costs before it is submitted, and the options (durations, resolutions,
    seed, negative prompt, input images) each mode accepts for the caller."""
    return success(price_list(services_of(request), principal_of(request)))
