"""Fixtures of the multi-process tests: an empty, migrated PostgreSQL database of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from grokimagine.storage.db import Database
from grokimagine.storage.migrate import upgrade_database
from tests.helpers.cluster import drop_database, new_database


@pytest.fixture
def scale_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated, dropped after the test."""
    url = new_database()
    try:
        upgrade_database(url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def scale_db(scale_database_url: str) -> AsyncIterator[Database]:
    """A handle on that database for the test's own reads and writes."""
    db = Database(scale_database_url)
    yield db
    await db.dispose()
