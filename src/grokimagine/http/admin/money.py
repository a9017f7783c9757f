"""Admin API, money in: credit packs, plan prices, redemption codes, payments
(docs/payments.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.clock import iso_utc
from grokimagine.domain.purchases import credit_amounts, credit_packs, plan_prices, redemption_codes
from grokimagine.domain.purchases.checkout import recent_payments
from grokimagine.http.admin.auth import AdminActor
from grokimagine.http.admin.schemas import ADMIN_ERRORS
from grokimagine.http.envelope import success
from grokimagine.http.fields import LineText, Moment
from grokimagine.http.params import IdPath
from grokimagine.services import Services

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ADMIN_ERRORS)


def _services(request: Request) -> Services:
    return request.app.state.services


class PackCreate(BaseModel):
    """A new credit pack: ``credits`` for ``price_minor`` minor units (cents) of ``currency``."""

    model_config = ConfigDict(extra="forbid")

    name: LineText = Field(min_length=1, max_length=100)
    credits: int = Field(ge=1, le=credit_packs.MAX_CREDITS, strict=True)
    price_minor: int = Field(ge=50, le=credit_packs.MAX_PRICE_MINOR, examples=[1000], strict=True)
    currency: LineText = Field("usd", min_length=3, max_length=3)


class PackChange(BaseModel):
    """What to change on a pack; ``active: false`` takes it off sale."""

    model_config = ConfigDict(extra="forbid")

    name: LineText | None = Field(None, min_length=1, max_length=100)
    credits: int | None = Field(None, ge=1, le=credit_packs.MAX_CREDITS, strict=True)
    price_minor: int | None = Field(None, ge=50, le=credit_packs.MAX_PRICE_MINOR, strict=True)
    currency: LineText | None = Field(None, min_length=3, max_length=3)
    active: bool | None = Field(None, strict=True)


class PlanPriceSet(BaseModel):
    """A plan's monthly price in minor units (cents); optionally the operator's own Stripe
    Price (``price_...``, monthly) to charge instead of one made from this amount."""

    model_config = ConfigDict(extra="forbid")

    unit_amount: int = Field(ge=50, le=credit_packs.MAX_PRICE_MINOR, strict=True, examples=[2000])
    currency: LineText = Field("usd", min_length=3, max_length=3)
    stripe_price_id: LineText | None = Field(None, max_length=200)


class AmountPriceSet(BaseModel):
    """Credits sold by the amount: any number in ``[min_credits, max_credits]`` at
    ``price_per_thousand_minor`` minor units per 1,000 credits (rounded up)."""

    model_config = ConfigDict(extra="forbid")

    currency: LineText = Field("usd", min_length=3, max_length=3)
    price_per_thousand_minor: int = Field(
        ge=1, le=credit_packs.MAX_PRICE_MINOR, strict=True, examples=[1000]
    )
    min_credits: int = Field(ge=1, le=credit_packs.MAX_CREDITS, strict=True, examples=[500])
    max_credits: int = Field(ge=1, le=credit_packs.MAX_CREDITS, strict=True, examples=[1_000_000])
    active: bool = Field(True, strict=True)


class CodeMint(BaseModel):
    """A batch of redemption codes."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=redemption_codes.MAX_BATCH, strict=True)
    credits: int = Field(ge=1, le=redemption_codes.MAX_CODE_CREDITS, strict=True)
    uses: int = Field(
        1, ge=1, le=redemption_codes.MAX_USES, strict=True, description="Redemptions per code."
    )
    expires_at: Moment | None = None
    note: LineText = Field("", max_length=200)


@router.get("/credit-packs", summary="List credit packs")
async def list_packs(request: Request, actor: AdminActor) -> Response:
    """Every pack, on sale or not, cheapest first."""
    packs = await credit_packs.list_packs(_services(request).db)
    return success({"packs": [pack.describe() for pack in packs]})


@router.post("/credit-packs", summary="Create a credit pack")
async def create_pack(request: Request, actor: AdminActor, body: PackCreate) -> Response:
    """Put a pack on sale (audited)."""
    pack = await credit_packs.create_pack(_services(request).db, actor, **body.model_dump())
    return success(pack.describe())


@router.patch("/credit-packs/{pack_id}", summary="Change a credit pack")
async def change_pack(
    request: Request, actor: AdminActor, pack_id: IdPath, body: PackChange
) -> Response:
    """Change a pack's name, credits, price or sale (audited)."""
    pack = await credit_packs.update_pack(
        _services(request).db, actor, pack_id, **body.model_dump(exclude_unset=True)
    )
    return success(pack.describe())


@router.get("/plan-prices", summary="List plan prices")
async def list_plan_prices(request: Request, actor: AdminActor) -> Response:
    """Each priced plan's monthly price; plans without one cannot be subscribed to."""
    prices = await plan_prices.list_plan_prices(_services(request).db)
    return success({"plan_prices": [price.describe() for price in prices]})


@router.put("/plan-prices/{plan}", summary="Set a plan's monthly price")
async def set_plan_price(
    request: Request, actor: AdminActor, plan: IdPath, body: PlanPriceSet
) -> Response:
    """Set or change a plan's monthly price (audited); running subscriptions keep theirs."""
    services = _services(request)
    price = await plan_prices.set_plan_price(
        services.db, actor, plan_catalog(services.settings), plan, **body.model_dump()
    )
    return success(price.describe())


@router.delete("/plan-prices/{plan}", summary="Take a plan off sale")
async def remove_plan_price(request: Request, actor: AdminActor, plan: IdPath) -> Response:
    """Remove a plan's price (audited); running subscriptions go on."""
    await plan_prices.remove_plan_price(_services(request).db, actor, plan)
    return success({"plan": plan, "removed": True})


@router.get("/credit-amount", summary="Show the price of credits by the amount")
async def get_amount_price(request: Request, actor: AdminActor) -> Response:
    """The offer, on sale or not; 404 if never set."""
    offer = await credit_amounts.get_amount_price(_services(request).db, on_sale_only=False)
    return success(offer.describe())


@router.put("/credit-amount", summary="Set the price of credits by the amount")
async def set_amount_price(request: Request, actor: AdminActor, body: AmountPriceSet) -> Response:
    """Sell any number of credits between two bounds at a rate (audited)."""
    offer = await credit_amounts.set_amount_price(_services(request).db, actor, **body.model_dump())
    return success(offer.describe())


@router.post("/redemption-codes", summary="Mint redemption codes")
async def mint_codes(request: Request, actor: AdminActor, body: CodeMint) -> Response:
    """Mint a batch; the codes are in this answer only (the service keeps their hashes)."""
    expires: datetime | None = body.expires_at
    batch = await redemption_codes.mint_codes(
        _services(request).db,
        actor,
        count=body.count,
        credits=body.credits,
        max_uses=body.uses,
        expires_at=expires,
        note=body.note,
    )
    return success(
        {
            "batch": batch.batch,
            "credits": batch.credits,
            "uses": batch.max_uses,
            "expires_at": iso_utc(batch.expires_at),
            "codes": batch.codes,
        }
    )


@router.get("/redemption-codes", summary="List batches of redemption codes")
async def list_batches(
    request: Request,
    actor: AdminActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Batches, newest first, with the uses taken."""
    batches = await redemption_codes.list_batches(_services(request).db, limit=limit)
    return success({"batches": batches})


@router.get("/payments", summary="List payments")
async def list_payments(
    request: Request,
    actor: AdminActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Paid payments of every account, newest first, with refunds and disputes."""
    return success({"payments": await recent_payments(_services(request).db, limit=limit)})
