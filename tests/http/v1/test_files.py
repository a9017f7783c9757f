"""Videos: real H.264 MP4s at the contract's sizes, served only under valid signed URLs."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import av
import httpx
import pytest

from grokimagine.services import Services
from tests.helpers.api import status_of, submit
from tests.helpers.customers import Customer, make_worker

SIZES = {"1:1": (480, 480), "2:3": (480, 720), "3:2": (720, 480)}


async def finished_video_url(
    client: httpx.AsyncClient, services: Services, customer: Customer, ratio: str = "1:1"
) -> str:
    task_id = await submit(client, customer, {"prompt": "a red kite over a beach", "ratio": ratio})
    await make_worker(services).run_once()
    data = await status_of(client, customer, task_id)
    assert data["status"] == "completed"
    url = urlparse(data["response"][0])
    return f"{url.path}?{url.query}"


@pytest.mark.parametrize("ratio", ["1:1", "2:3", "3:2"])
async def test_a_completed_video_is_h264_at_the_contract_size(
    client: httpx.AsyncClient, services: Services, customer: Customer, ratio: str
) -> None:
    response = await client.get(await finished_video_url(client, services, customer, ratio))
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.content.find(b"moov") < response.content.find(b"mdat")  # fast start
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == SIZES[ratio]
        assert sum(1 for _ in container.decode(stream)) == 144
        assert float(stream.average_rate) == 24


async def test_range_requests_return_the_asked_bytes(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    path = await finished_video_url(client, services, customer)
    whole = (await client.get(path)).content
    partial = await client.get(path, headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == whole[100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{len(whole)}"


async def test_unsigned_altered_and_expired_urls_are_refused(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    path = await finished_video_url(client, services, customer)
    bare, _, query = path.partition("?")
    params = dict(part.split("=") for part in query.split("&"))
    unsigned = await client.get(bare)
    altered = await client.get(
        f"{bare}?expires={int(params['expires']) + 1}&signature={params['signature']}"
    )
    expired_query = services.store.signer.sign_query(bare.removeprefix("/files/"), -10)
    expired = await client.get(f"{bare}?{expired_query}")
    for response in (unsigned, altered, expired):
        assert response.status_code == 403
        assert response.json()["error"] == "FORBIDDEN"
    other_task = bare.replace("videos/task_", "videos/task_X")
    moved = await client.get(f"{other_task}?{query}")
    assert moved.status_code in (403, 404)


async def test_paths_outside_the_videos_are_not_served(
    client: httpx.AsyncClient, services: Services
) -> None:
    for key in ("../secret.key", "videos/../../secret.key", "inputs/task_aaaaaaaaaa/0.png"):
        query = services.store.signer.sign_query(key, 60)
        response = await client.get(f"/files/{key}?{query}")
        assert response.status_code == 404
