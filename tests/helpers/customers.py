"""Customers (an account and its key) and workers over a test database."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from grokimagine.domain.accounts import accounts
from grokimagine.engines.base import Engine
from grokimagine.engines.routing import EngineRouter
from grokimagine.services import Services
from grokimagine.worker.loop import Worker


@dataclass
class Customer:
    """An account with a key, as a test sees it."""

    account_id: str
    token: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_customer(
    services: Services, *, plan: str = "free", credits: int = 400, allow_spicy: bool = False
) -> Customer:
    """Create an account with one live key."""
    account = await accounts.create_account(
        services.db, plan=plan, credits_granted=credits, allow_spicy=allow_spicy
    )
    new_key = await accounts.create_key(services.db, account.id)
    return Customer(account.id, new_key.token, new_key.key.id)


def make_worker(services: Services, engine: Engine | None = None) -> Worker:
    """A worker over ``services``: its routes, or every route served by ``engine``."""
    router = None
    if engine is not None:
        router = EngineRouter(
            services.settings, factory=lambda _settings, _name: engine, check=lambda *_: None
        )
    return Worker(services, router, worker_id=f"test-{secrets.token_hex(3)}")


BASE_URL = "http://testserver"


REDIS_URL = os.environ.get("GROKIMAGINE_TEST_REDIS", "redis://127.0.0.1:6379/0")
