"""Workers on other hosts: claiming only the engines they serve, waking on NOTIFY, plugins, and
the one-time start-up jobs that several processes may race for."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import SecretStr

from grokimagine.cli import _ensure_demo_account
from grokimagine.domain.accounts import accounts, users
from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.domain.tasks.records import NewTask, submit_task
from grokimagine.engines.registry import EngineConfigError, build_engine, check_engine
from grokimagine.engines.routing import EngineRouter, RoutingError
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.worker.loop import Worker, served_engines
from grokimagine.worker.notify import libpq_url, listen_for_tasks
from tests.helpers.api import status_of, submit
from tests.helpers.cluster import free_port
from tests.helpers.customers import BASE_URL, Customer, make_worker

PLUGIN = {"slow": "tests.scale.slow_engine:build"}


async def submit_routed(services: Services, customer: Customer, route: list[str]) -> str:
    principal = Principal(customer.account_id, customer.key_id, "free", False, True)
    new_task = NewTask(mode="normal", prompt="p", ratio="1:1", route=route)
    return (await submit_task(services.db, services.store, principal, new_task, price=40)).id


async def claim(services: Services, engines: set[str] | None) -> str | None:
    claimed = await task_queue.claim_next_task(
        services.db, "w", lease_seconds=5, max_attempts=3, engines=engines
    )
    return None if claimed is None else claimed[0].id


async def test_a_worker_claims_only_tasks_whose_route_starts_with_its_engines(
    services: Services, customer: Customer
) -> None:
    on_xai = await submit_routed(services, customer, ["xai", "preview"])
    on_gpu = await submit_routed(services, customer, ["diffusers"])
    anywhere = await submit_routed(services, customer, [])
    on_preview = await submit_routed(services, customer, ["preview"])

    assert await claim(services, {"openai-videos"}) == anywhere  # no route: any worker
    assert await claim(services, {"openai-videos"}) is None
    assert await claim(services, {"preview"}) == on_preview  # not the xai task behind it
    assert await claim(services, {"diffusers", "xai"}) == on_xai  # the oldest it serves
    assert await claim(services, {"diffusers", "xai"}) == on_gpu
    assert await claim(services, None) is None


def test_served_engines_default_to_the_routes_and_must_be_among_them(settings: Settings) -> None:
    routed = settings.replace(
        **{"routes": {"default": ["preview"], "plan:pro": ["slow"]}, "engine_plugins": PLUGIN}
    )
    router = EngineRouter(routed)
    assert served_engines([], router) == {"preview", "slow"}
    assert served_engines(["slow"], router) == {"slow"}
    with pytest.raises(RoutingError, match="xai"):
        served_engines(["slow", "xai"], router)


async def test_a_worker_for_some_engines_leaves_the_others_tasks_alone(
    settings: Settings, services: Services, customer: Customer
) -> None:
    gpu_task = await submit_routed(services, customer, ["slow"])
    preview_task = await submit_routed(services, customer, ["preview"])
    own = build_services(
        settings.replace(
            **{
                "routes": {"default": ["preview"], "mode:fun": ["slow"]},
                "engine_plugins": PLUGIN,
                "worker_engines": ["preview"],
            }
        ),
        public_url=BASE_URL,
    )
    try:
        worker = Worker(own)
        assert worker.engines == {"preview"}
        assert await worker.run_once()
        assert not await worker.run_once()  # the slow task waits for a worker that serves it
    finally:
        await own.close()
    async with services.db.read() as conn:
        from sqlalchemy import select

        from grokimagine.storage.schema import tasks

        rows = dict((await conn.execute(select(tasks.c.id, tasks.c.status))).all())
    assert rows == {preview_task: "completed", gpu_task: "pending"}


def test_the_worker_engines_setting_is_a_comma_separated_list(monkeypatch) -> None:
    monkeypatch.setenv("GROKIMAGINE_WORKER_ENGINES", " diffusers, xai ,")
    assert Settings().worker_engines == ["diffusers", "xai"]


def test_engine_plugins_load_by_import_path_and_fail_clearly() -> None:
    settings = Settings(engine_plugins={**PLUGIN, "bad": "nocolon", "gone": "no.such.module:x"})
    check_engine(settings, "slow")
    assert build_engine(settings, "slow").name == "slow"
    with pytest.raises(EngineConfigError, match="module:factory"):
        check_engine(settings, "bad")
    with pytest.raises(EngineConfigError, match=r"cannot load 'no\.such\.module:x'"):
        check_engine(settings, "gone")
    with pytest.raises(EngineConfigError, match="not callable"):
        check_engine(Settings(engine_plugins={"c": "tests.scale.slow_engine:SECONDS_ENV"}), "c")
    with pytest.raises(EngineConfigError, match="hide the built-in"):
        check_engine(Settings(engine_plugins={"preview": PLUGIN["slow"]}), "preview")


async def test_several_first_starts_at_once_make_one_demo_account(
    settings: Settings, services: Services
) -> None:
    assert await accounts.count_accounts(services.db) == 0
    demos = await asyncio.gather(*[_ensure_demo_account(settings) for _ in range(4)])
    made = [demo for demo in demos if demo is not None]
    assert len(made) == 1 and made[0].token.startswith("gi_live_")
    listed = await accounts.list_accounts(services.db)
    assert [(account.name, account.balance) for account in listed] == [
        ("demo", 4000),
        ("operators", 0),
    ]
    # Two console sign-ins: a customer of the demo account, and an operator apart from it.
    user = await users.verify_credentials(services.db, made[0].email, made[0].password)
    assert user is not None and user.account_id == listed[0].id and not user.is_admin
    operator = await users.verify_credentials(
        services.db, made[0].operator_email, made[0].operator_password
    )
    assert operator is not None and operator.account_id == listed[1].id and operator.is_admin
    assert await _ensure_demo_account(settings) is None  # and never again


@pytest.fixture
def postgres_services(services: Services) -> Services:
    if services.db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    return services


async def test_creating_and_handing_back_a_task_notifies_listeners(
    postgres_services: Services, customer: Customer
) -> None:
    services = postgres_services
    woken = asyncio.Event()
    calls = 0

    def on_task() -> None:
        nonlocal calls
        calls += 1
        woken.set()

    listener = asyncio.create_task(listen_for_tasks(libpq_url(services.db.url), on_task))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # the call after connecting
        woken.clear()
        await submit_routed(services, customer, ["preview"])
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        claimed = await task_queue.claim_next_task(
            services.db, "w", lease_seconds=5, max_attempts=3
        )
        assert claimed is not None and not woken.is_set()  # a claim announces nothing
        assert await task_queue.release_task(services.db, claimed[1])
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
    assert calls == 3


async def test_a_rolled_back_submission_notifies_nobody(
    postgres_services: Services, customer: Customer
) -> None:
    from grokimagine.domain.billing.credits import InsufficientCreditsError

    services = postgres_services
    woken = asyncio.Event()
    listener = asyncio.create_task(listen_for_tasks(libpq_url(services.db.url), woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        poor = Customer(customer.account_id, customer.token, customer.key_id)
        for _ in range(10):  # 400 credits: ten tasks
            await submit_routed(services, poor, ["preview"])
        await asyncio.sleep(0.2)
        woken.clear()
        with pytest.raises(InsufficientCreditsError):
            await submit_routed(services, poor, ["preview"])
        await asyncio.sleep(0.5)
        assert not woken.is_set()
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def test_an_idle_worker_wakes_on_a_task_made_by_another_process(
    postgres_services: Services, customer: Customer
) -> None:
    services = postgres_services
    services.settings.poll_seconds = 60  # only the notification can start it in time
    worker = make_worker(services)
    running = asyncio.create_task(worker.run())
    # "Another API process": its own services, with no in-process wake-up of this worker.
    other = build_services(services.settings, public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(other))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            await asyncio.sleep(0.3)  # the worker is now waiting
            task_id = await submit(client, customer)
            for _ in range(400):
                if (await status_of(client, customer, task_id))["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the worker did not wake up")
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
        await other.close()


async def test_the_listener_retries_while_the_database_is_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    called = []
    listener = asyncio.create_task(
        listen_for_tasks(
            f"postgresql://nobody@127.0.0.1:{free_port()}/none",
            lambda: called.append(1),
            retry_seconds=0.05,
        )
    )
    await asyncio.sleep(0.5)
    assert not listener.done()  # still trying, not crashed
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listener
    assert not called
    attempts = [r for r in caplog.records if "reconnecting" in r.getMessage()]
    assert len(attempts) >= 2


def test_relay_routes_keep_their_engine_checks(settings: Settings) -> None:
    # A worker that serves only a relay engine still needs its settings.
    with pytest.raises(RoutingError, match="xai"):
        EngineRouter(settings.replace(**{"routes": {"default": ["xai"]}}))
    router = EngineRouter(settings.replace(routes={"default": ["xai"]}, xai_api_key=SecretStr("k")))
    assert served_engines([], router) == {"xai", "preview"}  # preview: the test keys


def test_engine_names_must_fit_the_task_columns(settings: Settings) -> None:
    long_name = "x" * 41
    with pytest.raises(RoutingError, match="over 40"):
        EngineRouter(
            settings.replace(
                **{"routes": {"default": [long_name]}, "engine_plugins": {long_name: "a:b"}}
            )
        )
