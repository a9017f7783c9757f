"""Queue positions deep in a queue: exact while nothing moved, and how far a ranking that is
at most ``max_age`` old can be off once tasks ahead left the queue."""

from __future__ import annotations

import math

import httpx
import pytest

from grokimagine.domain.accounts.accounts import authenticate
from grokimagine.domain.submission.generate import GenerationOrder, submit_generation
from grokimagine.domain.tasks.control import cancel
from grokimagine.domain.tasks.queue_positions import STRIDE, queue_positions_of
from grokimagine.domain.tasks.records import find_task
from grokimagine.services import Services
from grokimagine.settings import Settings
from tests.helpers.customers import make_customer

BODY = {"prompt": "a lighthouse at dusk", "ratio": "1:1"}
QUEUED = 2 * STRIDE + 12  # two ranked tasks, and tasks past the last one


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The conftest's settings, with a plan limit this many polls stay under."""
    settings.limits.plan_limits = {"free": 1_000_000}
    return settings


async def test_positions_deep_in_the_queue_are_exact_and_move_when_the_ranking_is_read_again(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services, credits=40 * QUEUED)
    principal = await authenticate(services.db, customer.token)
    assert principal is not None
    # Through the domain: the plan's requests per minute would refuse this many over HTTP.
    order = GenerationOrder(prompt=BODY["prompt"])
    ids = [(await submit_generation(services, principal, order)).task_id for _ in range(QUEUED)]
    positions = queue_positions_of(services.db)
    positions.max_age = math.inf  # one ranking for the whole test unless told otherwise
    positions._ranking.read_at = -math.inf

    async def status_positions() -> list[int]:
        found = []
        for task_id in ids[10:]:
            response = await client.get(
                "/v1/status", params={"task_id": task_id}, headers=customer.headers
            )
            found.append(response.json()["data"]["queue_position"])
        return found

    assert await status_positions() == list(range(10, QUEUED))
    assert positions.refreshes == 1
    ranking = await positions.ranking()
    assert ranking.ahead == [STRIDE - 1, 2 * STRIDE - 1]

    # The ten oldest leave the queue, after the ranking was read.
    for task_id in ids[:10]:
        await cancel(services.db, customer.account_id, task_id)
    stale = await status_positions()
    # A task past a ranked one counts from the newest ranked task older than itself, whose rank
    # still holds the ten; the tasks before the first ranked one are counted live, exactly.
    first_ranked = STRIDE - 1
    expected = list(range(0, first_ranked - 9)) + list(range(first_ranked + 1, QUEUED))
    assert stale == expected
    # A page of the list counts the same way (one query for all of its tasks).
    records = [await find_task(services.db, t, account_id=customer.account_id) for t in ids[10:]]
    assert list((await positions.positions(records)).values()) == expected

    positions.max_age = positions.spacing = 0  # the next read takes a new ranking: exact again
    assert await status_positions() == list(range(QUEUED - 10))
    assert list((await positions.positions(records)).values()) == list(range(QUEUED - 10))


async def test_a_task_not_pending_has_no_position_and_an_empty_queue_needs_no_ranking(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    response = await client.post("/v1/generate", json=BODY, headers=customer.headers)
    task_id = response.json()["data"]["task_id"]
    status = await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    assert status.json()["data"]["queue_position"] == 0
    await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers)
    record = await find_task(services.db, task_id, account_id=customer.account_id)
    positions = queue_positions_of(services.db)
    assert await positions.position(record) is None
    assert await positions.positions([record]) == {task_id: None}
    assert (await positions.ranking()).ids == []
