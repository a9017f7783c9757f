"""Real responses of every documented operation match the schema documented for their status.

The document must tell the truth: no 422 (the server answers 400), the Bearer scheme declared,
and minimum lengths on ids and cursors that the server enforces.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import pytest

from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.purchases.redemption_codes import mint_codes
from grokimagine.services import Services
from tests.helpers.customers import Customer, make_customer, make_worker


class Conformance:
    """Checks responses against the served document and records which operations were seen."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def operation_of(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template, operations in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path) and method.lower() in operations:
                return template, operations[method.lower()]
        raise AssertionError(f"{method} {path} is not documented")

    def check(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        template, operation = self.operation_of(request.method, request.url.path)
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{request.method} {template} answered {status}, documented are"
            f" {sorted(operation['responses'])}: {response.text}"
        )
        content = operation["responses"][status].get("content", {})
        assert "application/json" in content, f"{status} of {template} has no JSON schema"
        assert response.headers["content-type"].startswith("application/json")
        schema = {
            **content["application/json"]["schema"],
            "components": self.document["components"],
        }
        jsonschema.validate(response.json(), schema)
        self.seen.add((request.method, template))
        return response


@pytest.fixture
async def conformance(client: httpx.AsyncClient) -> Conformance:
    return Conformance((await client.get("/openapi.json")).json())


def test_the_document_declares_bearer_auth_and_no_422(app: Any) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: gi_live_... (charged) or gi_test_... (never charged).",
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], f"{method} {path}"
            if path.startswith("/v1/"):
                assert operation["security"] == [{"bearerAuth": []}], f"{method} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("task_id", "cursor"):
                    schema = parameter["schema"]
                    text = schema.get("anyOf", [schema])[0]
                    assert text["minLength"] == 1 and text["maxLength"] >= 64, parameter


@pytest.mark.both_databases
async def test_every_operation_answers_as_documented(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    conformance: Conformance,
) -> None:
    check = conformance.check
    auth = customer.headers
    kite = {"prompt": "a kite over a beach"}

    first = check(await client.post("/v1/generate", json=kite, headers=auth)).json()
    task_id = first["data"]["task_id"]
    check(await client.post("/v1/generate", json={}, headers=auth))
    check(await client.post("/v1/generate", json=kite))
    check(await client.post("/v1/generate", json={**kite, "mode": "spicy"}, headers=auth))
    keyed = {**auth, "Idempotency-Key": "conformance-1"}
    check(await client.post("/v1/generate", json=kite, headers=keyed))
    check(await client.post("/v1/generate", json={"prompt": "other"}, headers=keyed))
    broke = await make_customer(services, credits=0)
    check(await client.post("/v1/generate", json=kite, headers=broke.headers))
    huge = {**auth, "Content-Length": str(services.settings.limits.max_body_bytes + 1)}
    check(await client.post("/v1/generate", content=b"{}", headers=huge))

    check(await client.get("/v1/status", params={"task_id": task_id}, headers=auth))
    check(await client.get("/v1/status", params={"task_id": "task_unknown"}, headers=auth))
    check(await client.get("/v1/status", params={"task_id": ""}, headers=auth))
    check(await client.get(f"/v1/tasks/{task_id}", headers=auth))
    check(await client.get("/v1/tasks/task_unknown", headers=auth))
    check(await client.get("/v1/tasks", params={"limit": 1}, headers=auth))
    check(await client.get("/v1/tasks", params={"cursor": "!"}, headers=auth))

    assert await make_worker(services).run_once()
    completed = check(await client.get("/v1/status", params={"task_id": task_id}, headers=auth))
    assert completed.json()["data"]["status"] == "completed"
    check(await client.get(f"/v1/tasks/{task_id}", headers=auth))
    check(await client.post(f"/v1/tasks/{task_id}/cancel", headers=auth))  # 409: finished
    check(await client.get(f"/v1/tasks/{task_id}/deliveries", headers=auth))
    check(await client.get("/v1/tasks/task_unknown/deliveries", headers=auth))
    check(await client.get("/v1/tasks/task_unknown/events", headers=auth))

    more = {"prompt": "then the wind drops", "task_id": task_id}
    extended = check(await client.post("/v1/extend", json={**more, "duration": 2}, headers=auth))
    assert extended.status_code == 200
    check(await client.post("/v1/extend", json={**more, "task_id": "task_unknown"}, headers=auth))
    assert check(await client.post("/v1/edit", json=more, headers=auth)).status_code == 200
    check(await client.post("/v1/edit", json={"prompt": "no source"}, headers=auth))

    second = (await client.post("/v1/generate", json=kite, headers=auth)).json()["data"]["task_id"]
    check(await client.post(f"/v1/tasks/{second}/cancel", headers=auth))
    check(await client.post("/v1/tasks/task_unknown/cancel", headers=auth))
    check(await client.delete(f"/v1/tasks/{task_id}", headers=auth))
    check(await client.delete("/v1/tasks/task_unknown", headers=auth))

    check(await client.get("/v1/account", headers=auth))
    check(await client.get("/v1/account/ledger", params={"limit": 1}, headers=auth))
    check(await client.get("/v1/account/ledger", params={"limit": 0}, headers=auth))
    check(await client.get("/v1/pricing", headers=auth))
    check(await client.post("/v1/quote", json=kite, headers=auth))
    check(await client.post("/v1/quote", json={"prompt": ""}, headers=auth))
    code = (await mint_codes(services.db, CLI, count=1, credits=10)).codes[0]
    check(await client.post("/v1/account/redeem", json={"code": code}, headers=auth))
    check(await client.post("/v1/account/redeem", json={"code": code}, headers=auth))
    redeemed = check(await client.get("/v1/account/ledger", params={"limit": 1}, headers=auth))
    assert redeemed.json()["data"]["entries"][0]["reason"] == "redeem"

    for _ in range(services.settings.limits.auth_failure_limit + 1):
        limited = await client.get("/v1/account", headers={"Authorization": "Bearer gi_live_x"})
    check(limited)
    assert limited.status_code == 429

    # The customer API (the admin API under /admin has tests of its own, and so has the OpenAI
    # shape: tests/http/openai/test_openai_conformance.py).
    documented = {
        (method.upper(), path)
        for path, operations in conformance.document["paths"].items()
        for method in operations
        if path.startswith("/v1/") and not path.startswith(("/v1/videos", "/v1/models"))
    }
    assert documented == conformance.seen
