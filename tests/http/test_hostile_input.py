"""The reproductions of issue 10: input that used to reach code that raised, now refused in our
error format, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import base64
import json

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grokimagine.services import Services
from tests.helpers.api import submit
from tests.helpers.customers import Customer, make_customer

VIDEO_KEY = "videos/task_Aaaaaaaaaaaaaaaaaaaaaaaa/0.mp4"
VIDEO_BYTES = bytes(range(256)) * 4  # 1024 bytes stand in for an MP4


def cursor_of(*parts: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == status and body["error"] == error and body["message"]


@pytest.fixture
def stored_video(services: Services) -> str:
    """A signed path to a stored video, written straight into the store."""
    path = services.store.path_of(VIDEO_KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(VIDEO_BYTES)
    return f"/files/{VIDEO_KEY}?{services.store.signer.sign_query(VIDEO_KEY, 600)}"


# --- /files: signatures and expiries that used to raise ----------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "expires=" + "9" * 5000 + "&signature=a",
        "expires=%C2%B2&signature=a",  # "²": str.isdigit() says yes, int() says no
        "expires=9999999999&signature=%C3%A9",  # non-ASCII: hmac.compare_digest raised
        "expires=9999999999&signature=" + "%00" * 64,
        "expires=-1&signature=" + "a" * 64,
        "expires=&signature=",
        "signature=" + "a" * 64,
    ],
)
async def test_forged_file_urls_are_403_json(
    client: httpx.AsyncClient, stored_video: str, query: str
) -> None:
    assert_error(await client.get(f"/files/{VIDEO_KEY}?{query}"), 403, "FORBIDDEN")


async def test_failed_signatures_are_rate_limited_per_address_but_valid_urls_are_served(
    client: httpx.AsyncClient, services: Services, stored_video: str
) -> None:
    services.settings.limits.signature_failure_limit = 3
    bad = f"/files/{VIDEO_KEY}?expires=9999999999&signature={'0' * 64}"
    codes = [(await client.get(bad)).status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    limited = await client.get(bad)
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1
    assert (await client.get(stored_video)).status_code == 200


async def test_an_empty_or_missing_stored_video_is_404_json(
    client: httpx.AsyncClient, services: Services, stored_video: str
) -> None:
    services.store.path_of(VIDEO_KEY).write_bytes(b"")
    assert_error(await client.get(stored_video), 404, "NOT_FOUND")
    services.store.path_of(VIDEO_KEY).unlink()
    assert_error(await client.get(stored_video), 404, "NOT_FOUND")


# --- Byte ranges (RFC 9110) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["items=0-1", "bytes=100-50", "bytes=0-1,5-9", "bytes=abc", "bytes=", "bytes 0-1"]
)
async def test_unknown_units_and_invalid_ranges_are_ignored_with_the_whole_file(
    client: httpx.AsyncClient, stored_video: str, header: str
) -> None:
    response = await client.get(stored_video, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == VIDEO_BYTES


@pytest.mark.parametrize(
    "header", ["bytes=99999999-", "bytes=1024-", "bytes=-0", "bytes=" + "9" * 30 + "-"]
)
async def test_a_range_past_the_end_is_416_json_with_the_size(
    client: httpx.AsyncClient, stored_video: str, header: str
) -> None:
    response = await client.get(stored_video, headers={"Range": header})
    assert_error(response, 416, "RANGE_NOT_SATISFIABLE")
    assert response.headers["content-range"] == f"bytes */{len(VIDEO_BYTES)}"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=-5000", 0, 1023),
        ("bytes=10-" + "9" * 40, 10, 1023),
    ],
)
async def test_satisfiable_ranges_are_206(
    client: httpx.AsyncClient, stored_video: str, header: str, start: int, end: int
) -> None:
    response = await client.get(stored_video, headers={"Range": header})
    assert response.status_code == 206
    assert response.content == VIDEO_BYTES[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(VIDEO_BYTES)}"


# --- Prefer: wait -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefer",
    # 5000 digits made int() raise (Python's limit on digits); the wait here is one second.
    ["wait=" + "0" * 5000 + "1", "wait=²".encode(), "wait=-1", "wait=\t", b"wait=\xff"],
)
async def test_an_unreadable_prefer_wait_never_fails_a_generate(
    client: httpx.AsyncClient, customer: Customer, prefer: str | bytes
) -> None:
    response = await client.post(
        "/v1/generate", json={"prompt": "a kite"}, headers={**customer.headers, "Prefer": prefer}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["task_id"]


# --- Cursors ---------------------------------------------------------------------------------


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(2**63),
        cursor_of(2**31),
        cursor_of(0),
        cursor_of(-1),
        cursor_of("1"),
        "%00",
        "",
        "x" * 600,
    ],
)
async def test_a_forged_ledger_cursor_is_400(
    client: httpx.AsyncClient, customer: Customer, cursor: str
) -> None:
    response = await client.get(f"/v1/account/ledger?cursor={cursor}", headers=customer.headers)
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of("0001-01-01T00:00:00+01:00", "task_a"),  # overflows when taken to UTC
        cursor_of("9999-12-31T23:59:59-01:00", "task_a"),
        cursor_of("2026-01-01T00:00:00", "task_a"),  # naive
        cursor_of("2026-01-01T00:00:00+00:00", "task_\x00a"),  # NUL in the id
        cursor_of("2026-01-01T00:00:00\x00+00:00", "task_a"),
        cursor_of("2026-01-01 00:00:00+00:00", "task_a"),  # not the form we hand out
        cursor_of("2026-01-01T00:00:00+00:00", "x" * 100),
        cursor_of("2026-01-01T00:00:00+00:00"),
        "%00",
    ],
)
async def test_a_forged_task_cursor_is_400(
    client: httpx.AsyncClient, customer: Customer, cursor: str
) -> None:
    response = await client.get(f"/v1/tasks?cursor={cursor}", headers=customer.headers)
    assert_error(response, 400, "INVALID_REQUEST")


# --- NUL and other text the databases cannot both store ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a kite\x00"},
        {"prompt": "a kite", "negative_prompt": "\x00"},
        {"prompt": "a kite", "callback_url": "https://example.com/\x00"},
        {"prompt": "a kite", "images": ["data:image/png;base64,\x00"]},
    ],
)
async def test_nul_in_a_text_field_is_400(
    client: httpx.AsyncClient, customer: Customer, body: dict
) -> None:
    response = await client.post("/v1/generate", json=body, headers=customer.headers)
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/status?task_id=task_%00"),
        ("GET", "/v1/status?task_id=" + "a" * 65),
        ("GET", "/v1/status?task_id="),
        ("GET", "/v1/status?task_id=%C3%A9"),
        ("GET", "/v1/tasks/task_%00"),
        ("POST", "/v1/tasks/task_%00/cancel"),
        ("DELETE", "/v1/tasks/task_%00"),
        ("GET", "/v1/tasks/task_%00/deliveries"),
        ("GET", "/v1/tasks/" + "a" * 65),
    ],
)
async def test_a_malformed_task_id_is_400_on_every_route(
    client: httpx.AsyncClient, customer: Customer, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=customer.headers)
    assert_error(response, 400, "INVALID_REQUEST")


async def test_a_well_formed_unknown_task_id_is_still_404(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    for method, path in [
        ("GET", "/v1/status?task_id=task_nope"),
        ("GET", "/v1/tasks/task_nope"),
        ("POST", "/v1/tasks/task_nope/cancel"),
        ("DELETE", "/v1/tasks/task_nope"),
        ("GET", "/v1/tasks/task_nope/deliveries"),
    ]:
        response = await client.request(method, path, headers=customer.headers)
        assert_error(response, 404, "TASK_NOT_FOUND")


async def test_a_task_listed_after_a_valid_cursor_still_pages(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    for _ in range(3):
        await submit(client, customer, {"prompt": "a kite"})
    first = await client.get("/v1/tasks?limit=2", headers=customer.headers)
    cursor = first.json()["data"]["next_cursor"]
    second = await client.get(f"/v1/tasks?limit=2&cursor={cursor}", headers=customer.headers)
    assert second.status_code == 200
    assert len(second.json()["data"]["tasks"]) == 1


# --- Any body, any header value: never a 500 ----------------------------------------------------


@pytest.mark.both_databases
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=400)
    | st.dictionaries(
        st.sampled_from(["prompt", "mode", "ratio", "n", "seed", "images", "negative_prompt"]),
        st.none() | st.integers() | st.floats() | st.text(max_size=50) | st.lists(st.text()),
    ).map(lambda value: json.dumps(value).encode()),
    prefer=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
)
async def test_any_generate_body_or_prefer_header_is_answered_without_a_5xx(
    client: httpx.AsyncClient, services: Services, body: bytes, prefer: str
) -> None:
    services.settings.limits.prefer_wait_max_seconds = 0  # no worker runs here: nothing to wait for
    rich = await make_customer(services, credits=10**6)
    headers = {**rich.headers, "Prefer": prefer.encode("latin-1")}
    response = await client.post("/v1/generate", content=body, headers=headers)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"


async def test_a_wrong_method_names_every_method_of_the_path(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.request("PATCH", "/v1/tasks/task_x", headers=customer.headers)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET"}
