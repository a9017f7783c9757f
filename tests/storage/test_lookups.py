"""Key lookups give exactly what SQLAlchemy gives, on SQLite's fast path and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.api import submit
from tests.helpers.customers import Customer, make_worker

BY_ID_AND_STATUS = select(tasks).where(
    tasks.c.id == bindparam("task_id"), tasks.c.status == "completed"
)


async def test_a_lookup_returns_the_same_values_as_sqlalchemy(
    client, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer, {"prompt": "p", "ratio": "2:3"})
    assert await services.db.lookup(BY_ID_AND_STATUS, {"task_id": task_id}) is None  # pending
    await make_worker(services).run_once()
    looked_up = await services.db.lookup(BY_ID_AND_STATUS, {"task_id": task_id})
    row = await services.db.fetch_one(BY_ID_AND_STATUS, {"task_id": task_id})
    assert looked_up is not None and row is not None
    assert dict(looked_up) == dict(row._mapping)
    assert looked_up["request"] == {"mode": "normal", "prompt": "p", "ratio": "2:3"}  # JSON
    assert looked_up["live"] is True  # Boolean
    assert looked_up["created_at"].tzinfo == UTC  # UTCDateTime, aware
    assert isinstance(looked_up["completed_at"], datetime)


async def test_parameters_that_need_conversion_are_refused(services: Services) -> None:
    if not services.db.is_sqlite:
        pytest.skip("the fast path is SQLite's")
    since = select(tasks).where(
        tasks.c.created_at > bindparam("since", type_=tasks.c.created_at.type)
    )
    with pytest.raises(ValueError, match="since"):
        await services.db.lookup(since, {"since": datetime.now(UTC)})
