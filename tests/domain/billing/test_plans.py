"""Plans the operator defines: rates, spicy, the most tasks pending or running, monthly grants."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from grokimagine.domain.billing.plan_grants import grant_monthly_credits
from grokimagine.domain.billing.plans import (
    PLANS,
    PlanTableError,
    UnknownPlanError,
    plan_catalog,
)
from grokimagine.domain.operator.business_settings import check_business_settings
from grokimagine.engines.routing import EngineRouter
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import ledger
from tests.helpers.admin import app_with, balance, customer_on, data, error, ledger_total
from tests.helpers.customers import make_worker

STUDIO = {
    "studio": {
        "requests_per_minute": 300,
        "allow_spicy": False,
        "max_active_tasks": 2,
        "monthly_credits": 500,
    },
    "free": {"max_active_tasks": 3},
}
BODY = {"prompt": "a red kite over a beach", "duration": 1}


def test_the_reference_plans_stay_and_operators_add_and_change_plans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = plan_catalog(Settings())
    assert defaults.limits() == {"free": 100, "pro": 1000, "enterprise": 5000}
    assert all(plan.max_active_tasks is None and plan.allow_spicy for plan in defaults)
    monkeypatch.setenv("GROKIMAGINE_PLANS", json.dumps(STUDIO))
    monkeypatch.setenv("GROKIMAGINE_PLAN_LIMITS", '{"pro": 1200}')
    catalog = plan_catalog(Settings())
    assert catalog.names() == ["free", "pro", "enterprise", "studio"]
    studio = catalog.get("studio")
    assert (studio.requests_per_minute, studio.allow_spicy) == (300, False)
    assert (studio.max_active_tasks, studio.monthly_credits) == (2, 500)
    assert catalog.get("free").requests_per_minute == 100  # changed field only
    assert catalog.get("free").max_active_tasks == 3
    assert catalog.get("pro").requests_per_minute == 1200
    with pytest.raises(UnknownPlanError, match="platinum"):
        catalog.get("platinum")
    assert catalog.of_account("retired").name == "free"
    assert set(PLANS) == {"free", "pro", "enterprise"}  # the defaults are not mutated
    assert PLANS["free"].max_active_tasks is None


@pytest.mark.parametrize(
    ("plans", "culprit"),
    [
        (
            {"studio": {"requests_per_minute": 0}},
            "studio: requests_per_minute: Input should be greater than or equal to 1",
        ),
        (
            {"studio": {"requests_per_minute": "9"}},
            "studio: requests_per_minute: Input should be a valid integer",
        ),
        ({"free": {"allow_spicy": "yes"}}, "free: allow_spicy: Input should be a valid boolean"),
        ({"free": {"max_active_tasks": 0}}, "free: max_active_tasks: Input should be greater"),
        ({"free": {"monthly_credits": -5}}, "free: monthly_credits: Input should be greater"),
        ({"free": {"rpm": 5}}, "free: rpm: Extra inputs are not permitted"),
        ({"a plan": {"requests_per_minute": 5}}, "'a plan': a plan name is 1-20 letters"),
        ({"x" * 21: {"requests_per_minute": 5}}, "a plan name is 1-20"),
        ({"free": 5}, "free: Input should be a valid dictionary"),
    ],
)
def test_a_malformed_plan_is_named_with_its_variable(
    monkeypatch: pytest.MonkeyPatch, plans: dict, culprit: str
) -> None:
    monkeypatch.setenv("GROKIMAGINE_PLANS", json.dumps(plans))
    with pytest.raises(ValueError, match="GROKIMAGINE_PLANS: ") as raised:
        Settings()
    assert culprit in str(raised.value)


def test_a_new_plan_needs_its_rate_and_the_rate_overrides_known_plans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROKIMAGINE_PLANS", '{"studio": {"allow_spicy": false}}')
    with pytest.raises(
        PlanTableError, match="GROKIMAGINE_PLANS: studio: requests_per_minute: missing"
    ):
        check_business_settings(Settings())
    monkeypatch.setenv("GROKIMAGINE_PLANS", '{"studio": {"requests_per_minute": 5}}')
    monkeypatch.setenv("GROKIMAGINE_PLAN_LIMITS", '{"gold": 5}')
    with pytest.raises(PlanTableError, match="GROKIMAGINE_PLAN_LIMITS: unknown plan 'gold'"):
        check_business_settings(Settings())
    monkeypatch.setenv("GROKIMAGINE_PLAN_LIMITS", '{"studio": 7}')
    assert plan_catalog(Settings()).get("studio").requests_per_minute == 7


def test_routes_may_name_an_operator_plan() -> None:
    settings = Settings(plans=STUDIO, routes={"plan:studio": ["preview"]})
    assert list(EngineRouter(settings).route("studio", "fun")) == ["preview"]
    with pytest.raises(ValueError, match="unknown plan 'gold'"):
        EngineRouter(Settings(routes={"plan:gold": ["preview"]}))


async def test_over_the_active_task_limit_is_429_with_its_own_code_until_one_finishes(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, plans=STUDIO) as (own, client):
        customer = await customer_on(own, "studio", credits=1000)
        other = await customer_on(own, "studio", credits=1000)
        first = data(await client.post("/v1/generate", json=BODY, headers=customer.headers))
        data(await client.post("/v1/generate", json=BODY, headers=customer.headers))
        refused = await client.post("/v1/generate", json=BODY, headers=customer.headers)
        body = error(refused, 429, "TOO_MANY_ACTIVE_TASKS")
        assert "2 pending or running" in body["message"]
        assert refused.headers["Retry-After"] == "5"
        assert "X-RateLimit-Limit" in refused.headers
        assert await balance(own, customer.account_id) == 1000 - 2 * 10
        # The limit is per account: another account on the plan is not held back.
        data(await client.post("/v1/generate", json=BODY, headers=other.headers))
        # One task ends (canceled: refunded); a place is free again.
        data(await client.post(f"/v1/tasks/{first['task_id']}/cancel", headers=customer.headers))
        data(await client.post("/v1/generate", json=BODY, headers=customer.headers))
        # A completed task frees its place too.
        worker = make_worker(own)
        while await worker.run_once():
            pass
        for _ in range(2):
            data(await client.post("/v1/generate", json=BODY, headers=customer.headers))
        error(
            await client.post("/v1/generate", json=BODY, headers=customer.headers),
            429,
            "TOO_MANY_ACTIVE_TASKS",
        )
        account = data(await client.get("/v1/account", headers=customer.headers))
        assert account["rate_limit"]["limit"] == 300


async def test_racing_submissions_never_exceed_the_active_task_limit(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, plans=STUDIO) as (own, client):
        customer = await customer_on(own, "studio", credits=1000)
        answers = await asyncio.gather(
            *[client.post("/v1/generate", json=BODY, headers=customer.headers) for _ in range(12)]
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200, 200] + [429] * 10
        assert await balance(own, customer.account_id) == 1000 - 20
        assert await ledger_total(own, customer.account_id) == 1000 - 20


async def test_a_plan_without_spicy_forbids_it_even_to_a_spicy_account(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, plans=STUDIO) as (own, client):
        customer = await customer_on(own, "studio", allow_spicy=True)
        spicy = {**BODY, "mode": "spicy"}
        error(
            await client.post("/v1/generate", json=spicy, headers=customer.headers),
            403,
            "MODE_NOT_ALLOWED",
        )
        pricing = data(await client.get("/v1/pricing", headers=customer.headers))
        assert pricing["modes"]["spicy"]["allowed"] is False
        free = await customer_on(own, "free", allow_spicy=True)
        data(await client.post("/v1/generate", json=spicy, headers=free.headers))


async def test_monthly_credits_are_granted_once_per_month_however_many_workers_race(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, plans=STUDIO) as (own, _client):
        studio = await customer_on(own, "studio", credits=0)
        free = await customer_on(own, "free", credits=0)
        november = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
        made = await asyncio.gather(
            *[grant_monthly_credits(own.db, plan_catalog(own.settings), november) for _ in range(5)]
        )
        assert sum(made) == 1
        assert await balance(own, studio.account_id) == 500
        assert await balance(own, free.account_id) == 0
        assert await grant_monthly_credits(own.db, plan_catalog(own.settings), november) == 0
        december = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
        assert await grant_monthly_credits(own.db, plan_catalog(own.settings), december) == 1
        assert await balance(own, studio.account_id) == 1000
        rows = await own.db.fetch_all(
            select(ledger.c.reason, ledger.c.note).where(ledger.c.account_id == studio.account_id)
        )
        assert sorted((row.reason, row.note) for row in rows) == [
            ("monthly", "studio plan, 2026-11"),
            ("monthly", "studio plan, 2026-12"),
        ]
