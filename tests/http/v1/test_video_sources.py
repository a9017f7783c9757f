"""Sources of extend and edit that are refused at submission, over HTTP on SQLite and
PostgreSQL: not a video, the wrong codec, too long, too large, at a private address, another
account's task, a task not completed, a malformed body. Nothing is charged for any of them."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from grokimagine.engines.encoding import encode_mp4
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import balance_of, data_uri, finished, generated, mp4_bytes
from tests.helpers.customers import BASE_URL, Customer, make_customer
from tests.helpers.servers import LocalServer


async def refused(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    path: str,
    body: dict,
    status: int = 400,
) -> str:
    """Post ``body``; assert the status and that nothing was charged; return the message."""
    before = await balance_of(services, customer.account_id)
    response = await client.post(path, json=body, headers=customer.headers)
    assert response.status_code == status, response.text
    assert await balance_of(services, customer.account_id) == before
    return response.json()["message"]


async def test_a_source_that_is_not_a_video_is_refused(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    message = await refused(
        client, services, customer, "/v1/edit", {"video": data_uri(png), "prompt": "p"}
    )
    assert message == "Invalid request: The video parameter is not valid: not an MP4 or WebM video"
    truncated = data_uri(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 200)
    message = await refused(
        client, services, customer, "/v1/extend", {"video": truncated, "prompt": "p"}
    )
    assert message.startswith("Invalid request: The video parameter is not valid: the video is")


async def test_an_mpeg4_part_2_mp4_is_refused_for_its_codec(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as box:
        stream = box.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(24):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    message = await refused(
        client,
        services,
        customer,
        "/v1/edit",
        {"video": data_uri(buffer.getvalue()), "prompt": "p"},
    )
    assert "the video is mpeg4; accepted in this container: H.264" in message


@pytest.fixture
async def capped(
    settings: Settings, services: Services
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A service whose operator caps source videos at 2 s and 20 kB (over the emptied
    database of ``services``)."""
    own = build_services(
        settings.replace(**{"limits": {"max_video_seconds": 2.0, "max_video_bytes": 20_000}}),
        public_url=BASE_URL,
    )
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own
    await own.close()


async def test_a_source_too_long_or_too_large_is_refused(
    capped: tuple[httpx.AsyncClient, Services], tmp_path: Path
) -> None:
    client, services = capped
    customer = await make_customer(services)
    long_clip = data_uri(mp4_bytes(tmp_path, seconds=3.0))
    message = await refused(
        client, services, customer, "/v1/extend", {"video": long_clip, "prompt": "p"}
    )
    assert (
        message == "Invalid request: The video parameter is not valid: the video is longer than 2 s"
    )
    noise = np.random.default_rng(0).integers(0, 255, (24, 240, 320, 3), dtype=np.uint8)
    path = tmp_path / "noise.mp4"
    encode_mp4(iter(noise), path, width=320, height=240, fps=24, crf=0)
    assert path.stat().st_size > 20_000
    message = await refused(
        client,
        services,
        customer,
        "/v1/edit",
        {"video": data_uri(path.read_bytes()), "prompt": "p"},
    )
    assert message == (
        "Invalid request: The video parameter is not valid: the video is larger than 20000 bytes"
    )


async def test_a_source_on_a_private_address_is_refused_without_a_connection(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    server: LocalServer,
    connect_log,
    tmp_path: Path,
) -> None:
    url = server.add("/clip.mp4", body=mp4_bytes(tmp_path), headers={"Content-Type": "video/mp4"})
    message = await refused(client, services, customer, "/v1/edit", {"video": url, "prompt": "p"})
    assert (
        message == "Invalid request: The video parameter is not valid: the address is not allowed"
    )
    assert server.requests == [] and connect_log == []


async def test_an_allow_listed_url_is_fetched_and_echoed(
    settings: Settings, services: Services, server: LocalServer, tmp_path: Path
) -> None:
    own = build_services(
        settings.replace(**{"fetch_allowlist": ["127.0.0.1"]}), public_url=BASE_URL
    )
    try:
        customer = await make_customer(own)
        url = server.add(
            "/clip.mp4", body=mp4_bytes(tmp_path), headers={"Content-Type": "video/mp4"}
        )
        transport = httpx.ASGITransport(app=create_app(own))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            response = await client.post(
                "/v1/edit", json={"video": url, "prompt": "sepia"}, headers=customer.headers
            )
            assert response.status_code == 200, response.text
            status = await finished(client, own, customer, response.json()["data"]["task_id"])
        assert status["request"]["source"] == {"video": url}
        assert [path for path, _ in server.requests] == ["/clip.mp4"]
    finally:
        await own.close()


async def test_another_accounts_task_is_not_found_and_a_pending_one_is_not_ready(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    other = await make_customer(services)
    theirs = await generated(client, services, other, seconds=1)
    message = await refused(
        client, services, customer, "/v1/extend", {"task_id": theirs, "prompt": "p"}, 404
    )
    assert message == "Task not found"
    message = await refused(
        client, services, customer, "/v1/edit", {"task_id": "task_nope", "prompt": "p"}, 404
    )
    pending = await client.post("/v1/generate", json={"prompt": "p"}, headers=customer.headers)
    pending_id = pending.json()["data"]["task_id"]
    message = await refused(
        client, services, customer, "/v1/edit", {"task_id": pending_id, "prompt": "p"}
    )
    assert message == (
        "Invalid request: The task_id parameter is not valid: the task is pending, not completed"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "p"}, "Invalid request: The task_id or video parameter is required"),
        (
            {"prompt": "p", "task_id": "task_x", "video": "https://example.com/a.mp4"},
            "Invalid request: give the source video as task_id or as video, not both",
        ),
        (
            {"video": "https://example.com/a.mp4"},
            "Invalid request: The prompt parameter is required",
        ),
        (
            {"prompt": "p", "video": "ftp://example.com/a.mp4"},
            "Invalid request: The video parameter is not valid: only http(s) URLs and"
            " data:video/mp4;base64 (or webm) URIs are accepted",
        ),
        (
            {"prompt": "p", "video": "data:video/mp4;base64,@@@"},
            "Invalid request: The video parameter is not valid: not valid base64",
        ),
        (
            {"prompt": "p", "video": "https://example.com/a.mp4", "duration": 11},
            "Invalid request: The duration parameter is not valid: offered are 1, 2, 3, 4, 5, 6,"
            " 7, 8, 9, 10",
        ),
        (
            {"prompt": "a\x00b", "video": "https://example.com/a.mp4"},
            "Invalid request: The prompt parameter is not valid: must not contain NUL characters",
        ),
        (
            {"prompt": "p", "task_id": "task_\x00"},
            "Invalid request: The task_id parameter is not valid: must not contain NUL characters",
        ),
        (
            {"prompt": "p", "video": "https://example.com/a.mp4", "duration": "4"},
            "Invalid request: The duration parameter is not valid: input should be a valid integer",
        ),
    ],
)
async def test_malformed_extends_are_refused_naming_the_field(
    client: httpx.AsyncClient, services: Services, customer: Customer, body: dict, message: str
) -> None:
    assert await refused(client, services, customer, "/v1/extend", body) == message
