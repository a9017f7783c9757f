"""Fixtures of the console tests: an in-process client per person (each its own cookie jar)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest

from grokimagine.console.app import create_app
from grokimagine.services import Services
from tests.helpers.customers import BASE_URL


@pytest.fixture
def app(services: Services):
    """The app as ``serve`` runs it, console included, without the in-process worker."""
    return create_app(services)


@pytest.fixture
async def browser_like(app) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Makes clients of the app, each with its own cookies (one per person in a test)."""
    async with AsyncExitStack() as stack:

        def new(address: str = "198.51.100.9") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
            stack.push_async_callback(client.aclose)
            return client

        yield new
