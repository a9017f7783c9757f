"""The official ``openai`` Python SDK (pinned in the test extra) drives /v1/videos end to end:
create_and_poll, download, list pages, delete, remix, edit, extend; on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import av
import httpx
import openai
import pytest

from tests.helpers.live_server import LiveServer
from tests.helpers.openai_sdk import sdk

# Generous: the machine running the tests may be busy; nothing here waits on a deadline.
http_get = functools.partial(httpx.get, timeout=60)
http_post = functools.partial(httpx.post, timeout=60)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # OpenAI's Sora notice


def probe(path: Path) -> tuple[int, int, float]:
    """Width, height and seconds of an MP4, read with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, frames / float(stream.average_rate)


def balance(server: LiveServer) -> int:
    answer = http_get(
        f"{server.url}/v1/account", headers={"Authorization": f"Bearer {server.token}"}
    )
    return int(answer.json()["data"]["balance"])


@pytest.mark.both_databases
def test_create_poll_download_list_delete(
    server: LiveServer, openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    video = openai_client.videos.create_and_poll(
        prompt="a red kite over a beach", size="854x480", seconds="2", poll_interval_ms=100
    )
    assert video.status == "completed", video.error
    assert (video.object, video.size, video.seconds, video.progress) == (
        "video",
        "854x480",
        "2",
        100,
    )
    assert video.model == "grokimagine-video"
    assert video.completed_at is not None and video.completed_at >= video.created_at

    target = tmp_path / "kite.mp4"
    openai_client.videos.download_content(video.id).write_to_file(target)
    width, height, seconds = probe(target)
    assert (width, height) == (854, 480)
    assert seconds == pytest.approx(2.0, abs=0.1)
    poster = openai_client.videos.download_content(video.id, variant="thumbnail").content
    assert poster[:3] == b"\xff\xd8\xff"  # a JPEG

    portrait = openai_client.videos.create_and_poll(
        prompt="a lighthouse", size="480x854", seconds="1", poll_interval_ms=100
    )
    wide = openai_client.videos.create_and_poll(
        prompt="a harbour", model="preview-fast", size="1280x720", seconds="1", poll_interval_ms=100
    )
    assert (portrait.size, wide.size, wide.model) == ("480x854", "1280x720", "preview-fast")

    first = openai_client.videos.list(limit=2)
    assert [item.id for item in first.data] == [wide.id, portrait.id]
    assert first.has_more is True
    every = [item.id for item in openai_client.videos.list(limit=1)]  # the SDK follows `after`
    assert every == [wide.id, portrait.id, video.id]
    oldest_first = [item.id for item in openai_client.videos.list(limit=2, order="asc")]
    assert oldest_first == [video.id, portrait.id, wide.id]

    deleted = openai_client.videos.delete(portrait.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (portrait.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        openai_client.videos.retrieve(portrait.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.videos.delete(portrait.id)
    assert [item.id for item in openai_client.videos.list()] == [wide.id, video.id]


@pytest.mark.both_databases
def test_remix_edit_extend(
    server: LiveServer, openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    source = openai_client.videos.create_and_poll(
        prompt="a paper boat", size="480x480", seconds="2", poll_interval_ms=100
    )
    assert source.status == "completed"

    remix = openai_client.videos.remix(source.id, prompt="the same boat, at night")
    assert remix.remixed_from_video_id == source.id
    remix = openai_client.videos.poll(remix.id, poll_interval_ms=100)
    assert (remix.status, remix.size) == ("completed", "480x480")

    # openai 3.51 refuses a {"id"} reference client-side (it expects a file there): the
    # reference rides in extra_body, which the SDK sends as the form field video[id].
    by_id = {"video": openai.omit, "extra_body": {"video": {"id": source.id}}}
    edit = openai_client.videos.edit(prompt="make it snow", **by_id)
    edit = openai_client.videos.poll(edit.id, poll_interval_ms=100)
    assert edit.status == "completed" and edit.remixed_from_video_id == source.id

    extension = openai_client.videos.extend(prompt="it sails away", seconds="2", **by_id)
    extension = openai_client.videos.poll(extension.id, poll_interval_ms=100)
    assert extension.status == "completed", extension.error
    target = tmp_path / "extended.mp4"
    openai_client.videos.download_content(extension.id).write_to_file(target)
    assert probe(target)[2] == pytest.approx(4.0, abs=0.15)  # the source, then 2 s more

    # An uploaded file works as the source too.
    uploaded = tmp_path / "source.mp4"
    openai_client.videos.download_content(source.id).write_to_file(uploaded)
    by_upload = openai_client.videos.extend(prompt="more", seconds="1", video=uploaded)
    by_upload = openai_client.videos.poll(by_upload.id, poll_interval_ms=100)
    assert by_upload.status == "completed", by_upload.error


@pytest.mark.both_databases
def test_input_reference_upload_and_models(
    server: LiveServer, openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    image = tmp_path / "still.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 40, 40)).save(image)
    video = openai_client.videos.create_and_poll(
        prompt="bring it to life", input_reference=image, seconds="1", poll_interval_ms=100
    )
    assert video.status == "completed", video.error

    models = {model.id: model for model in openai_client.models.list()}
    assert set(models) == {"grokimagine-video", "preview-fast"}
    described = models["grokimagine-video"].model_dump()
    assert {"1280x720", "720x1280", "480x480", "720x1080"} <= set(described["sizes"])
    assert "6" in described["seconds"] and described["price_per_clip"]["credits"]["480x480"] == 40
    assert described["modes"] == ["fun", "normal"]  # spicy is not allowed to this account
    assert openai_client.models.retrieve("preview-fast").id == "preview-fast"
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.models.retrieve("sora-2")
    assert caught.value.code == "model_not_found"


@pytest.mark.both_databases
def test_cross_surface_same_task_same_money(
    server: LiveServer, openai_client: openai.OpenAI
) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    before = balance(server)
    made = http_post(f"{server.url}/v1/generate", headers=auth, json={"prompt": "a fox"})
    task_id = made.json()["data"]["task_id"]
    seen = openai_client.videos.poll(task_id, poll_interval_ms=100)  # a GrokImagine task is a video
    assert (seen.status, seen.size, seen.seconds) == ("completed", "480x480", "6")

    video = openai_client.videos.create(prompt="a fox", size="480x480", seconds="6")
    status = http_get(f"{server.url}/v1/status", headers=auth, params={"task_id": video.id})
    assert status.json()["data"]["consumed_credits"] == 40  # as /v1/generate's reference
    listed = http_get(f"{server.url}/v1/tasks", headers=auth).json()["data"]["tasks"]
    assert [task["task_id"] for task in listed] == [video.id, task_id]
    assert balance(server) == before - 80
    # Its event stream is the one every task has: it ends with the completed state.
    events = f"{server.url}/v1/tasks/{video.id}/events"
    with httpx.stream("GET", events, headers=auth, timeout=60) as stream:
        states = [
            json.loads(line.removeprefix("data:"))["status"]
            for line in stream.iter_lines()
            if line.startswith("data:")
        ]
    assert states[-1] == "completed"

    # The same Idempotency-Key and body: the same video, charged once.
    key = {"Idempotency-Key": "openai-once"}
    one = openai_client.videos.create(prompt="once", seconds="1", extra_headers=key)
    again = openai_client.videos.create(prompt="once", seconds="1", extra_headers=key)
    assert again.id == one.id
    with pytest.raises(openai.ConflictError):
        openai_client.videos.create(prompt="twice", seconds="1", extra_headers=key)
    openai_client.videos.poll(one.id, poll_interval_ms=100)
    quote = http_post(
        f"{server.url}/v1/quote", headers=auth, json={"prompt": "once", "duration": 1}
    ).json()["data"]["price"]
    assert quote == 10  # the default table: 4 + 6 per second at 480p
    assert balance(server) == before - 80 - quote


@pytest.mark.both_databases
def test_other_accounts_and_bad_keys(server: LiveServer, openai_client: openai.OpenAI) -> None:
    video = openai_client.videos.create(prompt="mine", seconds="1")
    from grokimagine.domain.accounts import accounts

    async def stranger(services):  # type: ignore[no-untyped-def]
        account = await accounts.create_account(services.db, plan="pro", credits_granted=100)
        return (await accounts.create_key(services.db, account.id)).token

    with sdk(server, str(server.call(stranger))) as other:
        for call in (
            lambda: other.videos.retrieve(video.id),
            lambda: other.videos.delete(video.id),
            lambda: other.videos.download_content(video.id),
            lambda: other.videos.remix(video.id, prompt="theirs"),
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                call()
            assert caught.value.code == "video_not_found"
        assert [item.id for item in other.videos.list()] == []
    with (
        sdk(server, "gi_live_not-a-key") as stranger_key,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        stranger_key.videos.list()
    assert caught.value.code == "invalid_api_key"
