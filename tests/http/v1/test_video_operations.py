"""POST /v1/extend and POST /v1/edit over HTTP on the embedded default (the preview engine),
on SQLite and PostgreSQL: the result plays and lasts what it should, the price is charged and
refunded like any task's, idempotency and Prefer: wait hold. Refused sources:
test_video_sources.py."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from grokimagine.domain.media.video_sources import inspect_video
from grokimagine.engines.base import Engine
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import balance_of, data_uri, finished, generated, mp4_bytes, status_of
from tests.helpers.customers import BASE_URL, Customer, make_customer, make_worker


def webm_bytes(seconds: float = 1.0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real VP9 WebM of ``seconds`` at 24 fps."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as box:
        stream = box.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * 24)):
            picture = np.full((size[1], size[0], 3), i * 9 % 255, np.uint8)
            box.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        box.mux(stream.encode(None))
    return buffer.getvalue()


async def video_of(client: httpx.AsyncClient, status: dict) -> bytes:
    response = await client.get(status["response"][0])
    assert response.status_code == 200
    return response.content


async def test_extend_a_task_by_4_s_gives_one_video_of_source_plus_4_s_charged_per_seconds(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    source_id = await generated(client, services, customer, seconds=2)
    before = await balance_of(services, customer.account_id)
    response = await client.post(
        "/v1/extend",
        json={"task_id": source_id, "prompt": "then it starts to snow", "duration": 4},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    assert task_id != source_id
    status = await finished(client, services, customer, task_id)
    assert status["request"] == {
        "mode": "normal",
        "prompt": "then it starts to snow",
        "ratio": "1:1",
        "operation": "extend",
        "source": {"task_id": source_id, "video_index": 0},
        "duration": 4,
    }
    probe = inspect_video(await video_of(client, status), 60, 1920 * 1080)
    assert (probe.width, probe.height) == (480, 480)
    assert probe.seconds == pytest.approx(2 + 4, abs=0.05)
    # The default table's 480p rule on the 4 s added: 4 + 6 * 4 = 28 credits.
    assert status["consumed_credits"] == 28
    assert await balance_of(services, customer.account_id) == before - 28


async def test_edit_gives_a_clip_of_the_source_length_and_size(
    client: httpx.AsyncClient, services: Services, customer: Customer, tmp_path: Path
) -> None:
    source = mp4_bytes(tmp_path, seconds=1.5, size=(96, 64))
    before = await balance_of(services, customer.account_id)
    response = await client.post(
        "/v1/edit",
        json={"video": data_uri(source), "prompt": "the same street at night", "mode": "fun"},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    status = await finished(client, services, customer, response.json()["data"]["task_id"])
    assert status["request"]["operation"] == "edit"
    assert status["request"]["source"]["video"].startswith("data:video;sha256=")
    probe = inspect_video(await video_of(client, status), 60, 1920 * 1080)
    assert (probe.width, probe.height) == (96, 64)
    assert probe.seconds == pytest.approx(1.5, abs=0.05)
    assert await balance_of(services, customer.account_id) == before - 40


async def test_a_webm_source_is_extended_into_an_mp4(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    response = await client.post(
        "/v1/extend",
        json={"video": data_uri(webm_bytes(1.0), "video/webm"), "prompt": "more", "duration": 1},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    status = await finished(client, services, customer, response.json()["data"]["task_id"])
    probe = inspect_video(await video_of(client, status), 60, 1920 * 1080)
    assert probe.mime == "video/mp4" and probe.seconds == pytest.approx(2.0, abs=0.05)


async def test_a_pending_extend_is_canceled_and_refunded(
    client: httpx.AsyncClient, services: Services, customer: Customer, tmp_path: Path
) -> None:
    before = await balance_of(services, customer.account_id)
    response = await client.post(
        "/v1/extend",
        json={"video": data_uri(mp4_bytes(tmp_path)), "prompt": "more", "duration": 6},
        headers=customer.headers,
    )
    task_id = response.json()["data"]["task_id"]
    assert await balance_of(services, customer.account_id) == before - 40
    canceled = await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers)
    assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "canceled"
    assert await balance_of(services, customer.account_id) == before


async def test_a_test_key_extends_for_free(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    from grokimagine.domain.accounts import accounts

    customer = await make_customer(services)
    key = await accounts.create_key(services.db, customer.account_id, live=False)
    headers = {"Authorization": f"Bearer {key.token}"}
    response = await client.post(
        "/v1/extend",
        json={"video": data_uri(mp4_bytes(tmp_path)), "prompt": "p", "duration": 2},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert await balance_of(services, customer.account_id) == 400


def plain_engine(settings: Settings) -> Engine:
    """A plugin engine that declares nothing: it generates only (the baseline)."""
    from grokimagine.engines.preview.engine import PreviewEngine

    return PreviewEngine()


async def test_an_operation_the_modes_engines_cannot_do_is_refused_and_priced_nowhere(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    own = build_services(
        settings.replace(
            engine_plugins={"plain": "tests.http.v1.test_video_operations:plain_engine"},
            routes={"mode:fun": ["plain"], "default": ["preview"]},
        ),
        public_url=BASE_URL,
    )
    try:
        customer = await make_customer(own)
        transport = httpx.ASGITransport(app=create_app(own))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            body = {"video": data_uri(mp4_bytes(tmp_path)), "prompt": "p", "mode": "fun"}
            response = await client.post("/v1/extend", json=body, headers=customer.headers)
            assert response.status_code == 400
            assert response.json() == {
                "code": 400,
                "message": "Invalid request: The extend operation is not offered in mode fun:"
                " its engines cannot extend videos",
                "error": "OPERATION_NOT_SUPPORTED",
            }
            response = await client.post("/v1/edit", json=body, headers=customer.headers)
            assert response.json()["error"] == "OPERATION_NOT_SUPPORTED"
            assert await balance_of(own, customer.account_id) == 400
            pricing = (await client.get("/v1/pricing", headers=customer.headers)).json()["data"]
        fun, normal = pricing["modes"]["fun"], pricing["modes"]["normal"]
        assert fun["operations"] == ["generate"] and fun["extend"] is None and fun["edit"] is None
        assert normal["operations"] == ["generate", "extend", "edit"]
        assert normal["extend"]["durations"] == list(range(1, 11))
        assert normal["extend"]["source_seconds"] == [0.0, 30.0]
        assert normal["extend"]["prices"]["480p"] == {"base": 4, "per_second": 6}
        assert normal["edit"] == {"max_source_seconds": 30.0, "prices": {"480p": 40, "720p": 58}}
    finally:
        await own.close()


OPERATOR_TABLE = (
    '{"default": {"480p": {"base": 4, "per_second": 6}, "720p": {"base": 4, "per_second": 9}},'
    ' "extend": {"480p": {"base": 0, "per_second": 5}}, "edit": {"480p": 25}}'
)


async def test_the_operators_table_prices_extension_seconds_and_edited_clips(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    own = build_services(settings.replace(pricing_table=OPERATOR_TABLE), public_url=BASE_URL)
    try:
        customer = await make_customer(own)
        transport = httpx.ASGITransport(app=create_app(own))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            source = data_uri(mp4_bytes(tmp_path))
            charged = []
            for path, body in (
                ("/v1/extend", {"video": source, "prompt": "p", "duration": 4}),
                ("/v1/edit", {"video": source, "prompt": "p"}),
            ):
                response = await client.post(path, json=body, headers=customer.headers)
                assert response.status_code == 200, response.text
                status = await status_of(client, customer, response.json()["data"]["task_id"])
                charged.append(status["consumed_credits"])
            pricing = (await client.get("/v1/pricing", headers=customer.headers)).json()["data"]
        assert charged == [5 * 4, 25]
        assert await balance_of(own, customer.account_id) == 400 - 20 - 25
        normal = pricing["modes"]["normal"]
        assert normal["extend"]["prices"]["480p"] == {"base": 0, "per_second": 5}
        # No extend rule for 720p: the resolution's own rule; no edit price: a 6 s video's.
        assert normal["extend"]["prices"]["720p"] == {"base": 4, "per_second": 9}
        assert normal["edit"]["prices"] == {"480p": 25, "720p": 4 + 9 * 6}
    finally:
        await own.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('{"extend": {"1080p": {"per_second": 5}}}', "extend.1080p: unknown resolution"),
        ('{"edit": {"480p": 2.5}}', "edit.480p: must be a whole number of credits"),
        ('{"edit": [40]}', "edit: must be an object of resolution -> credits per clip"),
    ],
)
def test_bad_extend_or_edit_prices_are_named(table: str, message: str) -> None:
    from grokimagine.domain.billing.price_table import PriceTableError, load_price_table

    default = '"default": {"480p": {"per_second": 6}, "720p": {"per_second": 9}}, '
    with pytest.raises(PriceTableError, match=message.replace(".", r"\.")):
        load_price_table("{" + default + table[1:])


async def test_an_extend_retried_with_its_idempotency_key_is_charged_once(
    client: httpx.AsyncClient, services: Services, customer: Customer, tmp_path: Path
) -> None:
    body = {"video": data_uri(mp4_bytes(tmp_path)), "prompt": "more", "duration": 2}
    headers = {**customer.headers, "Idempotency-Key": "extend-1"}
    first = await client.post("/v1/extend", json=body, headers=headers)
    again = await client.post("/v1/extend", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["task_id"] == again.json()["data"]["task_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance_of(services, customer.account_id) == 400 - (4 + 6 * 2)
    other = await client.post("/v1/extend", json={**body, "duration": 3}, headers=headers)
    assert other.status_code == 409 and other.json()["error"] == "IDEMPOTENCY_CONFLICT"


async def test_prefer_wait_answers_with_the_finished_edit(
    client: httpx.AsyncClient, services: Services, customer: Customer, tmp_path: Path
) -> None:
    worker = asyncio.create_task(make_worker(services).run())
    try:
        response = await client.post(
            "/v1/edit",
            json={"video": data_uri(mp4_bytes(tmp_path)), "prompt": "p"},
            headers={**customer.headers, "Prefer": "wait=30"},
        )
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert response.status_code == 200
    task = response.json()["data"]
    assert task["status"] == "completed" and len(task["response"]) == 1
    assert task["request"]["operation"] == "edit"
