"""The Python SDK (grokimagine_client) against a real server: create, wait with progress,
download, list, cancel, delete, account; typed errors carrying the task id."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import httpx
import pytest

from grokimagine_client import (
    AsyncGrokImagine,
    AuthenticationError,
    GrokImagine,
    InsufficientCreditsError,
    NotFoundError,
    Task,
    TaskTimeoutError,
)
from tests.helpers.live_server import LiveServer
from tests.helpers.mp4 import decode, solid_png


def test_create_wait_with_progress_and_download_an_mp4(server: LiveServer, tmp_path: Path) -> None:
    updates: list[Task] = []
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        task = client.videos.create_and_wait("a red fox in snow", on_update=updates.append)
        assert task.succeeded and task.progress == 100 and len(task.videos) == 1
        files = client.videos.download(task, tmp_path / "fox.mp4")
    assert files == [tmp_path / "fox.mp4"]
    assert len(decode(files[0]).frames) > 0
    statuses = [update.status for update in updates]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    assert "processing" in statuses or len(statuses) >= 2
    # Each update is a change, never a repeat.
    keys = [(u.status, u.progress, u.queue_position) for u in updates]
    assert all(a != b for a, b in itertools.pairwise(keys))


def test_images_from_files_and_bytes_go_as_data_uris(server: LiveServer, tmp_path: Path) -> None:
    image = tmp_path / "red.png"
    image.write_bytes(solid_png((255, 0, 0)))
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        task = client.videos.create(
            "the red square moves", images=[image, solid_png((0, 0, 255))], n=2, seed=7
        )
        done = client.videos.wait(task.id, timeout=60)
        files = client.videos.download(done.id, tmp_path / "out")
    echoed = done.request["images"]
    assert all(source.startswith("data:image/png;sha256=") for source in echoed)
    assert len(echoed) == 2 and done.raw["options"]["n"] == 2
    assert [file.name for file in files] == [f"{task.id}_0.mp4", f"{task.id}_1.mp4"]


def test_list_pages_cancel_delete_account_and_ledger(idle_server: LiveServer) -> None:
    with GrokImagine(api_key=idle_server.token, base_url=idle_server.url) as client:
        made = [client.videos.create(f"fox {index}") for index in range(3)]
        listed = list(client.videos.list(limit=1))  # three pages of one
        assert [task.id for task in listed] == [task.id for task in reversed(made)]
        assert listed[-1].queue_position == 0
        canceled = client.videos.cancel(made[0].id)
        assert canceled.status == "canceled" and canceled.error_code == "CANCELED"
        deleted = client.videos.delete(made[1].id)
        assert deleted.status == "canceled" and deleted.raw["deleted_at"]
        assert [task.id for task in client.videos.list(status="pending")] == [made[2].id]
        account = client.account.retrieve()
        assert account.balance == 4000 - 40  # two of three refunded
        reasons = [entry.reason for entry in client.account.ledger(limit=2)]
        assert reasons.count("refund") == 2 and reasons.count("reserve") == 3
        assert account.rate_limit["limit"] > 0  # a field the SDK does not model, kept


def test_errors_are_typed_and_carry_status_code_and_task_id(idle_server: LiveServer) -> None:
    with GrokImagine(api_key=idle_server.token, base_url=idle_server.url) as client:
        with pytest.raises(NotFoundError) as missing:
            client.videos.retrieve("task_nope")
        assert (missing.value.status, missing.value.code) == (404, "TASK_NOT_FOUND")
        assert missing.value.task_id == "task_nope"
        with pytest.raises(InsufficientCreditsError) as broke:
            for _ in range(200):
                client.videos.create("spend it all", n=4)
        assert (broke.value.status, broke.value.code) == (402, "INSUFFICIENT_CREDITS")
        quote = client.videos.quote("a fox", n=2)
        assert quote.credits == 80 and quote.raw["n"] == 2  # nothing charged
    with (
        GrokImagine(api_key="gi_live_wrong", base_url=idle_server.url) as stranger,
        pytest.raises(AuthenticationError) as denied,
    ):
        stranger.account.retrieve()
    assert denied.value.status == 401


def test_waiting_gives_up_with_the_task_id_and_the_task_keeps_running(
    idle_server: LiveServer,
) -> None:
    with GrokImagine(api_key=idle_server.token, base_url=idle_server.url) as client:
        task = client.videos.create("a patient fox")
        for stream in (True, False):
            started = time.monotonic()
            with pytest.raises(TaskTimeoutError) as timed_out:
                client.videos.wait(task.id, timeout=0.6, stream=stream)
            assert time.monotonic() - started < 5
            assert timed_out.value.task_id == task.id
            assert timed_out.value.task is not None and timed_out.value.task.status == "pending"
        assert client.videos.retrieve(task.id).status == "pending"


def test_an_interrupted_download_resumes_with_range(server: LiveServer, tmp_path: Path) -> None:
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        task = client.videos.create_and_wait("a fox")
        whole = httpx.get(task.videos[0]).content
        target = tmp_path / "fox.mp4"
        partial = tmp_path / "fox.mp4.part"
        partial.write_bytes(whole[: len(whole) // 3])
        seen: list[tuple[int, int | None]] = []
        client.videos.download(
            task.id, target, on_progress=lambda done, total: seen.append((done, total))
        )
    assert target.read_bytes() == whole
    assert not partial.exists()
    assert seen[0][0] > len(whole) // 3 and seen[-1] == (len(whole), len(whole))


def test_the_key_and_address_come_from_the_environment(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROKIMAGINE_API_KEY", server.token)
    monkeypatch.setenv("GROKIMAGINE_BASE_URL", server.url)
    with GrokImagine() as client:
        assert client.account.retrieve().account_id == server.account_id
    monkeypatch.delenv("GROKIMAGINE_API_KEY")
    with pytest.raises(Exception, match="GROKIMAGINE_API_KEY"):
        GrokImagine()


async def test_the_async_client_does_the_same(server: LiveServer, tmp_path: Path) -> None:
    updates: list[Task] = []
    async with AsyncGrokImagine(api_key=server.token, base_url=server.url) as client:
        task = await client.videos.create_and_wait("an async fox", on_update=updates.append)
        files = await client.videos.download(task, tmp_path)
        listed = [item.id async for item in client.videos.list(limit=1)]
        account = await client.account.retrieve()
        ledger = [entry async for entry in client.account.ledger()]
        with pytest.raises(NotFoundError):
            await client.videos.cancel("task_nope")
    assert updates[-1].status == "completed"
    assert files == [tmp_path / f"{task.id}.mp4"] and len(decode(files[0]).frames) > 0
    assert listed == [task.id]
    assert account.balance == 4000 - 40 and ledger[0].task_id == task.id


async def test_async_wait_times_out_with_the_task_id(idle_server: LiveServer) -> None:
    async with AsyncGrokImagine(api_key=idle_server.token, base_url=idle_server.url) as client:
        task = await client.videos.create("a patient fox")
        with pytest.raises(TaskTimeoutError) as timed_out:
            await client.videos.wait(task.id, timeout=0.5)
    assert timed_out.value.task_id == task.id


def test_the_readmes_five_lines_make_an_mp4(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    readme = (Path(__file__).parents[2] / "sdk" / "python" / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) == 5
    monkeypatch.setenv("GROKIMAGINE_API_KEY", server.token)
    monkeypatch.setenv("GROKIMAGINE_BASE_URL", server.url)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert len(decode(tmp_path / "fox.mp4").frames) > 0
    assert capsys.readouterr().out.split()[-1] == "100"
