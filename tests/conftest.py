"""Shared fixtures: a fresh service on SQLite or on the real PostgreSQL, and an HTTP client.

PostgreSQL tests get a database of their own per test session (other sessions on this machine
use the server too), migrated once and emptied between tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete

from grokimagine.domain.accounts import users
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database
from grokimagine.storage.schema import metadata
from tests.helpers.customers import BASE_URL, Customer, make_customer
from tests.helpers.databases import POSTGRES_ADMIN_URL, copy_sqlite

# Real local HTTP(S) servers and the connection log used by the image and guard tests.
pytest_plugins = [
    "tests.helpers.servers",
    "tests.helpers.webhook_receiver",
    "tests.helpers.leaks",  # no process or port outlives its test or the suite
]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test session's own on the real PostgreSQL server, migrated."""
    name = f"gi_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade_database(url)
    yield url
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per session: each test gets a copy (a second of
    migrations saved per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    upgrade_database(f"sqlite:///{path}")
    return path


# The surfaces above the domain: their tests check pages, shapes and refusals, and run on SQLite.
# The domain, storage, worker, the /v1 and /admin/v1 routes and scale-out run on both databases.
# A surface test marked both_databases runs on PostgreSQL too: the marked ones reach every line of
# domain/ and storage/ that the surfaces' PostgreSQL runs reached and no other PostgreSQL test
# does (scripts/surface_coverage.py measures it, with coverage per test).
SURFACES = (
    "tests/console/",
    "tests/http/openai/",
    "tests/http/openapi/",
    "tests/http/test_hostile_input.py",
    "tests/http/test_ratelimit.py",
)


# The longest tests (tens of seconds each: fresh venvs, browsers, clusters, whole clients) go
# first. The workers of scripts/test.sh take tests in collection order, and one of these taken
# last ran alone at the end while the other workers sat idle.
LONGEST_FIRST = (
    "tests/install/",
    "tests/browser/",
    "tests/scale/",
    "tests/bench/",
    "tests/http/openai/test_aiperf.py",
    "tests/http/openai/test_openai_docs.py",
    "tests/http/openai/test_openai_node.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect a surface's PostgreSQL runs, except its tests marked ``both_databases`` (or all
    of them with GROKIMAGINE_TEST_EVERY_DATABASE=1, as scripts/surface_coverage.py runs); then
    put the longest tests first."""
    root = Path(str(config.rootpath))

    def where(item: pytest.Item) -> str:
        path = Path(str(item.path))
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    if os.environ.get("GROKIMAGINE_TEST_EVERY_DATABASE") != "1":
        kept, dropped = [], []
        for item in items:
            callspec = getattr(item, "callspec", None)
            on_postgres = (
                callspec is not None and callspec.params.get("database_url") == "postgresql"
            )
            surface = where(item).startswith(SURFACES)
            if on_postgres and surface and item.get_closest_marker("both_databases") is None:
                dropped.append(item)
            else:
                kept.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    items.sort(key=lambda item: not where(item).startswith(LONGEST_FIRST))  # stable: in order


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses the database runs on SQLite and on PostgreSQL (a surface's test on
    PostgreSQL only where marked ``both_databases``: SURFACES above)."""
    if request.param == "sqlite":
        copy_sqlite(request.getfixturevalue("migrated_sqlite"), tmp_path / "test.db")
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own data folder, no token cache, fast worker timings."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        auth_cache_seconds=0,
        lease_seconds=5,
        poll_seconds=0.05,
        redis_prefix=f"gi-test-{secrets.token_hex(4)}",
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The service's shared objects, over an empty database."""
    built = build_services(settings, public_url=BASE_URL)
    async with built.db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))
    yield built
    await built.close()


@pytest.fixture
def app(services: Services):
    """The API, without the in-process worker: tests run the worker step by step."""
    return create_app(services)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def customer(services: Services) -> Customer:
    """A free-plan account with 400 credits (ten videos)."""
    return await make_customer(services)


@pytest.fixture(scope="session", autouse=True)
def service_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``serve`` records its service for the operator commands (ops/service_record.py): in the
    tests, in a file of their own, never the user's."""
    path = tmp_path_factory.mktemp("state") / "service.json"
    previous = os.environ.get("GROKIMAGINE_SERVICE_RECORD")
    os.environ["GROKIMAGINE_SERVICE_RECORD"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("GROKIMAGINE_SERVICE_RECORD", None)
    else:
        os.environ["GROKIMAGINE_SERVICE_RECORD"] = previous


@pytest.fixture(autouse=True)
def hub_offline_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The diffusers engine sets ``HF_HUB_OFFLINE`` in its process; a test that builds one
    leaves the switch as it found it, so no later test's subprocess inherits it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[PasswordHasher]:
    """argon2id at its smallest cost for the tests in this process: the real cost (tens of
    milliseconds and 64 MiB, on purpose) was half of every console test's time. Yields the
    service's own hasher, whose parameters a test checks."""
    own = users._hasher
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        users._dummy_hash.cache_clear()
        yield own
    users._dummy_hash.cache_clear()
