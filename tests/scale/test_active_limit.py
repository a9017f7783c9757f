"""The per-account limit of tasks pending or running holds exactly across two API processes on
PostgreSQL and Redis: the submission transaction counts under a row lock on the account."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy import func, select

from grokimagine.domain.accounts import accounts
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts as accounts_table
from grokimagine.storage.schema import ledger, tasks
from tests.helpers.cluster import make_cluster, ready
from tests.helpers.customers import Customer

LIMIT = 3
PLANS = {"studio": {"requests_per_minute": 1000, "max_active_tasks": LIMIT}}
BODY = {"prompt": "two processes, one limit", "duration": 1}  # 10 credits


async def test_the_active_task_limit_holds_exactly_across_two_api_processes(
    tmp_path: Path, scale_database_url: str, scale_db: Database
) -> None:
    catalog = plan_catalog(Settings(plans=PLANS))
    account = await accounts.create_account(
        scale_db, plan="studio", credits_granted=1000, plans=catalog
    )
    key = await accounts.create_key(scale_db, account.id)
    customer = Customer(account.id, key.token, key.key.id)
    # No worker: every accepted task stays pending, so exactly LIMIT may be accepted.
    with make_cluster(tmp_path, scale_database_url, plans=json.dumps(PLANS)) as cluster:
        api_a, api_b = cluster.api("api-a"), cluster.api("api-b")
        ready(api_a, api_b)
        targets = [api_a.base_url, api_b.base_url]
        async with httpx.AsyncClient(timeout=30) as http:
            for round_number in range(3):
                answers = await asyncio.gather(
                    *[
                        http.post(
                            f"{targets[index % 2]}/v1/generate",
                            json=BODY,
                            headers=customer.headers,
                        )
                        for index in range(40)
                    ]
                )
                codes = [answer.status_code for answer in answers]
                accepted = [a for a in answers if a.status_code == 200]
                refused = [a for a in answers if a.status_code == 429]
                assert len(accepted) + len(refused) == 40, codes
                expected = LIMIT if round_number == 0 else 0
                assert len(accepted) == expected, codes
                for answer in refused:
                    assert answer.json()["error"] == "TOO_MANY_ACTIVE_TASKS"
                    assert answer.headers["Retry-After"] == "5"
                # Both processes answered (and refused) requests.
                served = {str(a.url).split("/v1")[0] for a in refused}
                assert served == set(targets)

            # One task is canceled through B; one more place opens, through either process.
            task_id = (
                await scale_db.fetch_all(select(tasks.c.id).where(tasks.c.account_id == account.id))
            )[0].id
            canceled = await http.post(
                f"{api_b.base_url}/v1/tasks/{task_id}/cancel", headers=customer.headers
            )
            assert canceled.status_code == 200, canceled.text
            answers = await asyncio.gather(
                *[
                    http.post(
                        f"{targets[index % 2]}/v1/generate", json=BODY, headers=customer.headers
                    )
                    for index in range(20)
                ]
            )
            assert sorted(a.status_code for a in answers) == [200] + [429] * 19

    active = await scale_db.fetch_one(
        select(func.count()).where(
            tasks.c.account_id == account.id, tasks.c.status.in_(("pending", "processing"))
        )
    )
    assert active is not None and active[0] == LIMIT
    row = await scale_db.fetch_one(
        select(accounts_table.c.balance).where(accounts_table.c.id == account.id)
    )
    total = await scale_db.fetch_one(
        select(func.sum(ledger.c.delta)).where(ledger.c.account_id == account.id)
    )
    # Four tasks charged (10 each), one of them refunded.
    assert row is not None and total is not None and row.balance == total[0] == 1000 - 30
