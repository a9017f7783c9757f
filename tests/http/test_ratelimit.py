"""Plan limits per account, in memory and in the real Redis."""

from __future__ import annotations

import time

import httpx
import pytest

from grokimagine.domain.accounts import accounts
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.customers import REDIS_URL, make_customer


@pytest.fixture(params=["memory", "redis"])
async def limited_client(request: pytest.FixtureRequest, settings: Settings, services: Services):
    """A client whose service keeps its rate limits in memory, or in Redis."""
    if request.param == "redis":
        settings = settings.replace(**{"redis_url": REDIS_URL})
        own = build_services(settings, public_url="http://testserver")
    else:
        own = services
    transport = httpx.ASGITransport(app=create_app(own), client=("192.0.2.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, own
    if own is not services:
        await own.close()


async def test_the_free_plan_allows_100_requests_a_minute(limited_client) -> None:
    http, services = limited_client
    customer = await make_customer(services)
    remaining = []
    for _ in range(100):
        response = await http.get("/v1/status?task_id=task_x", headers=customer.headers)
        assert response.status_code == 404
        assert response.headers["x-ratelimit-limit"] == "100"
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == list(range(99, -1, -1))
    refused = await http.post("/v1/generate", json={"prompt": "p"}, headers=customer.headers)
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 429,
        "message": "Rate limited: the plan's requests per minute are used up",
        "error": "RATE_LIMITED",
    }
    reset = int(refused.headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 61
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert refused.headers["x-ratelimit-remaining"] == "0"


async def test_all_keys_of_an_account_share_one_limit(limited_client) -> None:
    http, services = limited_client
    customer = await make_customer(services)
    second = await accounts.create_key(services.db, customer.account_id)
    other_headers = {"Authorization": f"Bearer {second.token}"}
    for index in range(100):
        headers = customer.headers if index % 2 else other_headers
        assert (await http.get("/v1/status?task_id=t", headers=headers)).status_code == 404
    assert (await http.get("/v1/status?task_id=t", headers=other_headers)).status_code == 429
    assert (await http.get("/v1/status?task_id=t", headers=customer.headers)).status_code == 429


async def test_plans_have_their_own_limits(limited_client) -> None:
    http, services = limited_client
    for plan, limit in (("pro", "1000"), ("enterprise", "5000")):
        customer = await make_customer(services, plan=plan)
        response = await http.get("/v1/status?task_id=t", headers=customer.headers)
        assert response.headers["x-ratelimit-limit"] == limit
        assert response.headers["x-ratelimit-remaining"] == str(int(limit) - 1)


async def test_one_account_over_its_limit_does_not_limit_another(limited_client) -> None:
    http, services = limited_client
    busy = await make_customer(services)
    calm = await make_customer(services)
    for _ in range(101):
        await http.get("/v1/status?task_id=t", headers=busy.headers)
    response = await http.get("/v1/status?task_id=t", headers=calm.headers)
    assert response.status_code == 404
    assert response.headers["x-ratelimit-remaining"] == "99"


@pytest.mark.usefixtures("services")  # an empty database: no business settings saved before
async def test_an_operator_can_change_a_plans_limit(settings: Settings) -> None:
    own = build_services(settings.replace(plan_limits={"free": 3}))
    customer = await make_customer(own)
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        codes = [
            (await http.get("/v1/status?task_id=t", headers=customer.headers)).status_code
            for _ in range(4)
        ]
    await own.close()
    assert codes == [404, 404, 404, 429]


def test_unknown_plans_in_the_limits_are_refused() -> None:
    from grokimagine.domain.billing.plans import plan_limits

    with pytest.raises(ValueError, match="platinum"):
        plan_limits({"platinum": 10})
    assert plan_limits({"pro": 7})["pro"] == 7
