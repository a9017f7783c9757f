"""The operator pages over HTTP: what the admin domain does, for users with the admin role only."""

from __future__ import annotations

import re

import pytest

from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.billing.usage import ledger_page
from grokimagine.domain.operator import fleet
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import make_worker

ADMIN_PAGES = (
    "/admin",
    "/admin/tasks",
    "/admin/usage",
    "/admin/fleet",
    "/admin/audit",
    "/admin/plans",
    "/admin/settings",
    "/admin/storage",
    "/admin/admin-keys",
    "/admin/accounts/new",
)


async def _operator(services: Services, browser_like):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    return admin, http, csrf


@pytest.mark.both_databases
async def test_every_admin_page_renders_for_an_operator(services: Services, browser_like):
    _, http, _ = await _operator(services, browser_like)
    customer = await make_user(services)
    for path in (*ADMIN_PAGES, f"/admin/accounts/{customer.account_id}"):
        page = await http.get(path)
        assert page.status_code == 200, path
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
    listing = await http.get("/admin", params={"q": customer.account_id})
    assert customer.account_id in listing.text


async def test_customers_get_404_on_every_admin_page_and_action(services: Services, browser_like):
    customer = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, customer)
    for path in (*ADMIN_PAGES, f"/admin/accounts/{customer.account_id}", "/admin/tasks/task_x"):
        page = await http.get(path)
        assert page.status_code == 404, path
        assert "This page does not exist." in page.text
    # Posting an operator's form with a valid session and CSRF token still does nothing.
    granted = await http.post(
        f"/admin/accounts/{customer.account_id}/credits",
        data={
            "csrf_token": csrf,
            "amount": "1000",
            "reason": "me",
            "direction": "grant",
            "confirm": "yes",
        },
    )
    assert granted.status_code == 404
    assert (await accounts.get_account(services.db, customer.account_id)).balance == 400
    anonymous = await browser_like().get("/admin")
    assert anonymous.status_code == 303 and "/console/sign-in" in anonymous.headers["location"]


async def test_grant_and_deduct_with_a_reason_are_in_the_ledger_and_the_audit_log(
    services: Services, browser_like
):
    admin, http, csrf = await _operator(services, browser_like)
    customer = await make_user(services, credits=100)
    url = f"/admin/accounts/{customer.account_id}/credits"
    granted = await http.post(
        url,
        data={
            "csrf_token": csrf,
            "amount": "250",
            "reason": "ticket 7",
            "direction": "grant",
            "confirm": "yes",
        },
    )
    assert granted.status_code == 303
    page = await http.get(granted.headers["location"])
    assert "Granted 250 credits. Balance: 350." in page.text
    too_much = await http.post(
        url,
        data={
            "csrf_token": csrf,
            "amount": "999",
            "reason": "x",
            "direction": "deduct",
            "confirm": "yes",
        },
    )
    assert "balance is too low" in (await http.get(too_much.headers["location"])).text
    await http.post(
        url,
        data={
            "csrf_token": csrf,
            "amount": "50",
            "reason": "abuse",
            "direction": "deduct",
            "confirm": "yes",
        },
    )
    assert (await accounts.get_account(services.db, customer.account_id)).balance == 300
    entries = (await ledger_page(services.db, customer.account_id, limit=10, cursor=None)).entries
    assert [(entry["delta"], entry["note"]) for entry in entries[:2]] == [
        (-50, "abuse"),
        (250, "ticket 7"),
    ]
    log = (await audit_page(services.db, limit=10, target_id=customer.account_id)).entries
    assert [(entry["action"], entry["actor"]) for entry in log] == [
        ("credits.deduct", admin.user_id),
        ("credits.grant", admin.user_id),
    ]
    audit = await http.get("/admin/audit", params={"target": customer.account_id})
    assert audit.text.count(f'title="{admin.user_id}">{admin.email}<') == 2  # who, by email
    no_csrf = await http.post(
        url, data={"amount": "5", "reason": "x", "direction": "grant", "confirm": "yes"}
    )
    assert no_csrf.status_code == 403
    assert (await accounts.get_account(services.db, customer.account_id)).balance == 300


