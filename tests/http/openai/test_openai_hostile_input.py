"""Any body on the OpenAI shape, JSON or form, is answered without a 5xx, in OpenAI's envelope
when refused; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grokimagine.services import Services
from tests.helpers.customers import make_customer

FIELDS = ["prompt", "model", "seconds", "size", "mode", "input_reference", "video", "variant"]
VALUES = (
    st.none()
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.text(max_size=40)
    | st.sampled_from(["1280x720", "480x480", "4", "6", "grokimagine-video", "spicy", "fun"])
    | st.dictionaries(st.sampled_from(["id", "image_url", "file_id", "x"]), st.text(max_size=30))
    | st.lists(st.text(max_size=10), max_size=3)
)
PATHS = ["/v1/videos", "/v1/videos/edits", "/v1/videos/extensions", "/v1/videos/task_x/remix"]


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(PATHS),
    body=st.binary(max_size=200)
    | st.dictionaries(st.sampled_from(FIELDS), VALUES).map(lambda v: json.dumps(v).encode()),
)
async def test_any_json_body_is_answered_without_a_5xx(
    client: httpx.AsyncClient, services: Services, path: str, body: bytes
) -> None:
    rich = await make_customer(services, credits=10**6)
    check(await client.post(path, content=body, headers=rich.headers))


@pytest.mark.both_databases
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(PATHS),
    form=st.dictionaries(
        st.sampled_from([*FIELDS, "video[id]", "input_reference[image_url]", "a[b][c]", "x[]"]),
        st.text(st.characters(blacklist_categories=["Cs"]), max_size=30),
    ),
    upload=st.none()
    | st.tuples(st.sampled_from(["input_reference", "video", "other"]), st.binary(max_size=64)),
)
async def test_any_form_body_is_answered_without_a_5xx(
    client: httpx.AsyncClient,
    services: Services,
    path: str,
    form: dict[str, str],
    upload: tuple[str, bytes] | None,
) -> None:
    rich = await make_customer(services, credits=10**6)
    files = {upload[0]: ("f.bin", upload[1], "application/octet-stream")} if upload else None
    # A form without a file still goes as multipart when forced, as the SDKs send it.
    response = await client.post(
        path, data=form, files=files or {"": ("", b"")}, headers=rich.headers
    )
    check(response)


async def test_listing_and_content_queries_are_answered_without_a_5xx(
    client: httpx.AsyncClient, services: Services
) -> None:
    rich = await make_customer(services, credits=10**6)
    for query in (
        {"limit": "-1"},
        {"limit": "1e3"},
        {"limit": "²"},
        {"order": "ASC"},
        {"after": "\x00"},
        {"after": "a" * 65},
        {"after": "task_unknown"},
    ):
        check(await client.get("/v1/videos", params=query, headers=rich.headers))
    check(await client.get("/v1/videos/%00/content", headers=rich.headers))
    check(await client.get("/v1/videos/task_x/content?variant=x", headers=rich.headers))
    check(await client.put("/v1/videos", headers=rich.headers))
