"""accounts.active_tasks equals the account's tasks pending or processing after every kind of
move into and out of those states (the active-task limit reads it instead of counting)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from grokimagine.domain.accounts.accounts import Principal, authenticate
from grokimagine.domain.clock import utcnow
from grokimagine.domain.submission.generate import GenerationOrder, submit_generation
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.services import Services
from grokimagine.storage.schema import accounts, tasks
from tests.helpers.customers import make_customer

ORDER = GenerationOrder(prompt="a paper boat on a river")


async def counts(services: Services, account_id: str) -> tuple[int, int]:
    """(the stored count, the tasks actually pending or processing) of the account."""
    db = services.db
    stored = await db.fetch_one(select(accounts.c.active_tasks).where(accounts.c.id == account_id))
    counted = await db.fetch_one(
        select(func.count()).where(
            tasks.c.account_id == account_id, tasks.c.status.in_(("pending", "processing"))
        )
    )
    assert stored is not None and counted is not None
    return int(stored[0]), int(counted[0])


async def principal_of(services: Services) -> Principal:
    customer = await make_customer(services, credits=4000)
    principal = await authenticate(services.db, customer.token)
    assert principal is not None
    return principal


async def test_the_count_follows_every_move_into_and_out_of_the_queue(services: Services) -> None:
    mine, theirs = await principal_of(services), await principal_of(services)
    for _ in range(8):
        await submit_generation(services, mine, ORDER)
    assert await counts(services, mine.account_id) == (8, 8)

    async def claim() -> task_queue.Lease:
        claimed = await task_queue.claim_next_task(
            services.db, "w1", lease_seconds=30, max_attempts=3
        )
        assert claimed is not None
        return claimed[1]

    db = services.db
    assert await task_queue.complete_task(db, await claim(), ["k.mp4"], "preview", {})
    assert await task_queue.fail_task(db, await claim(), "ENGINE_FAILED", "broke")
    assert await task_queue.release_task(db, await claim())  # back to pending: still active
    assert await task_queue.cancel_running_task(db, await claim())
    assert await counts(services, mine.account_id) == (5, 5)
    # Finished already: a second finish matches nothing and changes no count.
    lease = await claim()
    assert await task_queue.complete_task(db, lease, ["k.mp4"], "preview", {})
    assert not await task_queue.fail_task(db, lease, "ENGINE_FAILED", "late")
    assert await counts(services, mine.account_id) == (4, 4)

    pending = await db.fetch_all(
        select(tasks.c.id).where(tasks.c.account_id == mine.account_id, tasks.c.status == "pending")
    )
    assert await task_queue.cancel_task(db, pending[0].id, statuses=("pending",))
    assert not await task_queue.cancel_task(db, pending[0].id, statuses=("pending",))
    async with db.write() as conn:  # a cancel asked of a task no worker holds
        await conn.execute(
            update(tasks).where(tasks.c.id == pending[1].id).values(cancel_requested=True)
        )
    assert await task_queue.cancel_abandoned_tasks(db) == [pending[1].id]
    lease = await claim()  # its worker dies: the lease runs out with no attempt left
    async with db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == lease.task_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1), attempts=3)
        )
    assert await task_queue.fail_exhausted_tasks(db, max_attempts=3) == [lease.task_id]
    assert await counts(services, mine.account_id) == (1, 1)
    # Another account's task counts on its own account only (submitted last: claims may be
    # fair between accounts, and every claim above is meant for this account's tasks).
    await submit_generation(services, theirs, ORDER)
    assert await counts(services, theirs.account_id) == (1, 1)
    assert await counts(services, mine.account_id) == (1, 1)
