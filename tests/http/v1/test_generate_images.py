"""Image-to-video over HTTP: images fetched and checked at submission, stored with the task."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import AsyncIterator

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import balance_of, png, status_of
from tests.helpers.customers import BASE_URL, Customer, make_customer, make_worker
from tests.helpers.servers import LocalServer


@pytest.fixture
async def intranet(
    settings: Settings, services: Services
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A service whose operator allow-listed 127.0.0.1 (GROKIMAGINE_FETCH_ALLOWLIST)."""
    own = build_services(
        settings.replace(**{"fetch_allowlist": ["127.0.0.1"]}), public_url=BASE_URL
    )
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own
    await own.close()


async def test_an_image_url_at_127_0_0_1_is_refused_and_nothing_is_charged(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    server: LocalServer,
    connect_log,
) -> None:
    url = server.add("/red.png", body=png((255, 0, 0)), headers={"Content-Type": "image/png"})
    response = await client.post(
        "/v1/generate", json={"prompt": "p", "images": [url]}, headers=customer.headers
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "Invalid request: images[0]: the address is not allowed",
        "error": "INVALID_REQUEST",
    }
    assert server.requests == [] and connect_log == []
    assert await balance_of(services, customer.account_id) == 400


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.png",
        "http://[::1]/a.png",
    ],
)
async def test_forbidden_sources_are_400s_naming_the_image(
    client: httpx.AsyncClient, customer: Customer, source: str, connect_log
) -> None:
    body = {
        "prompt": "p",
        "images": ["data:image/png;base64," + base64.b64encode(png((1, 2, 3))).decode(), source],
    }
    response = await client.post("/v1/generate", json=body, headers=customer.headers)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid request: images[1]: ")
    assert connect_log == []


async def test_an_allowlisted_image_is_fetched_stored_and_animated(
    intranet: tuple[httpx.AsyncClient, Services], server: LocalServer
) -> None:
    http, services = intranet
    customer = await make_customer(services)
    url = server.add("/red.png", body=png((255, 0, 0)), headers={"Content-Type": "image/png"})
    response = await http.post(
        "/v1/generate",
        json={"prompt": "a red square", "images": url, "ratio": "2:3"},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    assert server.requests and server.requests[0][0] == "/red.png"
    server.routes.clear()  # the worker must not need the URL again

    status = await status_of(http, customer, task_id)
    assert status["request"]["images"] == [url]
    assert await make_worker(services).run_once()
    done = await status_of(http, customer, task_id)
    assert done["status"] == "completed"
    video = await http.get(done["response"][0].removeprefix(BASE_URL))
    with av.open(io.BytesIO(video.content)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape == (720, 480, 3)
    top = frame[: frame.shape[0] // 2].reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[1] < 80 and top[2] < 80  # the red image, not a made-up scene


async def test_a_data_uri_is_echoed_as_its_digest(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    data = png((0, 0, 255))
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    response = await client.post(
        "/v1/generate", json={"prompt": "p", "images": [uri]}, headers=customer.headers
    )
    assert response.status_code == 200, response.text
    status = await status_of(client, customer, response.json()["data"]["task_id"])
    assert status["request"]["images"] == [
        f"data:image/png;sha256={hashlib.sha256(data).hexdigest()}"
    ]


async def test_an_image_over_8_mib_is_a_413(client: httpx.AsyncClient, customer: Customer) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (1800, 1800, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=0)
    assert buffer.tell() > 8 * 1024 * 1024
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = await client.post(
        "/v1/generate", json={"prompt": "p", "images": [uri]}, headers=customer.headers
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert "images[0]" in response.json()["message"]


async def test_a_non_image_is_a_400(client: httpx.AsyncClient, customer: Customer) -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"<html>not an image</html>").decode()
    response = await client.post(
        "/v1/generate", json={"prompt": "p", "images": [uri]}, headers=customer.headers
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid request: images[0]: ")
