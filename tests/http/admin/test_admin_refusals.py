"""Every refusal of the admin API comes from the one table, ``DOMAIN_ERRORS`` (issue 19): each
domain error a route lets through is answered with the table's status and code."""

from __future__ import annotations

import httpx
import pytest

from grokimagine.domain.accounts.accounts import AccountNotFoundError
from grokimagine.domain.billing import credits
from grokimagine.domain.billing.credits import BalanceLimitError, BalanceTooLowError
from grokimagine.domain.billing.plans import UnknownPlanError
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.operator.accounts import KeyNotFoundError
from grokimagine.domain.operator.reports import ReportRangeError
from grokimagine.domain.operator.tasks import TaskNotRefundableError
from grokimagine.domain.tasks.control import TaskNotCancelableError
from grokimagine.domain.tasks.records import TaskNotFoundError
from grokimagine.http.errors import DOMAIN_ERRORS, Refusal
from grokimagine.services import Services
from tests.helpers.admin import admin_headers, balance, ledger_total
from tests.helpers.customers import Customer

MISSING_ACCOUNT = "acct_Missing0000000000"
MISSING_TASK = "task_Missing00000000000000"
FOREIGN_CURSOR = "WyJub3QiLCJvdXJzIl0"  # base64 of ["not","ours"]: well formed, not a cursor


def answered_by_table(response: httpx.Response, kind: type[Exception]) -> dict:
    """The error body, after checking that its status and code are the table's for ``kind``."""
    refusal = _table_entry(kind)
    assert response.status_code == refusal.status, response.text
    body = response.json()
    assert body["code"] == refusal.status and body["error"] == refusal.error, body
    return body


@pytest.fixture
async def admin(services: Services) -> dict[str, str]:
    return await admin_headers(services)


async def test_unknown_account_key_and_task_are_the_tables_404s(
    client: httpx.AsyncClient, admin: dict[str, str], customer: Customer
) -> None:
    account_paths = [
        ("GET", f"/admin/v1/accounts/{MISSING_ACCOUNT}", None),
        ("PATCH", f"/admin/v1/accounts/{MISSING_ACCOUNT}", {"name": "x"}),
        ("POST", f"/admin/v1/accounts/{MISSING_ACCOUNT}/disable", None),
        ("POST", f"/admin/v1/accounts/{MISSING_ACCOUNT}/enable", None),
        ("GET", f"/admin/v1/accounts/{MISSING_ACCOUNT}/keys", None),
        ("POST", f"/admin/v1/accounts/{MISSING_ACCOUNT}/keys", {"kind": "live"}),
        ("GET", f"/admin/v1/accounts/{MISSING_ACCOUNT}/ledger", None),
        ("POST", f"/admin/v1/accounts/{MISSING_ACCOUNT}/credits/grant", _change(5)),
        ("POST", f"/admin/v1/accounts/{MISSING_ACCOUNT}/credits/deduct", _change(5)),
    ]
    for method, path, body in account_paths:
        response = await client.request(method, path, json=body, headers=admin)
        message = answered_by_table(response, AccountNotFoundError)["message"]
        assert MISSING_ACCOUNT in message, (path, message)
    for method, path in [
        ("GET", f"/admin/v1/tasks/{MISSING_TASK}"),
        ("POST", f"/admin/v1/tasks/{MISSING_TASK}/refund"),
        ("POST", f"/admin/v1/tasks/{MISSING_TASK}/cancel"),
    ]:
        answered_by_table(await client.request(method, path, headers=admin), TaskNotFoundError)
    revoke = f"/admin/v1/accounts/{customer.account_id}/keys/key_Missing0000"
    answered_by_table(await client.delete(revoke, headers=admin), KeyNotFoundError)
    # Another account's key is not this account's: the same 404, and the key still works.
    other = f"/admin/v1/accounts/{MISSING_ACCOUNT}/keys/{customer.key_id}"
    answered_by_table(await client.delete(other, headers=admin), KeyNotFoundError)
    assert (await client.get("/v1/account", headers=customer.headers)).status_code == 200


