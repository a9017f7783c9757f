"""The OpenAPI document shows the real request and response schemas."""

from __future__ import annotations

import httpx


async def test_the_docs_describe_generate_and_status(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await client.get("/openapi.json")).json()
    generate = spec["paths"]["/v1/generate"]["post"]
    ref = generate["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == {
        *("mode", "prompt", "images", "ratio"),  # the reference page's
        *("n", "duration", "resolution", "seed", "negative_prompt", "callback_url"),  # Part 3
    }
    assert body["required"] == ["prompt"]
    assert body["examples"][0]["prompt"] == "a beautiful landscape with mountains"
    assert {"200", "400", "401", "402", "403", "413", "429"} <= set(generate["responses"])
    status = spec["paths"]["/v1/status"]["get"]
    assert status["parameters"][0]["name"] == "task_id"
    schemas = spec["components"]["schemas"]
    assert {"consumed_credits", "created_at", "status", "task_id", "request", "response"} <= set(
        schemas["Status"]["properties"]
    )
    assert schemas["Error"]["required"] == ["code", "message", "error"]
