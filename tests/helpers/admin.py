"""Helpers of the admin, pricing and plan tests: an admin key, and an app on other settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from grokimagine.domain.accounts import accounts as accounts_domain
from grokimagine.domain.accounts.admin_keys import create_admin_key
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator import business_settings
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.schema import accounts, audit_log, ledger
from tests.helpers.customers import BASE_URL, Customer


async def admin_headers(services: Services, name: str = "ops") -> dict[str, str]:
    """Headers carrying a fresh admin key (made as the CLI makes one)."""
    new_key = await create_admin_key(services.db, CLI, name)
    return {"Authorization": f"Bearer {new_key.token}"}


@contextlib.asynccontextmanager
async def app_with(
    settings: Settings, **changes: Any
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """Services and a client of an app over the same database with ``changes`` to settings."""
    services = build_services(settings.replace(**changes), public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(services), client=("203.0.113.8", 50001))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield services, client
    finally:
        await services.close()


async def balance(services: Services, account_id: str) -> int:
    """The cached balance of the account row."""
    row = await services.db.fetch_one(select(accounts.c.balance).where(accounts.c.id == account_id))
    assert row is not None
    return int(row.balance)


async def ledger_total(services: Services, account_id: str) -> int:
    """The sum of the account's ledger rows (must equal the balance)."""
    rows = await services.db.fetch_all(
        select(ledger.c.delta).where(ledger.c.account_id == account_id)
    )
    return sum(int(row.delta) for row in rows)


async def audit_actions(services: Services) -> list[tuple[str, str, str]]:
    """(actor, action, target_id) of every audit entry, oldest first."""
    rows = await services.db.fetch_all(
        select(audit_log.c.actor, audit_log.c.action, audit_log.c.target_id).order_by(
            audit_log.c.id
        )
    )
    return [(row.actor, row.action, row.target_id) for row in rows]


def data(response: httpx.Response, status: int = 200) -> Any:
    """The ``data`` of a success envelope, after checking the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success"
    return body["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body, after checking its status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body == {"code": status, "message": body["message"], "error": code}, body
    return body


async def customer_on(
    services: Services, plan: str, *, credits: int = 400, allow_spicy: bool = False
) -> Customer:
    """An account with one live key on any plan the services know (operator plans too)."""
    account = await accounts_domain.create_account(
        services.db,
        plan=plan,
        credits_granted=credits,
        allow_spicy=allow_spicy,
        plans=plan_catalog(services.settings),
    )
    new_key = await accounts_domain.create_key(services.db, account.id)
    return Customer(account.id, new_key.token, new_key.key.id)


async def keep_videos_for(services: Services, days: dict[str, int]) -> None:
    """Store a new business-settings version in which each plan of ``days`` keeps its videos
    that many days (as an operator's change would)."""
    await business_settings.refresh_business_settings(services, force=True)
    current = await business_settings.current_version(services.db)
    assert current is not None
    await business_settings.change_business_settings(
        services,
        CLI,
        current.values.model_copy(update={"retention_days": days}),
        based_on=current.version,
    )
