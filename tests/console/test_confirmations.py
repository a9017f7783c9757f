"""Every destructive or money-moving operator action asks first, without JavaScript: the first
submit changes nothing and answers a page naming what will happen, whose button posts the same
fields again with confirm=yes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from grokimagine.domain.accounts import accounts, admin_keys, users
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.purchases import (
    credit_amounts,
    credit_packs,
    plan_prices,
    redemption_codes,
)
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import make_worker

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Case:
    """One action: where it posts, what it posts, what the question says, and a snapshot of the
    state it would change."""

    path: str
    data: dict[str, str]
    question: str
    state: Callable[[], Awaitable[object]]


async def _case(name: str, services: Services, admin, customer, customer_http) -> Case:
    db = services.db
    account_id = customer.account_id

    async def balance() -> object:
        return (await accounts.get_account(db, account_id)).balance

    if name in ("grant", "deduct"):
        return Case(
            f"/admin/accounts/{account_id}/credits",
            {"amount": "50", "reason": "check", "direction": name},
            f"{name.title()} 50 credits",
            balance,
        )
    if name == "disable-account":

        async def state() -> object:
            return (await accounts.get_account(db, account_id)).disabled_at

        return Case(
            f"/admin/accounts/{account_id}/state",
            {"state": "disabled"},
            "Disable account",
            state,
        )
    if name in ("refund", "cancel"):
        made = await customer_http.post(
            "/console/api/generate",
            json={"prompt": name},
            headers={"X-CSRF-Token": customer.csrf},
        )
        task_id = made.json()["data"]["task_id"]
        if name == "refund":
            await make_worker(services).run_once()
        return Case(
            f"/admin/tasks/{task_id}/{name}",
            {"reason": "check"},
            f"{name.title()} task {task_id}?",
            balance,
        )
    if name == "revoke-key":
        key = await accounts.create_key(db, account_id)

        async def revoked() -> object:
            return [k.revoked_at for k in await accounts.list_keys(db, account_id)]

        return Case(
            f"/admin/accounts/{account_id}/keys/{key.key.id}/revoke",
            {},
            "Revoke the key",
            revoked,
        )
    if name == "revoke-admin-key":
        new = await admin_keys.create_admin_key(db, CLI, "script")

        async def admin_revoked() -> object:
            return [k.revoked_at for k in await admin_keys.list_admin_keys(db)]

        return Case(
            f"/admin/admin-keys/{new.key.id}/revoke", {}, "Revoke the admin key", admin_revoked
        )
    if name in ("disable-user", "remove-operator"):
        colleague = await make_user(services, admin=True, account_id=admin.account_id)

        async def person() -> object:
            found = await users.get_user(db, colleague.user_id)
            return (found.role, found.disabled_at)

        if name == "disable-user":
            return Case(
                f"/admin/users/{colleague.user_id}/state",
                {"state": "disabled"},
                "Disable the user",
                person,
            )
        return Case(
            f"/admin/users/{colleague.user_id}/operator",
            {"operator": "no"},
            "Take the operator role",
            person,
        )
    if name == "change-plan":

        async def plan() -> object:
            return (await accounts.get_account(db, account_id)).plan

        return Case(
            f"/admin/accounts/{account_id}/plan",
            {"plan": "pro"},
            f"Move account {account_id} from the free plan to pro?",
            plan,
        )
    if name == "mint-codes":

        async def batches() -> object:
            return await redemption_codes.list_batches(db)

        return Case(
            "/admin/money/codes",
            {"count": "2", "credits": "1,000", "uses": "3", "note": "launch"},
            "Mint 2 codes worth 1,000 credits each?",
            batches,
        )

    async def packs() -> object:
        return await credit_packs.list_packs(db)

    if name == "add-pack":
        return Case(
            "/admin/money/packs",
            {"name": "Starter", "credits": "1000", "price": "10.5", "currency": "usd"},
            "Put the pack Starter on sale: 1,000 credits for 10.50 USD?",
            packs,
        )
    if name in ("pack-off-sale", "pack-on-sale"):
        pack = await credit_packs.create_pack(
            db, CLI, name="Starter", credits=1000, price_minor=1050, currency="usd"
        )
        if name == "pack-on-sale":
            await credit_packs.update_pack(db, CLI, pack.id, active=False)
            return Case(
                f"/admin/money/packs/{pack.id}/sale",
                {"active": "1"},
                "Put the pack Starter back on sale?",
                packs,
            )
        return Case(
            f"/admin/money/packs/{pack.id}/sale",
            {"active": "0"},
            "Take the pack Starter off sale?",
            packs,
        )
    if name == "credit-amount":

        async def offer() -> object:
            try:
                return await credit_amounts.get_amount_price(db, on_sale_only=False)
            except credit_amounts.AmountsNotOnSaleError:
                return None

        return Case(
            "/admin/money/credit-amount",
            {
                "min_credits": "500",
                "max_credits": "20,000",
                "per_thousand": "10",
                "currency": "usd",
                "active": "1",
            },
            "Sell 500 to 20,000 credits at 10.00 USD per 1,000?",
            offer,
        )

    async def prices() -> object:
        return await plan_prices.list_plan_prices(db)

    if name == "plan-price":
        return Case(
            "/admin/money/plan-prices",
            {"plan": "pro", "price": "20", "currency": "usd"},
            "Sell the pro plan at 20.00 USD a month?",
            prices,
        )
    if name == "plan-off-sale":
        await plan_prices.set_plan_price(
            db, CLI, plan_catalog(services.settings), "pro", unit_amount=2000, currency="usd"
        )
        return Case(
            "/admin/money/plan-prices",
            {"plan": "pro", "price": "", "currency": "usd"},
            "Take the pro plan off sale?",
            prices,
        )
    assert name == "create-account-with-credits"

    async def count() -> object:
        return await accounts.count_accounts(db)

    return Case(
        "/admin/accounts/new",
        {"plan": "free", "credits": "500", "name": "New"},
        "Create an account with 500 credits?",
        count,
    )


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "action",
    [
        "grant",
        "deduct",
        "disable-account",
        "refund",
        "cancel",
        "revoke-key",
        "revoke-admin-key",
        "disable-user",
        "remove-operator",
        "create-account-with-credits",
        "change-plan",
        "mint-codes",
        "add-pack",
        "pack-off-sale",
        "pack-on-sale",
        "credit-amount",
        "plan-price",
        "plan-off-sale",
    ],
)
async def test_the_first_submit_only_asks(services: Services, browser_like, action: str):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    customer = await make_user(services, credits=400)
    customer_http = browser_like()
    customer.csrf = await sign_in(customer_http, customer)  # type: ignore[attr-defined]
    case = await _case(action, services, admin, customer, customer_http)
    before = await case.state()

    asked = await http.post(case.path, data={"csrf_token": csrf, **case.data})

    assert asked.status_code == 200
    assert case.question in asked.text
    assert "Cancel, go back" in asked.text
    assert await case.state() == before
    # The page's form posts the same fields again, confirmed; that submit does it.
    fields = dict(HIDDEN.findall(asked.text))
    assert fields["confirm"] == "yes"
    assert {k: fields[k] for k in case.data} == case.data
    done = await http.post(case.path, data=fields)
    assert done.status_code in (200, 303)
    assert await case.state() != before
