"""Admin API, accounts: find, create and change accounts, their keys and their credits.

Every route parses, calls one domain function (the CLI calls the same ones) and presents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.audit import Actor
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.usage import ledger_page
from grokimagine.domain.operator import accounts as account_admin
from grokimagine.http.admin.auth import AdminActor
from grokimagine.http.admin.schemas import (
    ADMIN_ERRORS,
    AccountChange,
    AccountCreate,
    AccountList,
    AdminAccount,
    Balance,
    CreditChange,
    KeyCreate,
    KeyList,
    NewApiKey,
)
from grokimagine.http.envelope import success
from grokimagine.http.fields import LineText
from grokimagine.http.params import IdPath
from grokimagine.http.v1.schemas import Envelope, Error
from grokimagine.http.v1.task_schemas import CursorParam, LedgerPage
from grokimagine.services import Services
from grokimagine.storage.db import Database

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ADMIN_ERRORS)
# account_admin's disable_account and enable_account; its grant and deduct.
_StateChange = Callable[[Database, Actor, str], Awaitable[accounts.Account]]
_CreditChange = Callable[[Database, Actor, str, int, str], Awaitable[int]]


def services_of(request: Request) -> Services:
    """The process's shared services."""
    return request.app.state.services


@router.get("/accounts", summary="List and search accounts", response_model=Envelope[AccountList])
async def list_accounts(
    request: Request,
    actor: AdminActor,
    q: Annotated[
        LineText | None, Query(max_length=200, description="Id, or part of the name.")
    ] = None,
    plan: Annotated[LineText | None, Query(max_length=40)] = None,
    disabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorParam = None,
) -> Response:
    """Accounts, newest first."""
    page = await account_admin.search_accounts(
        services_of(request).db,
        limit=limit,
        cursor=cursor,
        query=q,
        plan=plan,
        disabled=disabled,
    )
    return success(
        {
            "accounts": [account.describe() for account in page.accounts],
            "next_cursor": page.next_cursor,
        }
    )


@router.post("/accounts", summary="Create an account", response_model=Envelope[AdminAccount])
async def create_account(request: Request, actor: AdminActor, body: AccountCreate) -> Response:
    """A new account on a plan, with an opening grant of credits (a ledger row)."""
    services = services_of(request)
    account = await accounts.create_account(
        services.db,
        plan=body.plan,
        credits_granted=body.credits,
        allow_spicy=body.allow_spicy,
        name=body.name,
        plans=plan_catalog(services.settings),
        actor=actor,
    )
    return success(account.describe())


@router.get(
    "/accounts/{account_id}", summary="Get an account", response_model=Envelope[AdminAccount]
)
async def get_account(request: Request, actor: AdminActor, account_id: IdPath) -> Response:
    """One account."""
    account = await accounts.get_account(services_of(request).db, account_id)
    return success(account.describe())


@router.patch(
    "/accounts/{account_id}",
    summary="Change plan, spicy permission or name",
    response_model=Envelope[AdminAccount],
)
async def change_account(
    request: Request, actor: AdminActor, account_id: IdPath, body: AccountChange
) -> Response:
    """Each field given is changed and audited; a new plan applies to the next request."""
    services = services_of(request)
    db = services.db
    account = await accounts.get_account(db, account_id)
    if body.plan is not None and body.plan != account.plan:
        account = await account_admin.change_plan(
            db, actor, account_id, body.plan, plan_catalog(services.settings)
        )
    if body.allow_spicy is not None and body.allow_spicy != account.allow_spicy:
        account = await account_admin.set_spicy(db, actor, account_id, body.allow_spicy)
    if body.name is not None and body.name != account.name:
        account = await account_admin.rename_account(db, actor, account_id, body.name)
    request.app.state.authenticator.forget_account(account_id)
    return success(account.describe())


async def _set_state(
    request: Request, set_state: _StateChange, actor: Actor, account_id: str
) -> Response:
    """Disable or enable the account; its keys' cached verdicts are dropped at once."""
    account = await set_state(services_of(request).db, actor, account_id)
    request.app.state.authenticator.forget_account(account_id)
    return success(account.describe())


