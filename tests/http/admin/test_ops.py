"""Operating the API: health and readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from grokimagine.domain.operator import fleet
from grokimagine.http.app import create_app
from grokimagine.ops.logs import configure_logging
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import submit
from tests.helpers.cluster import free_port
from tests.helpers.customers import REDIS_URL, Customer, make_worker


def metric(text: str, sample: str, **labels: str) -> float:
    """Sum of the samples named ``sample`` whose labels include ``labels``."""
    return sum(
        value.value
        for family in text_string_to_metric_families(text)
        for value in family.samples
        if value.name == sample and labels.items() <= value.labels.items()
    )


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_redis(settings: Settings) -> None:
    services = build_services(settings.replace(**{"redis_url": REDIS_URL}))
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/readyz")
    await services.close()
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_is_503_while_redis_is_unreachable(settings: Settings) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    services = build_services(settings.replace(**{"redis_url": dead}))
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/readyz")
        alive = await http.get("/healthz")
    await services.close()
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["checks"]["database"] == "ok"
    assert answer.json()["checks"]["redis"] in ("unreachable", "failing", "timeout")
    assert alive.status_code == 200  # the process itself is fine


async def test_readyz_is_503_while_the_database_is_unreachable(tmp_path) -> None:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://nobody@127.0.0.1:{port}/none",
        readiness_timeout=5,
    )
    services = build_services(settings)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/readyz")
    await services.close()
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"database": "unreachable", "redis": "not configured"}


async def test_metrics_count_requests_credits_tasks_and_workers(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    before = (await client.get("/metrics")).text
    first = await submit(client, customer)
    await submit(client, customer)
    await client.get("/v1/status?task_id=task_missing", headers=customer.headers)
    await client.get("/v1/status?task_id=x", headers={"Authorization": "Bearer gi_live_wrong"})
    pending = (await client.get("/metrics")).text
    assert metric(pending, "grokimagine_tasks_pending", engine="preview") == 2
    assert metric(pending, "grokimagine_tasks_processing") == 0

    def grew(text: str, sample: str, **labels: str) -> float:
        return metric(text, sample, **labels) - metric(before, sample, **labels)

    assert grew(pending, "grokimagine_http_requests_total", route="/v1/generate", status="200") == 2
    assert grew(pending, "grokimagine_http_requests_total", route="/v1/status", status="404") == 1
    assert grew(pending, "grokimagine_http_requests_total", route="/v1/status", status="401") == 1
    assert (
        grew(pending, "grokimagine_http_request_duration_seconds_count", route="/v1/generate") == 2
    )
    assert grew(pending, "grokimagine_credits_total", kind="reserved") == 80

    worker = make_worker(services)
    await fleet.register_worker(services.db, worker.worker_id, worker.engines)
    assert await worker.run_once()
    await worker._check_in(force=True)
    after = (await client.get("/metrics")).text
    assert metric(after, "grokimagine_tasks_pending", engine="preview") == 1
    assert grew(after, "grokimagine_task_duration_seconds_count", outcome="completed") == 1
    assert grew(after, "grokimagine_task_pickup_seconds_count") == 1
    assert grew(after, "grokimagine_worker_heartbeats_total") >= 1
    assert metric(after, "grokimagine_worker_last_seen_timestamp_seconds", worker=worker.worker_id)
    assert first  # the first task is the one the worker ran (oldest first)


async def test_refunds_are_counted(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    from grokimagine.domain.tasks import queue as task_queue

    before = metric(
        (await client.get("/metrics")).text, "grokimagine_credits_total", kind="refunded"
    )
    await submit(client, customer)
    claimed = await task_queue.claim_next_task(services.db, "w", lease_seconds=5, max_attempts=3)
    assert claimed is not None
    assert await task_queue.fail_task(services.db, claimed[1], "ENGINE_FAILED", "boom")
    assert not await task_queue.fail_task(services.db, claimed[1], "ENGINE_FAILED", "again")
    after = metric(
        (await client.get("/metrics")).text, "grokimagine_credits_total", kind="refunded"
    )
    assert after - before == 40


async def test_a_request_id_is_echoed_or_made(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "req-42.a:b"})
    assert echoed.headers["x-request-id"] == "req-42.a:b"
    made = await client.get("/v1/status?task_id=x", headers=customer.headers)
    assert len(made.headers["x-request-id"]) == 32
    again = await client.get("/v1/status?task_id=x", headers=customer.headers)
    assert again.headers["x-request-id"] != made.headers["x-request-id"]
    refused = await client.get("/v1/status?task_id=x")  # the gate's 401 carries one too
    assert refused.status_code == 401 and refused.headers["x-request-id"]
    for hostile in ("a b", "x" * 129, "\xe9vil".encode("latin-1"), "<script>"):
        answer = await client.get("/healthz", headers={"X-Request-ID": hostile})
        assert answer.headers["x-request-id"] not in (hostile, "a b", "<script>")
        assert len(answer.headers["x-request-id"]) == 32


def test_json_logs_are_one_object_per_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("grokimagine.test").info(
            "hello %s", "world", extra={"request_id": "r1", "status": 200}
        )
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    line = json.loads(stream.getvalue())
    assert line["message"] == "hello world" and line["level"] == "INFO"
    assert line["logger"] == "grokimagine.test"
    assert line["request_id"] == "r1" and line["status"] == 200 and line["time"]


async def test_request_logs_carry_the_request_and_never_a_token(
    settings: Settings, services: Services, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    services.settings = settings.replace(**{"request_log": "all"})
    transport = httpx.ASGITransport(app=create_app(services))
    client = httpx.AsyncClient(transport=transport, base_url="http://t")
    task_id = await submit(client, customer)
    await client.get(f"/v1/status?task_id={task_id}", headers=customer.headers)
    await client.get("/v1/status?task_id=x", headers={"Authorization": "Bearer gi_live_guess"})
    await client.post(
        "/v1/generate", content=b"{not json", headers={**customer.headers, "X-Request-ID": "r-9"}
    )
    requests = [r for r in caplog.records if r.name == "grokimagine.request"]
    assert [(r.method, r.path, r.status) for r in requests] == [
        ("POST", "/v1/generate", 200),
        ("GET", "/v1/status", 200),
        ("GET", "/v1/status", 401),
        ("POST", "/v1/generate", 400),
    ]
    assert requests[-1].request_id == "r-9"
    assert all(r.duration_ms >= 0 for r in requests)
    everything = "\n".join(
        f"{record.getMessage()} {json.dumps(record.__dict__, default=str)}"
        for record in caplog.records
    )
    assert customer.token not in everything
    assert "gi_live_guess" not in everything
    # The query string is not logged (the test's own httpx client logs whole URLs).
    assert not [r for r in requests if task_id in json.dumps(r.__dict__, default=str)]
    await client.aclose()


async def test_by_default_successful_polls_are_counted_not_logged(
    client: httpx.AsyncClient, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    labels = {"route": "/v1/status", "method": "GET", "status": "200"}
    polls_before = REGISTRY.get_sample_value("grokimagine_http_requests_total", labels) or 0
    task_id = await submit(client, customer)
    await client.get(f"/v1/status?task_id={task_id}", headers=customer.headers)
    await client.get("/v1/status?task_id=task_unknown", headers=customer.headers)
    requests = [r for r in caplog.records if r.name == "grokimagine.request"]
    assert [(r.method, r.path, r.status) for r in requests] == [
        ("POST", "/v1/generate", 200),
        ("GET", "/v1/status", 404),
    ]
    assert REGISTRY.get_sample_value("grokimagine_http_requests_total", labels) == polls_before + 1


async def test_request_logs_can_be_switched_off(
    settings: Settings, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    services.settings = settings.replace(**{"request_log": "off"})
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/healthz")).status_code == 200
    assert not [r for r in caplog.records if r.name == "grokimagine.request"]
