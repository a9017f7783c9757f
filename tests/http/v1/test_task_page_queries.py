"""GET /v1/tasks reads a page in a fixed number of SQL statements, whatever its size."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import event

from grokimagine.domain.accounts.accounts import authenticate
from grokimagine.domain.operator import business_settings
from grokimagine.domain.submission.generate import GenerationOrder, submit_generation
from grokimagine.domain.tasks.control import cancel
from grokimagine.domain.tasks.queue_positions import queue_positions_of
from grokimagine.services import Services
from tests.helpers.customers import make_customer


def count_selects(services: Services) -> Callable[[], int]:
    """Start counting the SELECT statements the database runs; returns the counter's reader.

    On SQLite the driver's trace callback sees every statement, the raw-driver lookups too;
    on PostgreSQL every statement goes through the engine.
    """
    statements: list[str] = []
    db = services.db
    if db.is_sqlite:
        engine = db._sqlite
        assert engine is not None

        def trace(dbapi_connection, _record) -> None:
            dbapi_connection.set_trace_callback(statements.append)

        event.listen(engine, "connect", trace)
    else:
        engine = db.postgres_engine.sync_engine

        def before(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
    return lambda: sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


@pytest.mark.parametrize("deep_queue", [False, True])
async def test_a_page_of_50_tasks_costs_the_statements_of_a_page_of_1(
    client: httpx.AsyncClient, services: Services, deep_queue: bool
) -> None:
    tasks = 150 if deep_queue else 55  # deep: positions come from the ranking of the queue
    customer = await make_customer(services, credits=40 * tasks)
    principal = await authenticate(services.db, customer.token)
    assert principal is not None
    order = GenerationOrder(prompt="a red fox in snow")
    ids = [(await submit_generation(services, principal, order)).task_id for _ in range(tasks)]
    for task_id in ids[-8:-2]:  # refunded tasks have two ledger rows
        await cancel(services.db, customer.account_id, task_id)
    # The business settings in hand first: a first start stores them beside the requests.
    await business_settings.refresh_business_settings(services, force=True)
    await services.db.dispose()  # new connections, each traced (SQLite)
    selects = count_selects(services)

    async def page_statements(limit: int) -> int:
        before = selects()
        response = await client.get("/v1/tasks", params={"limit": limit}, headers=customer.headers)
        assert response.status_code == 200, response.text
        page = response.json()["data"]["tasks"]
        assert len(page) == limit
        pending = [task for task in page if task["status"] == "pending"]
        assert all(task["money"]["charged"] == 40 for task in page)
        assert sorted(task["queue_position"] for task in pending)[-1] == tasks - 7
        return selects() - before

    # One ranking of the queue for the test: a new read of it (once a second) is not the page's.
    queue_positions_of(services.db).max_age = math.inf
    await page_statements(1)  # the first read of the ranking
    one = await page_statements(1)
    fifty = await page_statements(50)
    assert one == fifty
    # The key, the page, the positions and the ledger rows.
    assert one <= 4
