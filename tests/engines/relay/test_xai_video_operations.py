"""Extend and edit through the xai relay, against the strict fake of xAI's video API.

The engine posts extensions to ``/v1/videos/extensions`` and edits to ``/v1/videos/edits`` with
the source as ``video.url``; behind the real API and worker, the result is stored as ours and a
refusal refunds the task.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from grokimagine.engines.base import InputVideo
from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.relay.errors import CONTENT_REJECTED
from grokimagine.engines.relay.xai import XaiEngine
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import balance_of, status_of
from tests.helpers.customers import BASE_URL, make_customer, make_worker

from .fake_xai import FakeXai, XaiScenario
from .helpers import XAI_KEY, ProgressLog, make_request, probe_mp4


def clip(tmp_path: Path, seconds: float) -> bytes:
    path = tmp_path / f"source-{seconds}.mp4"
    frames = (np.full((48, 64, 3), i % 255, np.uint8) for i in range(int(seconds * 24)))
    encode_mp4(frames, path, width=64, height=48, fps=24)
    return path.read_bytes()


def source_of(data: bytes, seconds: float, url: str | None = None) -> InputVideo:
    return InputVideo(data=data, mime="video/mp4", seconds=seconds, width=64, height=48, url=url)


def test_an_extension_goes_to_xais_extensions_route_with_the_source_and_the_seconds(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path, tmp_path: Path
) -> None:
    data = clip(tmp_path, 3)
    request = make_request(operation="extend", num_frames=4 * 24, source=source_of(data, 3))
    result = XaiEngine(xai_settings()).generate(request, output, progress.control)

    assert xai.paths == ["/v1/videos/extensions"]
    body = xai.bodies[0]
    assert set(body) == {"model", "prompt", "video", "duration"}
    assert body["duration"] == 4
    assert body["video"] == {"url": "data:video/mp4;base64," + base64.b64encode(data).decode()}
    assert body["prompt"].startswith("a red fox running through snow")
    assert output.read_bytes() == xai.mp4 and probe_mp4(output)[0] == "h264"
    assert result.provider_task_id in xai.jobs


def test_an_edit_goes_to_xais_edits_route_without_duration_ratio_or_resolution(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path, tmp_path: Path
) -> None:
    data = clip(tmp_path, 2)
    request = make_request(operation="edit", mode="fun", num_frames=48, source=source_of(data, 2))
    XaiEngine(xai_settings()).generate(request, output, progress.control)

    assert xai.paths == ["/v1/videos/edits"]
    body = xai.bodies[0]
    assert set(body) == {"model", "prompt", "video"}
    assert "Style: playful" in body["prompt"]
    assert output.read_bytes() == xai.mp4


def test_a_signed_url_of_our_copy_is_sent_when_the_operator_asks(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path, tmp_path: Path
) -> None:
    url = "https://videos.example.com/files/inputs/task_x/source.mp4?expires=1&signature=s"
    source = source_of(clip(tmp_path, 2), 2, url=url)
    settings = xai_settings(xai_source_video="signed_url")
    XaiEngine(settings).generate(
        make_request(operation="edit", source=source), output, progress.control
    )
    assert xai.bodies[0]["video"] == {"url": url}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("edits", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}}, 200),
        ("edits", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "duration": 6}, 422),
        ("edits", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "aspect_ratio": "1:1"}, 422),
        ("edits", {"prompt": "p", "video": "https://e.com/a.mp4"}, 422),
        ("edits", {"prompt": "p"}, 422),
        ("edits", {"prompt": "p", "video": {"url": "data:video/mp4;base64,@@"}}, 422),
        ("edits", {"prompt": "p", "video": {"url": "data:image/png;base64,AAAA"}}, 422),
        ("extensions", {"prompt": "p", "video": {"url": "data:video/mp4;base64,AAAA"}}, 200),
        ("extensions", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "duration": 10}, 200),
        ("extensions", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "duration": 1}, 422),
        ("extensions", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "duration": 11}, 422),
        ("extensions", {"prompt": "p", "video": {"url": "https://e.com/a.mp4"}, "resolution": "480p"}, 422),
        ("extensions", {"video": {"url": "https://e.com/a.mp4"}}, 422),
    ],
)  # fmt: skip
def test_the_fake_holds_edits_and_extensions_to_xais_fields(
    xai: FakeXai, xai_server: tuple[FakeXai, str], path: str, body: dict[str, Any], status: int
) -> None:
    response = httpx.post(
        f"{xai_server[1]}/v1/videos/{path}",
        json=body,
        headers={"Authorization": f"Bearer {XAI_KEY}"},
    )
    assert response.status_code == status, response.text
    if status != 200:
        assert set(response.json()) == {"code", "error"}


@pytest.fixture
async def relayed(
    settings: Settings, services: Services, xai_settings
) -> AsyncIterator[tuple[httpx.AsyncClient, Services, Settings]]:
    """The API with every mode routed to xai (so xAI's limits apply at submission), over the
    database ``services`` emptied."""
    relay = xai_settings()
    own = build_services(
        settings.replace(engine="xai", xai_api_key=XAI_KEY, xai_base_url=relay.xai.base_url),
        public_url=BASE_URL,
    )
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own, relay
    await own.close()


def data_uri(data: bytes) -> str:
    return "data:video/mp4;base64," + base64.b64encode(data).decode()


async def test_an_extension_through_the_relay_is_stored_as_ours_and_charged(
    relayed: tuple[httpx.AsyncClient, Services, Settings], xai: FakeXai, tmp_path: Path
) -> None:
    client, services, relay = relayed
    customer = await make_customer(services)
    source = clip(tmp_path, 3)
    response = await client.post(
        "/v1/extend",
        json={"video": data_uri(source), "prompt": "then it snows", "duration": 4},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    assert await make_worker(services, XaiEngine(relay)).run_once()

    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 28
    assert xai.paths == ["/v1/videos/extensions"]
    assert xai.bodies[0]["duration"] == 4
    assert xai.bodies[0]["video"]["url"] == data_uri(source)
    assert next(iter(xai.jobs.values())).downloaded  # xAI's URL is spent: ours serves it
    video = await client.get(done["response"][0])
    assert video.status_code == 200 and video.content == xai.mp4
    assert await balance_of(services, customer.account_id) == 400 - 28


async def test_a_refused_edit_through_the_relay_fails_and_refunds(
    relayed: tuple[httpx.AsyncClient, Services, Settings], xai: FakeXai, tmp_path: Path
) -> None:
    client, services, relay = relayed
    customer = await make_customer(services)
    xai.reset(XaiScenario(outcome="moderated"))
    response = await client.post(
        "/v1/edit",
        json={"video": data_uri(clip(tmp_path, 2)), "prompt": "at night"},
        headers=customer.headers,
    )
    task_id = response.json()["data"]["task_id"]
    assert await balance_of(services, customer.account_id) == 400 - 40
    assert await make_worker(services, XaiEngine(relay)).run_once()

    failed = await status_of(client, customer, task_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", CONTENT_REJECTED)
    assert failed["consumed_credits"] == 0
    assert xai.paths == ["/v1/videos/edits"]
    assert await balance_of(services, customer.account_id) == 400


async def test_xais_own_limits_are_checked_at_submission(
    relayed: tuple[httpx.AsyncClient, Services, Settings], xai: FakeXai, tmp_path: Path
) -> None:
    client, services, _ = relayed
    customer = await make_customer(services)
    long_clip = data_uri(clip(tmp_path, 9))
    edit = await client.post(
        "/v1/edit", json={"video": long_clip, "prompt": "p"}, headers=customer.headers
    )
    assert edit.status_code == 400
    assert edit.json()["message"] == (
        "Invalid request: The video parameter is not valid: the video lasts 9 s; this mode edits"
        " videos of at most 8.7 s"
    )
    short_clip = data_uri(clip(tmp_path, 1))
    extend = await client.post(
        "/v1/extend", json={"video": short_clip, "prompt": "p"}, headers=customer.headers
    )
    assert extend.json()["message"] == (
        "Invalid request: The video parameter is not valid: the video lasts 1 s; this mode"
        " extends videos of 2 to 15 s"
    )
    one_second = await client.post(
        "/v1/extend",
        json={"video": long_clip, "prompt": "p", "duration": 1},
        headers=customer.headers,
    )
    assert one_second.json()["message"] == (
        "Invalid request: The duration parameter is not valid: offered are 2, 3, 4, 5, 6, 7, 8,"
        " 9, 10"
    )
    assert xai.paths == []
    assert await balance_of(services, customer.account_id) == 400
