"""Every failure speaks the error format, carries the rate-limit headers and leaks nothing."""

from __future__ import annotations

import logging

import httpx
import pytest

from grokimagine.domain.tasks import records as task_domain
from tests.helpers.customers import Customer

RATE_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


async def test_an_unknown_route_is_a_json_404(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.get("/v1/no-such-route", headers=customer.headers)
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "message": "Not found: no such route",
        "error": "NOT_FOUND",
    }
    assert set(response.headers) >= RATE_HEADERS
    outside = await client.get("/nothing-here")
    assert outside.status_code == 404 and outside.json()["error"] == "NOT_FOUND"


async def test_a_wrong_method_is_a_json_405(client: httpx.AsyncClient, customer: Customer) -> None:
    for method, path in (("GET", "/v1/generate"), ("POST", "/v1/status"), ("DELETE", "/v1/status")):
        response = await client.request(method, path, headers=customer.headers)
        assert response.status_code == 405, (method, path)
        assert response.json() == {
            "code": 405,
            "message": "Method not allowed on this route",
            "error": "METHOD_NOT_ALLOWED",
        }
        assert set(response.headers) >= RATE_HEADERS


async def test_a_400_carries_the_rate_limit_headers(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.post("/v1/generate", json={}, headers=customer.headers)
    assert response.status_code == 400
    assert set(response.headers) >= RATE_HEADERS


async def test_an_unexpected_failure_is_a_500_without_internals(
    client: httpx.AsyncClient, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret/path.py line 12")

    monkeypatch.setattr("grokimagine.http.v1.generate.find_task", broken)
    response = await client.get(
        "/v1/status", params={"task_id": "task_x"}, headers=customer.headers
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 500,
        "message": "Internal error: the request could not be completed",
        "error": "INTERNAL_ERROR",
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert set(response.headers) >= RATE_HEADERS
    assert task_domain.find_task is not broken  # only the route's reference was replaced


async def test_tokens_never_reach_the_logs(
    client: httpx.AsyncClient,
    customer: Customer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await client.post("/v1/generate", json={"prompt": "p"}, headers=customer.headers)
    task_id = created.json()["data"]["task_id"]
    await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    wrong = customer.token[:-4] + "AAAA"
    await client.get(
        "/v1/status", params={"task_id": task_id}, headers={"Authorization": f"Bearer {wrong}"}
    )

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("grokimagine.http.v1.generate.find_task", broken)
    await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    logged = "\n".join(
        record.getMessage() + str(record.exc_info or "") for record in caplog.records
    )
    assert "boom" in logged  # the failure was logged, and the logs were captured
    assert customer.token not in logged and wrong not in logged
    assert customer.token[8:20] not in logged


async def test_a_405_lists_every_method_of_the_path(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    # /v1/tasks/{id} has a GET route and a DELETE route: Allow names both.
    response = await client.put("/v1/tasks/task_x", headers=customer.headers)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "DELETE"}
    response = await client.get("/v1/generate", headers=customer.headers)
    assert response.headers["allow"] == "POST"
