"""Fair share: the queue takes turns across accounts, so one account's burst cannot starve another."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import insert

from grokimagine.domain import ids
from grokimagine.domain.accounts import accounts
from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.services import Services
from grokimagine.storage.schema import tasks


async def _pending_tasks(services: Services, account_id: str, count: int, start: int) -> list[str]:
    """Insert ``count`` pending tasks of ``account_id``, created one second apart from ``start``."""
    base = utcnow() - timedelta(hours=1)
    made = [ids.new_task_id() for _ in range(count)]
    rows = [
        {
            "id": task_id,
            "account_id": account_id,
            "key_id": "key_test",
            "status": "pending",
            "mode": "normal",
            "prompt": "a fox",
            "ratio": "2:3",
            "request": {},
            "input_images": [],
            "width": 480,
            "height": 720,
            "num_frames": 144,
            "fps": 24,
            "seed": 1,
            "consumed_credits": 0,
            "videos": [],
            "created_at": base + timedelta(seconds=start + index),
        }
        for index, task_id in enumerate(made)
    ]
    async with services.db.write() as conn:
        await conn.execute(insert(tasks), rows)
    return made


async def _account(services: Services) -> str:
    return (await accounts.create_account(services.db, plan="free", credits_granted=0)).id


async def test_the_quiet_accounts_single_task_starts_before_the_busy_accounts_tenth(
    services: Services,
) -> None:
    busy, quiet = await _account(services), await _account(services)
    burst = await _pending_tasks(services, busy, 100, start=0)
    # The quiet account submits after the whole burst: a first-come queue would run it 101st.
    (single,) = await _pending_tasks(services, quiet, 1, start=200)

    started: list[str] = []
    while len(started) < 12:  # one worker, one task at a time, each finished before the next
        claimed = await task_queue.claim_next_task(
            services.db, "worker-1", lease_seconds=30, max_attempts=3
        )
        assert claimed is not None
        record, lease = claimed
        started.append(record.id)
        assert await task_queue.complete_task(services.db, lease, ["v.mp4"], "preview", {})

    busy_started = [task_id for task_id in started if task_id in set(burst)]
    assert single in started
    assert started.index(single) < started.index(busy_started[9])
    assert started.index(single) == 1  # its turn came right after the busy account's first
    assert busy_started == burst[: len(busy_started)]  # oldest first within an account


async def test_turns_rotate_over_three_accounts_with_tasks_held_by_several_workers(
    services: Services,
) -> None:
    first, second, third = [await _account(services) for _ in range(3)]
    owner = {}
    for account, count, start in ((first, 6, 0), (second, 3, 100), (third, 3, 200)):
        for task_id in await _pending_tasks(services, account, count, start):
            owner[task_id] = account

    order = []
    for _ in range(9):  # none finishes: each claim leaves its task running
        claimed = await task_queue.claim_next_task(
            services.db, "worker-x", lease_seconds=30, max_attempts=3
        )
        assert claimed is not None
        order.append(owner[claimed[0].id])
    assert order == [first, second, third] * 3


async def test_concurrent_claims_take_each_task_exactly_once(services: Services) -> None:
    accounts_made = [await _account(services) for _ in range(3)]
    created: set[str] = set()
    for index, account in enumerate(accounts_made):
        created |= set(await _pending_tasks(services, account, 8, start=index * 50))

    async def claimer(name: str) -> list[str]:
        mine = []
        while True:
            claimed = await task_queue.claim_next_task(
                services.db, name, lease_seconds=30, max_attempts=3
            )
            if claimed is None:
                return mine
            mine.append(claimed[0].id)

    results = await asyncio.gather(*(claimer(f"worker-{n}") for n in range(6)))
    taken = [task_id for result in results for task_id in result]
    assert len(taken) == len(set(taken)) == len(created)
    assert set(taken) == created
