"""Every documented operation of the OpenAI shape answers as the OpenAPI document says: each
status it answers is documented, with the schema its body matches (OpenAI's error envelope for
errors, the Video, list, deletion and model objects for successes)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import pytest

from grokimagine.services import Services
from tests.helpers.customers import Customer, make_worker

SURFACE = ("/v1/videos", "/v1/models")


class Checker:
    """Checks responses against the served document; records which operations were seen."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        method = request.method.lower()
        for template, operations in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, request.url.path) and method in operations:
                break
        else:
            raise AssertionError(f"{request.method} {request.url.path} is not documented")
        documented = operations[method]["responses"]
        status = str(response.status_code)
        assert status in documented, f"{method} {template}: {status} {response.text}"
        content = documented[status].get("content", {})
        kind = response.headers["content-type"].split(";")[0]
        assert kind in content, f"{method} {template} {status}: {kind} is not documented"
        if kind == "application/json":
            schema = {**content[kind]["schema"], "components": self.document["components"]}
            jsonschema.validate(response.json(), schema)
        self.seen.add((request.method, template))
        return response


@pytest.mark.both_databases
async def test_every_openai_operation_answers_as_documented(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    document = (await client.get("/openapi.json")).json()
    check = Checker(document)
    auth = customer.headers

    check(await client.get("/v1/models", headers=auth))
    check(await client.get("/v1/models"))
    check(await client.get("/v1/models/grokimagine-video", headers=auth))
    check(await client.get("/v1/models/sora-2", headers=auth))
    made = check(await client.post("/v1/videos", json={"prompt": "a kite"}, headers=auth))
    video_id = made.json()["id"]
    check(await client.post("/v1/videos", json={"prompt": "x", "size": "1x1"}, headers=auth))
    check(await client.post("/v1/videos", data={"prompt": "form", "seconds": "2"}, headers=auth))
    check(await client.get(f"/v1/videos/{video_id}/content", headers=auth))  # 404: queued
    assert await make_worker(services).run_once()
    check(await client.get(f"/v1/videos/{video_id}", headers=auth))
    check(await client.get("/v1/videos/task_unknown", headers=auth))
    check(await client.get("/v1/videos", params={"limit": 1}, headers=auth))
    check(await client.get("/v1/videos", params={"limit": 0}, headers=auth))
    video = check(await client.get(f"/v1/videos/{video_id}/content", headers=auth))
    assert video.content[4:8] == b"ftyp"  # an MP4
    thumbnail = {"variant": "thumbnail"}
    check(await client.get(f"/v1/videos/{video_id}/content", params=thumbnail, headers=auth))

    source = {"id": video_id}
    check(await client.post(f"/v1/videos/{video_id}/remix", json={"prompt": "r"}, headers=auth))
    check(await client.post("/v1/videos/task_unknown/remix", json={"prompt": "r"}, headers=auth))
    edit = {"prompt": "snow", "video": source}
    check(await client.post("/v1/videos/edits", json=edit, headers=auth))
    check(await client.post("/v1/videos/edits", json={"prompt": "no video"}, headers=auth))
    extend = {"prompt": "on", "video": source, "seconds": "2"}
    check(await client.post("/v1/videos/extensions", json=extend, headers=auth))
    check(await client.post("/v1/videos/extensions", data={"prompt": "x"}, headers=auth))
    check(await client.delete(f"/v1/videos/{video_id}", headers=auth))
    check(await client.delete(f"/v1/videos/{video_id}", headers=auth))  # 404: gone

    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if path.startswith(SURFACE)
    }
    assert documented == check.seen
