"""The admin API holds against hostile input like the public API (issue 21): text with NUL,
control or combining characters, huge and unicode-digit numbers, extreme dates. Each value is
refused with a 400 naming the field, or accepted and stored exactly, the same on SQLite and
PostgreSQL; a refusal stores nothing."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from grokimagine.domain.billing.credits import MAX_CREDITS_PER_CHANGE
from grokimagine.domain.operator.reports import MAX_REPORT_DAYS
from grokimagine.services import Services
from grokimagine.storage.schema import accounts
from tests.helpers.admin import admin_headers, balance, ledger_total
from tests.helpers.customers import Customer
from tests.helpers.hostile import FIRST, LAST, mixed_text, storable

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def admin(services: Services) -> dict[str, str]:
    return await admin_headers(services)


def refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "INVALID_REQUEST" and field in body["message"], body


async def account_count(services: Services) -> int:
    row = await services.db.fetch_one(select(func.count().label("n")).select_from(accounts))
    assert row is not None
    return int(row.n)


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, object],
    admin: dict[str, str],
) -> httpx.Response:
    """``body`` as JSON; json.dumps escapes what UTF-8 cannot carry (a lone surrogate)."""
    headers = {**admin, "Content-Type": "application/json"}
    return await client.request(method, path, content=json.dumps(body).encode(), headers=headers)


@PROPERTY
@given(name=mixed_text)
async def test_an_account_name_is_refused_naming_it_or_stored_exactly(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str], name: str
) -> None:
    before = await account_count(services)
    response = await send(client, "POST", "/admin/v1/accounts", {"name": name}, admin)
    if storable(name) and len(name) <= 200:
        assert response.status_code == 200, response.text
        account_id = response.json()["data"]["id"]
        shown = await client.get(f"/admin/v1/accounts/{account_id}", headers=admin)
        assert shown.json()["data"]["name"] == name
    else:
        refused(response, "name")
        assert await account_count(services) == before


@PROPERTY
@given(reason=mixed_text)
async def test_a_grant_reason_is_refused_naming_it_or_kept_exactly(
    client: httpx.AsyncClient,
    services: Services,
    admin: dict[str, str],
    customer: Customer,
    reason: str,
) -> None:
    before = await balance(services, customer.account_id)
    grant = f"/admin/v1/accounts/{customer.account_id}/credits/grant"
    response = await send(client, "POST", grant, {"amount": 1, "reason": reason}, admin)
    if storable(reason) and len(reason) <= 200 and reason.strip():
        assert response.status_code == 200, response.text
        assert response.json()["data"]["balance"] == before + 1
        ledger = await client.get(
            f"/admin/v1/accounts/{customer.account_id}/ledger?limit=1", headers=admin
        )
        assert ledger.json()["data"]["entries"][0]["note"] == reason.strip()
    else:
        refused(response, "reason")
        assert await balance(services, customer.account_id) == before
    assert await ledger_total(services, customer.account_id) == await balance(
        services, customer.account_id
    )


async def test_a_lone_surrogate_or_nul_in_a_body_is_a_400_naming_the_field(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str], customer: Customer
) -> None:
    for value in ("\ud800", "a\x00b"):
        created = await send(client, "POST", "/admin/v1/accounts", {"name": value}, admin)
        refused(created, "name")
        patched = await send(
            client, "PATCH", f"/admin/v1/accounts/{customer.account_id}", {"plan": value}, admin
        )
        refused(patched, "plan")
    assert await account_count(services) == 1


FILTERS = {
    "/admin/v1/accounts": {"q": 200, "plan": 40},
    "/admin/v1/tasks": {"account_id": 40, "engine": 40},
    "/admin/v1/audit": {"target_id": 64, "actor": 40, "action": 40},
}


@PROPERTY
@given(
    path=st.sampled_from(sorted(FILTERS)),
    which=st.integers(min_value=0, max_value=2),
    value=mixed_text,
)
async def test_a_filter_is_refused_naming_it_or_searched_for(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, which: int, value: str
) -> None:
    names = sorted(FILTERS[path])
    name = names[which % len(names)]
    response = await client.get(path, params={name: value}, headers=admin)
    if storable(value) and len(value) <= FILTERS[path][name]:
        assert response.status_code == 200, response.text
    else:
        refused(response, name)


# Offsets in whole minutes, as ISO 8601 writes them (a finer one is refused as malformed).
offsets = st.none() | st.integers(min_value=-1439, max_value=1439).map(
    lambda minutes: timedelta(minutes=minutes)
)


@PROPERTY
@given(moment=st.datetimes(), offset=offsets, field=st.sampled_from(["since", "until"]))
async def test_a_task_filter_time_is_refused_outside_the_documented_range(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    moment: datetime,
    offset: timedelta | None,
    field: str,
) -> None:
    text = (
        moment.isoformat()
        if offset is None
        else moment.replace(tzinfo=timezone(offset)).isoformat()
    )
    response = await client.get("/admin/v1/tasks", params={field: text}, headers=admin)
    if offset is None:
        refused(response, field)  # a time without a zone is not one moment
        return
    utc = moment - offset  # naive UTC arithmetic: cannot overflow past year 1 or 9999 here
    start, end = datetime(2000, 1, 1), datetime(2200, 1, 1)
    if start <= utc < end:
        assert response.status_code == 200, response.text
    else:
        refused(response, field)


@PROPERTY
@given(since=st.dates(), until=st.dates())
async def test_a_usage_range_is_refused_outside_the_documented_range(
    client: httpx.AsyncClient, admin: dict[str, str], since: date, until: date
) -> None:
    params = {"since": since.isoformat(), "until": until.isoformat()}
    response = await client.get("/admin/v1/usage", params=params, headers=admin)
    if not FIRST <= since <= LAST:
        refused(response, "since")
    elif not FIRST <= until <= LAST:
        refused(response, "until")
    elif since > until or (until - since).days >= MAX_REPORT_DAYS:
        assert response.status_code == 400, response.text
    else:
        assert response.status_code == 200, response.text
        assert response.json()["data"]["since"] == since.isoformat()


@PROPERTY
@given(
    amount=st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([0, 1, MAX_CREDITS_PER_CHANGE, MAX_CREDITS_PER_CHANGE + 1, 2**63]),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(alphabet="0123456789²٣١", min_size=1, max_size=20),
    ),
    direction=st.sampled_from(["grant", "deduct"]),
)
async def test_an_amount_is_an_integer_within_the_bounds_or_refused(
    client: httpx.AsyncClient,
    services: Services,
    admin: dict[str, str],
    customer: Customer,
    amount: object,
    direction: str,
) -> None:
    before = await balance(services, customer.account_id)
    path = f"/admin/v1/accounts/{customer.account_id}/credits/{direction}"
    response = await client.post(path, json={"amount": amount, "reason": "r"}, headers=admin)
    valid = type(amount) is int and 1 <= amount <= MAX_CREDITS_PER_CHANGE
    if not valid:
        refused(response, "amount")
    elif direction == "deduct" and amount > before:
        assert response.status_code == 409, response.text
    else:
        assert response.status_code == 200, response.text
    after = await balance(services, customer.account_id)
    assert after == await ledger_total(services, customer.account_id)
    assert after == before or response.status_code == 200


async def test_the_largest_grants_keep_balance_and_ledger_equal_integers(
    client: httpx.AsyncClient, services: Services, admin: dict[str, str], customer: Customer
) -> None:
    grant = f"/admin/v1/accounts/{customer.account_id}/credits/grant"
    body = {"amount": MAX_CREDITS_PER_CHANGE, "reason": "largest allowed grant"}
    for _ in range(3):
        assert (await client.post(grant, json=body, headers=admin)).status_code == 200
    expected = 400 + 3 * MAX_CREDITS_PER_CHANGE
    shown = await client.get(f"/admin/v1/accounts/{customer.account_id}", headers=admin)
    assert shown.json()["data"]["balance"] == expected
    row = await services.db.fetch_one(
        select(accounts.c.balance).where(accounts.c.id == customer.account_id)
    )
    assert row is not None
    assert type(row.balance) is int and row.balance == expected  # never a float, on either db
    assert await ledger_total(services, customer.account_id) == expected
    created = await client.post(
        "/admin/v1/accounts", json={"credits": MAX_CREDITS_PER_CHANGE + 1}, headers=admin
    )
    refused(created, "credits")