async def test_a_disabled_account_cannot_generate_from_the_console_or_the_api(
    services: Services, browser_like
):
    _, admin_http, admin_csrf = await _operator(services, browser_like)
    customer = await make_user(services)
    customer_http = browser_like()
    customer_csrf = await sign_in(customer_http, customer)
    key = await accounts.create_key(services.db, customer.account_id)
    disabled = await admin_http.post(
        f"/admin/accounts/{customer.account_id}/state",
        data={"csrf_token": admin_csrf, "state": "disabled", "confirm": "yes"},
    )
    assert disabled.status_code == 303
    refused = await customer_http.post(
        "/console/api/generate", json={"prompt": "x"}, headers={"X-CSRF-Token": customer_csrf}
    )
    assert refused.status_code == 403 and refused.json()["error"] == "ACCOUNT_DISABLED"
    assert "This account is disabled" in (await customer_http.get("/console")).text
    api = await customer_http.post(
        "/v1/generate", json={"prompt": "x"}, headers={"Authorization": f"Bearer {key.token}"}
    )
    assert api.status_code == 403
    await admin_http.post(
        f"/admin/accounts/{customer.account_id}/state",
        data={"csrf_token": admin_csrf, "state": "active"},
    )
    again = await customer_http.post(
        "/console/api/generate", json={"prompt": "x"}, headers={"X-CSRF-Token": customer_csrf}
    )
    assert again.status_code == 200


async def test_plan_and_spicy_change_from_the_account_page(services: Services, browser_like):
    _, http, csrf = await _operator(services, browser_like)
    customer = await make_user(services)
    base = f"/admin/accounts/{customer.account_id}"
    await http.post(f"{base}/plan", data={"csrf_token": csrf, "plan": "pro", "confirm": "yes"})
    await http.post(f"{base}/spicy", data={"csrf_token": csrf, "allow": "yes"})
    account = await accounts.get_account(services.db, customer.account_id)
    assert (account.plan, account.allow_spicy) == ("pro", True)
    # An unknown plan is named at once, before any confirmation is asked.
    unknown = await http.post(f"{base}/plan", data={"csrf_token": csrf, "plan": "platinum"})
    assert "unknown plan" in (await http.get(unknown.headers["location"])).text
    assert (await accounts.get_account(services.db, customer.account_id)).plan == "pro"


async def test_an_operator_refunds_a_completed_task_once(services: Services, browser_like):
    _, admin_http, admin_csrf = await _operator(services, browser_like)
    customer = await make_user(services, credits=400)
    customer_http = browser_like()
    customer_csrf = await sign_in(customer_http, customer)
    made = await customer_http.post(
        "/console/api/generate",
        json={"prompt": "refund me"},
        headers={"X-CSRF-Token": customer_csrf},
    )
    task_id = made.json()["data"]["task_id"]
    await make_worker(services).run_once()
    listing = await admin_http.get("/admin/tasks", params={"account": customer.account_id})
    assert task_id in listing.text
    page = await admin_http.get(f"/admin/tasks/{task_id}")
    assert "Refund task" in page.text
    first = await admin_http.post(
        f"/admin/tasks/{task_id}/refund",
        data={"csrf_token": admin_csrf, "reason": "black video", "confirm": "yes"},
    )
    assert "Refunded 40 credits." in (await admin_http.get(first.headers["location"])).text
    second = await admin_http.post(
        f"/admin/tasks/{task_id}/refund",
        data={"csrf_token": admin_csrf, "reason": "again", "confirm": "yes"},
    )
    assert "Not refundable" in (await admin_http.get(second.headers["location"])).text
    assert (await accounts.get_account(services.db, customer.account_id)).balance == 400
    # The customer sees the refund on the task's own page.
    own = await customer_http.get(f"/console/tasks/{task_id}")
    assert "refunded 40" in own.text


async def test_usage_shows_the_days_and_engines(services: Services, browser_like):
    _, http, _ = await _operator(services, browser_like)
    customer = await make_user(services)
    customer_http = browser_like()
    csrf = await sign_in(customer_http, customer)
    await customer_http.post(
        "/console/api/generate", json={"prompt": "x"}, headers={"X-CSRF-Token": csrf}
    )
    await make_worker(services).run_once()
    page = await http.get("/admin/usage")
    assert re.search(
        r"<td>preview</td><td class=\"num\">1</td><td class=\"num\">40</td>", page.text
    )
    assert "<svg" in page.text
    assert (await http.get("/admin/usage?since=2020-01-01&until=2026-01-01")).status_code == 400
    assert (await http.get("/admin/usage?since=yesterday")).status_code == 400
    assert "No worker seen in the last hour." in (await http.get("/admin/fleet")).text
    await fleet.register_worker(services.db, "host-a:1234", ["preview"])
    page = await http.get("/admin/fleet")
    assert "host-a:1234" in page.text and ">alive<" in page.text
