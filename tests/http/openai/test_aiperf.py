"""NVIDIA AIPerf's video-generation profile (``--endpoint-type video_generation``) runs against
the embedded default (the preview engine) with no errors.

AIPerf cannot live in the test extra: its exact pins (pillow, orjson, prometheus-client, ...)
clash with ours. Install it in a venv of its own and point ``GROKIMAGINE_TEST_AIPERF`` at its
``aiperf`` executable (``bench/aiperf_video.py`` documents the setup); without it this skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.live_server import live_server
from tests.helpers.openai_sdk import openai_settings

BENCH = Path(__file__).parents[3] / "bench"


def aiperf_executable() -> Path:
    found = os.environ.get("GROKIMAGINE_TEST_AIPERF") or shutil.which("aiperf")
    if not found:
        pytest.skip("AIPerf is not installed: set GROKIMAGINE_TEST_AIPERF to its executable")
    return Path(found)


def aiperf_environment() -> dict[str, str]:
    """This process's environment for AIPerf, without the hub's offline switch.

    AIPerf 0.13 in offline mode looks a tokenizer up only in the hub's cache, so it refuses a
    local folder; and the diffusers engine sets ``HF_HUB_OFFLINE`` in whichever process builds
    it, which may be this test worker. A local tokenizer needs no network either way.
    """
    environment = {**os.environ, "AIPERF_HTTP_VIDEO_POLL_INTERVAL": "0.1"}
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        environment.pop(name, None)
    return environment


# The wire shape is the same on either database (the SDK tests run both): one is enough here.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_aiperf_video_profile_has_no_errors(database_url: str, tmp_path: Path) -> None:
    aiperf = aiperf_executable()
    tokenizer = tmp_path / "tokenizer"
    readme = BENCH.parent / "README.md"
    subprocess.run(
        [aiperf.parent / "python", BENCH / "aiperf_tokenizer.py", readme, tokenizer],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # A plan limit that AIPerf's polling never meets: this test is about the shape, not limits.
    plans = {"pro": {"requests_per_minute": 1_000_000}}
    with live_server(openai_settings(database_url, tmp_path, plans=plans)) as server:
        command = [
            *(aiperf, "profile", "--model", "grokimagine-video", "--url", server.url),
            *("--endpoint-type", "video_generation", "--api-key", server.token),
            *("--tokenizer", tokenizer, "--request-count", "4", "--concurrency", "2"),
            *("--extra-inputs", "size:854x480", "--extra-inputs", "seconds:1"),
            *("--artifact-dir", tmp_path / "artifacts", "--ui-type", "none"),
        ]
        done = subprocess.run(
            command,
            env=aiperf_environment(),
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "artifacts" / "profile_export_aiperf.json").read_text())
    assert result["request_count"]["avg"] == 4
    assert result["request_error_rate"]["avg"] == 0
    assert not result["error_summary"]
    assert result["request_latency"]["count"] == 4
