"""Extend and edit from the Python client and the command line, against a real server (the
embedded default): the video's length, what was charged, and the CLI's JSON lines."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from grokimagine.domain.media.video_sources import inspect_video
from grokimagine_client import AsyncGrokImagine, GrokImagine
from grokimagine_client.errors import APIError
from tests.helpers.cli import CLIENT, SERVER_COMMAND
from tests.helpers.cli import cli_env as _env
from tests.helpers.live_server import LiveServer


def seconds_of(path: Path) -> float:
    return inspect_video(path.read_bytes(), 60, 1920 * 1080).seconds


def test_extend_a_task_then_edit_the_file_with_the_sdk(server: LiveServer, tmp_path: Path) -> None:
    with GrokImagine(api_key=server.token, base_url=server.url) as client:
        source = client.videos.create_and_wait("a quiet street", duration=2, timeout=60)
        before = client.account.retrieve().balance
        task = client.videos.extend(source, "then it starts to snow", duration=4)
        assert task.status == "pending" and task.request["task_id"] == source.id
        done = client.videos.wait(task.id, timeout=60)
        [extended] = client.videos.download(done, tmp_path / "next.mp4")
        assert seconds_of(extended) == pytest.approx(6.0, abs=0.05)
        assert client.account.retrieve().balance == before - 28  # 4 + 6 * 4, the default table
        edited = client.videos.wait(client.videos.edit(extended, "at night").id, timeout=60)
        [clip] = client.videos.download(edited, tmp_path / "night.mp4")
        assert seconds_of(clip) == pytest.approx(6.0, abs=0.05)
        assert edited.raw["request"]["source"]["video"].startswith("data:video;sha256=")
        with pytest.raises(APIError) as refused:
            client.videos.extend("task_doesnotexist", "more")
        assert refused.value.status == 404


def test_the_async_client_extends_too(server: LiveServer, tmp_path: Path) -> None:
    async def scenario() -> float:
        async with AsyncGrokImagine(api_key=server.token, base_url=server.url) as client:
            source = await client.videos.create_and_wait("a lake", duration=1, timeout=60)
            task = await client.videos.extend(source.id, "a boat appears", duration=2)
            done = await client.videos.wait(task.id, timeout=60)
            [path] = await client.videos.download(done, tmp_path / "boat.mp4")
            return seconds_of(path)

    assert asyncio.run(scenario()) == pytest.approx(3.0, abs=0.05)


def test_grokimagine_extend_task_id_wait_output(server: LiveServer, tmp_path: Path) -> None:
    made = subprocess.run(
        [*CLIENT, "generate", "a red fox in snow", "--duration", "2", "--wait"],
        env=_env(server), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    task_id = json.loads(made.stdout.splitlines()[-1])["task_id"]
    target = tmp_path / "next.mp4"
    done = subprocess.run(
        [*SERVER_COMMAND, "extend", task_id, "then it starts to snow", "--duration", "4",
         "--wait", "-o", str(target)],
        env=_env(server), capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [line["event"] for line in lines][-2:] == ["completed", "saved"]
    assert seconds_of(target) == pytest.approx(6.0, abs=0.05)
    edited = subprocess.run(
        [*CLIENT, "edit", str(target), "the same at night", "--mode", "fun"],
        env=_env(server), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    (shown,) = [json.loads(line) for line in edited.stdout.splitlines() if line.strip()]
    assert shown["status"] == "pending"
    missing = subprocess.run(
        [*CLIENT, "extend", str(tmp_path / "nope.mp4"), "p"],
        env=_env(server), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "neither a task id" in missing.stdout + missing.stderr
