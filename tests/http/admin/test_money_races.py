"""Money under concurrency, on both databases: racing deductions and submissions never take a
balance below zero, and racing admin refunds refund once."""

from __future__ import annotations

import asyncio

import httpx

from grokimagine.domain.accounts.audit import Actor
from grokimagine.domain.billing.credits import BalanceTooLowError
from grokimagine.domain.operator import accounts as account_admin
from grokimagine.services import Services
from tests.helpers.admin import admin_headers, audit_actions, balance, data, ledger_total
from tests.helpers.customers import Customer, make_customer, make_worker

ONE_SECOND = {"prompt": "rain on a tin roof", "duration": 1}  # 10 credits


async def test_racing_deductions_and_submissions_never_go_below_zero(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services, credits=100)
    operator = await admin_headers(services)
    url = f"/admin/v1/accounts/{customer.account_id}/credits/deduct"

    async def deduct() -> int:
        answer = await client.post(url, json={"amount": 15, "reason": "race"}, headers=operator)
        return answer.status_code

    async def submit() -> int:
        answer = await client.post("/v1/generate", json=ONE_SECOND, headers=customer.headers)
        return answer.status_code

    jobs = [deduct() if index % 2 else submit() for index in range(24)]
    codes = await asyncio.gather(*jobs)
    deductions = [code for index, code in enumerate(codes) if index % 2]
    submissions = [code for index, code in enumerate(codes) if not index % 2]
    assert set(deductions) <= {200, 409} and set(submissions) <= {200, 402}
    spent = 15 * deductions.count(200) + 10 * submissions.count(200)
    final = await balance(services, customer.account_id)
    assert final >= 0 and final == 100 - spent
    assert final < 10  # everything affordable was taken
    assert await ledger_total(services, customer.account_id) == final
    assert deductions.count(409) + submissions.count(402) > 0


async def test_racing_deductions_in_the_domain_take_exactly_what_there_is(
    services: Services, customer: Customer
) -> None:
    actor = Actor("adk_test")

    async def deduct() -> bool:
        try:
            await account_admin.deduct(services.db, actor, customer.account_id, 7, "race")
        except BalanceTooLowError:
            return False
        return True

    results = await asyncio.gather(*[deduct() for _ in range(80)])
    assert results.count(True) == 400 // 7
    assert await balance(services, customer.account_id) == 400 % 7
    assert await ledger_total(services, customer.account_id) == 400 % 7
    deducted = [a for _, a, _ in await audit_actions(services) if a == "credits.deduct"]
    assert len(deducted) == 400 // 7  # refused deductions leave no audit entry


async def test_racing_admin_refunds_refund_once(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = data(await client.post("/v1/generate", json=ONE_SECOND, headers=customer.headers))[
        "task_id"
    ]
    assert await make_worker(services).run_once()
    operators = [await admin_headers(services, f"ops-{index}") for index in range(3)]
    answers = await asyncio.gather(
        *[
            client.post(f"/admin/v1/tasks/{task_id}/refund", headers=operators[index % 3])
            for index in range(12)
        ]
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] + [409] * 11
    assert await balance(services, customer.account_id) == 400
    assert await ledger_total(services, customer.account_id) == 400
    refunds = [a for _, a, _ in await audit_actions(services) if a == "task.refund"]
    assert refunds == ["task.refund"]
