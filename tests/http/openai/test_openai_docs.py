"""The Python and Node snippets of docs/openai-sdk.md run, as written, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.helpers.live_server import LiveServer

PAGE = Path(__file__).parents[3] / "docs" / "openai-sdk.md"


def snippet(language: str) -> str:
    """The page's one code block in ``language``."""
    (block,) = re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    return block


def environment(server: LiveServer) -> dict[str, str]:
    return {**os.environ, "GROKIMAGINE_URL": server.url, "GROKIMAGINE_API_KEY": server.token}


def check_kite(folder: Path) -> None:
    with av.open(str(folder / "kite.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
        assert sum(1 for _ in container.decode(stream)) == 4 * 24


@pytest.mark.both_databases
def test_the_python_snippet_runs(server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(snippet("python"))
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "snippet.py"],
        cwd=tmp_path,
        env=environment(server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    first, second, third = done.stdout.strip().splitlines()
    assert first.endswith(" completed 1280x720 4")
    assert second == "completed 6"  # the extension's stitched total: 4 + 2 seconds
    assert third.startswith("size ") and "The size parameter is not valid: offered are " in third
    check_kite(tmp_path)


def test_the_node_snippet_runs(node_sdk: Path, server: LiveServer, tmp_path: Path) -> None:
    script = node_sdk / f"doc-snippet-{tmp_path.name}.mjs"  # beside node_modules, git-ignored
    script.write_text(snippet("js"))
    try:
        done = subprocess.run(
            ["node", str(script)],
            cwd=tmp_path,
            env=environment(server),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        script.unlink()
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()
    assert first.endswith(" completed 1280x720 4")
    assert second in ("queued", "in_progress", "completed")  # the worker may be quick
    check_kite(tmp_path)
