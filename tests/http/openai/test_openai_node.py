"""The official ``openai`` npm package (pinned in node/package.json, installed by this test
into the git-ignored node/node_modules) creates, polls, downloads, lists, remixes, edits,
extends and deletes videos on a real server, and gets its own error classes for our errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from tests.live_server import LiveServer

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """node/ with its pinned openai package installed (once; npm's cache makes reruns quick)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed on this machine")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.skip(
                f"npm could not install openai (registry unreachable?): {done.stderr[-500:]}"
            )
    return NODE_DIR


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