async def test_bad_cursors_plans_reasons_and_ranges_are_the_tables_400s(
    client: httpx.AsyncClient, admin: dict[str, str], customer: Customer
) -> None:
    for path in [
        "/admin/v1/accounts",
        "/admin/v1/tasks",
        "/admin/v1/audit",
        f"/admin/v1/accounts/{customer.account_id}/ledger",
    ]:
        response = await client.get(path, params={"cursor": FOREIGN_CURSOR}, headers=admin)
        answered_by_table(response, InvalidCursorError)
    created = await client.post("/admin/v1/accounts", json={"plan": "gold"}, headers=admin)
    assert "plan" in answered_by_table(created, UnknownPlanError)["message"]
    changed = await client.patch(
        f"/admin/v1/accounts/{customer.account_id}", json={"plan": "gold"}, headers=admin
    )
    answered_by_table(changed, UnknownPlanError)
    blank_reason = {"amount": 5, "reason": "   "}
    grant = f"/admin/v1/accounts/{customer.account_id}/credits/grant"
    refused = await client.post(grant, json=blank_reason, headers=admin)
    assert "reason" in answered_by_table(refused, InvalidRequestError)["message"]
    backwards = {"since": "2026-03-10", "until": "2026-03-01"}
    answered_by_table(
        await client.get("/admin/v1/usage", params=backwards, headers=admin), ReportRangeError
    )


async def test_money_refusals_are_the_tables_409s_and_change_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    customer: Customer,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = f"/admin/v1/accounts/{customer.account_id}/credits"
    too_much = await client.post(f"{base}/deduct", json=_change(401), headers=admin)
    assert answered_by_table(too_much, BalanceTooLowError)["message"].endswith("400 credits")
    # The ceiling, lowered for the test: a grant past it is refused whole.
    monkeypatch.setattr(credits, "MAX_BALANCE", 1000)
    answered_by_table(
        await client.post(f"{base}/grant", json=_change(601), headers=admin), BalanceLimitError
    )
    ok = await client.post(f"{base}/grant", json=_change(600), headers=admin)
    assert ok.status_code == 200 and ok.json()["data"]["balance"] == 1000
    assert await balance(services, customer.account_id) == 1000
    assert await ledger_total(services, customer.account_id) == 1000


async def test_task_refusals_are_the_tables_409s(
    client: httpx.AsyncClient, admin: dict[str, str], customer: Customer
) -> None:
    made = await client.post("/v1/generate", json={"prompt": "a cat"}, headers=customer.headers)
    task_id = made.json()["data"]["task_id"]
    refused = await client.post(f"/admin/v1/tasks/{task_id}/refund", headers=admin)
    answered_by_table(refused, TaskNotRefundableError)
    assert (await client.post(f"/admin/v1/tasks/{task_id}/cancel", headers=admin)).is_success
    again = await client.post(f"/admin/v1/tasks/{task_id}/cancel", headers=admin)
    assert "canceled" in answered_by_table(again, TaskNotCancelableError)["message"]


def test_every_refusal_the_admin_routes_let_through_is_in_the_table() -> None:
    for kind in (
        AccountNotFoundError,
        KeyNotFoundError,
        TaskNotFoundError,
        InvalidCursorError,
        UnknownPlanError,
        InvalidRequestError,
        ReportRangeError,
        BalanceTooLowError,
        BalanceLimitError,
        TaskNotRefundableError,
        TaskNotCancelableError,
    ):
        assert _table_entry(kind).status in (400, 404, 409), kind


def _table_entry(kind: type[Exception]) -> Refusal:
    """The table's answer to ``kind`` (its most specific listed class), as routes get it."""
    listed = [cls for cls in kind.__mro__ if cls in DOMAIN_ERRORS]
    assert listed, f"{kind.__name__} is not in DOMAIN_ERRORS"
    return DOMAIN_ERRORS[listed[0]]


def _change(amount: int) -> dict[str, object]:
    return {"amount": amount, "reason": "support ticket 12"}