@router.post(
    "/accounts/{account_id}/disable",
    summary="Disable an account",
    response_model=Envelope[AdminAccount],
)
async def disable_account(request: Request, actor: AdminActor, account_id: IdPath) -> Response:
    """Its keys answer 403 ACCOUNT_DISABLED and it cannot spend; tasks already queued run on.
    Disabling twice is harmless."""
    return await _set_state(request, account_admin.disable_account, actor, account_id)


@router.post(
    "/accounts/{account_id}/enable",
    summary="Enable an account",
    response_model=Envelope[AdminAccount],
)
async def enable_account(request: Request, actor: AdminActor, account_id: IdPath) -> Response:
    """Its keys work again."""
    return await _set_state(request, account_admin.enable_account, actor, account_id)


@router.get(
    "/accounts/{account_id}/keys", summary="Keys of an account", response_model=Envelope[KeyList]
)
async def list_keys(request: Request, actor: AdminActor, account_id: IdPath) -> Response:
    """Every key of the account, revoked ones too; never the tokens."""
    db = services_of(request).db
    await accounts.get_account(db, account_id)
    keys = await accounts.list_keys(db, account_id)
    return success({"keys": [key.describe() for key in keys]})


@router.post(
    "/accounts/{account_id}/keys",
    summary="Create a key",
    response_model=Envelope[NewApiKey],
)
async def create_key(
    request: Request, actor: AdminActor, account_id: IdPath, body: KeyCreate | None = None
) -> Response:
    """A new API key; its token is in this response only."""
    kind = body.kind if body else "live"
    new_key = await accounts.create_key(
        services_of(request).db, account_id, live=kind == "live", actor=actor
    )
    return success({"key": new_key.key.describe(), "token": new_key.token})


@router.delete(
    "/accounts/{account_id}/keys/{key_id}",
    summary="Revoke a key",
    response_model=Envelope[KeyList],
)
async def revoke_key(
    request: Request, actor: AdminActor, account_id: IdPath, key_id: IdPath
) -> Response:
    """Revoke a key of the account; the account's keys after it."""
    services = services_of(request)
    await account_admin.revoke_account_key(services.db, actor, account_id, key_id)
    request.app.state.authenticator.forget_account(account_id)
    keys = await accounts.list_keys(services.db, account_id)
    return success({"keys": [key.describe() for key in keys]})


async def _change_credits(
    request: Request, change: _CreditChange, actor: Actor, account_id: str, body: CreditChange
) -> Response:
    """Grant or deduct ``body``'s credits; the account's new balance."""
    balance = await change(services_of(request).db, actor, account_id, body.amount, body.reason)
    return success({"account_id": account_id, "balance": balance})


_NOT_ENOUGH = {409: {"model": Error, "description": "BALANCE_TOO_LOW: it would go below 0"}}


@router.post(
    "/accounts/{account_id}/credits/grant",
    summary="Grant credits",
    response_model=Envelope[Balance],
)
async def grant_credits(
    request: Request, actor: AdminActor, account_id: IdPath, body: CreditChange
) -> Response:
    """Add credits; the ledger row carries the reason and this admin key's id."""
    return await _change_credits(request, account_admin.grant, actor, account_id, body)


@router.post(
    "/accounts/{account_id}/credits/deduct",
    summary="Deduct credits",
    response_model=Envelope[Balance],
    responses=_NOT_ENOUGH,
)
async def deduct_credits(
    request: Request, actor: AdminActor, account_id: IdPath, body: CreditChange
) -> Response:
    """Take credits, never below zero (409 BALANCE_TOO_LOW)."""
    return await _change_credits(request, account_admin.deduct, actor, account_id, body)


@router.get(
    "/accounts/{account_id}/ledger",
    summary="Ledger of an account",
    response_model=Envelope[LedgerPage],
)
async def account_ledger(
    request: Request,
    actor: AdminActor,
    account_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorParam = None,
) -> Response:
    """Every change of the account's balance, newest first."""
    db = services_of(request).db
    await accounts.get_account(db, account_id)
    page = await ledger_page(db, account_id, limit=limit, cursor=cursor, for_operator=True)
    return success({"entries": page.entries, "next_cursor": page.next_cursor})
