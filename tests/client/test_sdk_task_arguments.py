"""The SDK takes a task or its id wherever it follows one, and ``create_and_wait`` keeps
``create``'s typed options (issue 25)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from grokimagine_client import AsyncGrokImagine, GrokImagine
from tests.helpers.live_server import LiveServer
from tests.helpers.mp4 import decode


def test_wait_and_download_take_a_task_or_its_id(server: LiveServer, tmp_path: Path) -> None:
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        task = client.videos.create("a fox", duration=2, seed=3)
        by_task = client.videos.wait(task, timeout=60)
        by_id = client.videos.wait(task.id, timeout=60)
        assert by_task.id == by_id.id == task.id and by_task.succeeded
        (saved,) = client.videos.download(by_task, tmp_path / "fox.mp4")
        (again,) = client.videos.download(task.id, tmp_path / "again.mp4")
    assert len(decode(saved).frames) > 0 and again.read_bytes() == saved.read_bytes()


async def test_async_wait_takes_a_task(server: LiveServer) -> None:
    async with AsyncGrokImagine(api_key=server.token, base_url=server.url) as client:
        task = await client.videos.create("an async fox")
        done = await client.videos.wait(task, timeout=60)
    assert done.id == task.id and done.succeeded


def test_wait_refuses_what_is_neither_a_task_nor_an_id() -> None:
    with (
        GrokImagine(api_key="gi_live_x", base_url="http://127.0.0.1:9") as client,
        pytest.raises(TypeError, match="task id or a Task"),
    ):
        client.videos.wait(42, timeout=1)  # type: ignore[arg-type]


def test_create_and_wait_sends_the_typed_options(server: LiveServer) -> None:
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        done = client.videos.create_and_wait("a fox", duration=2, n=2, seed=11, timeout=60)
    assert done.raw["options"]["n"] == 2 and done.raw["options"]["seed"] == 11
    assert done.raw["options"]["duration"] == 2


@pytest.mark.parametrize("client_class", [GrokImagine, AsyncGrokImagine])
def test_create_and_wait_declares_every_option_of_create(client_class: type) -> None:
    videos = client_class(api_key="gi_live_x").videos
    create = inspect.signature(videos.create).parameters
    both = inspect.signature(videos.create_and_wait).parameters
    for name, parameter in create.items():
        assert name in both, name
        assert both[name].annotation == parameter.annotation, name
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in both.values())
