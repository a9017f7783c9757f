"""The official ``openai`` npm package (pinned in node/package.json, installed by this test
into the git-ignored node/node_modules) creates, polls, downloads, lists, remixes, edits,
extends and deletes videos on a real server, and gets its own error classes for our errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

from tests.helpers.live_server import LiveServer


@pytest.mark.both_databases
def test_node_sdk_drives_the_videos_api(node_sdk: Path, server: LiveServer, tmp_path: Path) -> None:
    done = subprocess.run(
        ["node", "videos.mjs", f"{server.url}/v1", server.token, str(tmp_path)],
        cwd=node_sdk,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    video = found["video"]
    assert (video["status"], video["size"], video["seconds"]) == ("completed", "1280x720", "1")
    with av.open(found["file"]) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
        assert sum(1 for _ in container.decode(stream)) == 24
    assert found["remix"] == {"status": "completed", "from": video["id"]}
    assert found["edit"] == "completed"
    assert found["extension"]["status"] == "completed"
    assert len(found["listed"]) == 4 and found["listed"][-1] == video["id"]  # newest first
    assert found["deleted"]["deleted"] is True
    errors = found["errors"]
    assert errors["badSize"] == {
        "name": "BadRequestError",
        "status": 400,
        "code": "invalid_request",
        "param": "size",
    }
    assert errors["unknown"]["name"] == "NotFoundError"
    assert errors["badKey"]["name"] == "AuthenticationError"
