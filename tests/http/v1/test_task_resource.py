"""GET /v1/tasks/{task_id}: the status body plus queue position, URL expiry, options; error codes;
and the OpenAPI document of every Part 3 route."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from grokimagine.engines.base import EngineError, GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.relay.errors import CONTENT_REJECTED, relay_error
from grokimagine.services import Services
from grokimagine.vocabulary import TASK_ERROR_CODES
from tests.helpers.api import status_of, submit, task_of
from tests.helpers.customers import Customer, make_worker


async def test_pending_tasks_show_their_place_in_the_queue(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    ids = [await submit(client, customer) for _ in range(3)]
    assert [(await task_of(client, customer, t))["queue_position"] for t in ids] == [0, 1, 2]
    assert await make_worker(services).run_once()
    done, *waiting = [await task_of(client, customer, t) for t in ids]
    assert done["queue_position"] is None
    assert [task["queue_position"] for task in waiting] == [0, 1]


async def test_a_completed_task_tells_when_its_urls_expire(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    assert (await task_of(client, customer, task_id))["expires_at"] is None
    await make_worker(services).run_once()
    task = await task_of(client, customer, task_id)
    expires = int(parse_qs(urlparse(task["response"][0]).query)["expires"][0])
    shown = datetime.strptime(task["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(shown.timestamp() - expires) <= 1
    assert task["options"] == {
        "n": 1,
        "duration": 6,
        "resolution": "480p",
        "seed": task["options"]["seed"],
        "negative_prompt": None,
    }
    assert isinstance(task["options"]["seed"], int)
    assert task["live"] is True and task["cancel_requested"] is False
    assert task["deleted_at"] is None and task["started_at"] and task["completed_at"]
    status = await status_of(client, customer, task_id)
    # Both views sign their URLs when asked, so their expiry may sit a second apart.
    signed_anew = ("response", "expires_at")
    assert {key: task[key] for key in status if key not in signed_anew} == {
        key: value for key, value in status.items() if key not in signed_anew
    }
    shown_by_status = datetime.strptime(status["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(shown_by_status.replace(tzinfo=UTC).timestamp() - shown.timestamp()) <= 1


class RefusingEngine:
    name = "refusing"

    def __init__(self, error: EngineError) -> None:
        self.error = error

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (relay_error(CONTENT_REJECTED, "the provider refused the prompt"), "CONTENT_REJECTED"),
        (EngineError("out of memory"), "ENGINE_FAILED"),
    ],
)
async def test_content_refusals_and_engine_failures_have_distinct_documented_codes(
    client: httpx.AsyncClient,
    customer: Customer,
    services: Services,
    error: EngineError,
    code: str,
) -> None:
    task_id = await submit(client, customer)
    await make_worker(services, RefusingEngine(error)).run_once()
    task = await task_of(client, customer, task_id)
    assert task["status"] == "failed" and task["error"] == {"code": code, "message": error.message}
    assert code in TASK_ERROR_CODES


PART_3_ROUTES = {
    ("/v1/tasks", "get"): "TaskList",
    ("/v1/tasks/{task_id}", "get"): "Task",
    ("/v1/tasks/{task_id}", "delete"): "Task",
    ("/v1/tasks/{task_id}/cancel", "post"): "Task",
    ("/v1/tasks/{task_id}/deliveries", "get"): "DeliveryList",
    ("/v1/account", "get"): "Account",
    ("/v1/account/ledger", "get"): "LedgerPage",
    ("/v1/pricing", "get"): "Pricing",
}


async def test_the_docs_describe_every_part_3_route_and_field(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for (path, method), model in PART_3_ROUTES.items():
        operation = spec["paths"][path][method]
        envelope = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        data = schemas[envelope.rsplit("/", 1)[1]]["properties"]["data"]["$ref"]
        assert data.endswith(f"/{model}"), (path, method)
        assert operation["description"] and operation["summary"]
    task = schemas["Task"]["properties"]
    added = {"queue_position", "expires_at", "cancel_requested", "deleted_at", "live", "options"}
    assert added <= set(task)
    assert all(task[name].get("description") or name == "options" for name in added - {"live"})
    assert "CONTENT_REJECTED" in schemas["TaskError"]["properties"]["code"]["description"]
    generate = spec["paths"]["/v1/generate"]["post"]
    assert {p["name"] for p in generate["parameters"]} == {"Idempotency-Key", "Prefer"}
    assert "409" in generate["responses"]
    assert set(schemas["DeliveryData"]["properties"]) >= {"attempt_log", "next_attempt_at"}
    assert "webhook_secret" in schemas["Account"]["properties"]
    hook = spec["webhooks"]["task-finished"]["post"]
    assert {p["name"] for p in hook["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    payload = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert payload.endswith("/WebhookPayload")
