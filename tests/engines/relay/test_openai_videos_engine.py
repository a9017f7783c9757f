"""The openai-videos engine against the strict local fake of OpenAI's /v1/videos, over HTTP."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from grokimagine.engines.base import EngineError, InputImage
from grokimagine.engines.registry import EngineConfigError, check_engine
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_AUTH_FAILED,
    PROVIDER_FAILED,
    PROVIDER_REJECTED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
)
from grokimagine.engines.relay.openai_videos import OpenAIVideosEngine

from .fake_openai import FakeOpenAIVideos, OpenAIScenario
from .helpers import OPENAI_KEY, ProgressLog, fast_settings, make_request, probe_mp4

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


def test_success_maps_the_request_and_downloads_the_content(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(polls_before_done=3))
    engine = OpenAIVideosEngine(openai_settings())
    request = make_request(
        ratio="3:2", width=720, height=480, images=(InputImage(PNG, "image/png"),)
    )

    result = engine.generate(request, output, progress.control)

    assert probe_mp4(output) == ("h264", 12)
    assert result.provider_task_id in fake_openai.jobs
    assert result.provider_cost_usd is None  # the Video object carries no cost
    body = fake_openai.bodies[0]
    assert body["size"] == "1280x720"
    assert body["seconds"] == "8"  # 6 s requested, nearest allowed value is 8 (ties go up)
    assert body["model"] == "sora-2"
    reference = body["input_reference"]["image_url"]
    assert base64.b64decode(reference.split(",", 1)[1]) == PNG
    middle = [value for value in progress.values if 0 < value < 0.9]
    assert len(middle) >= 2 and middle == sorted(middle)
    assert progress.values[-1] == 1.0
    # The content endpoint serves once: a second fetch finds nothing.
    base = openai_settings().openai_videos.base_url
    late = httpx.get(
        f"{base}/videos/{result.provider_task_id}/content",
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
    )
    assert late.status_code == 404


def test_failed_video_is_provider_failed(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(outcome="failed"))
    with pytest.raises(EngineError) as raised:
        OpenAIVideosEngine(openai_settings()).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_FAILED, True)
    assert not output.exists()


def test_moderation_failure_is_content_rejected(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(outcome="failed", failure_code="moderation_blocked"))
    with pytest.raises(EngineError) as raised:
        OpenAIVideosEngine(openai_settings()).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (CONTENT_REJECTED, False)


def test_429_on_polls_is_waited_out(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(rate_limited_polls=4))
    engine = OpenAIVideosEngine(openai_settings(relay_retries=2))

    engine.generate(make_request(), output, progress.control)

    assert fake_openai.calls.count("poll") >= 4 + 3
    assert probe_mp4(output)[1] == 12


def test_video_that_never_completes_times_out(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(outcome="never"))
    with pytest.raises(EngineError) as raised:
        OpenAIVideosEngine(openai_settings(relay_timeout=0.3)).generate(
            make_request(), output, progress.control
        )
    assert raised.value.code == PROVIDER_TIMEOUT


def test_unmapped_size_is_refused_by_a_strict_server(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    # Without a size map the request's own size is sent, which OpenAI itself does not offer.
    engine = OpenAIVideosEngine(openai_settings(openai_videos_sizes={}))
    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_REJECTED, True)
    assert "size" in raised.value.message


def test_wrong_key_is_an_auth_failure(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = OpenAIVideosEngine(openai_settings(openai_videos_api_key="sk-wrong"))
    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_AUTH_FAILED, True)


def test_outage_opens_the_breaker(
    fake_openai: FakeOpenAIVideos, openai_settings, progress: ProgressLog, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(create_status=502))
    engine = OpenAIVideosEngine(openai_settings(relay_retries=1, relay_breaker_failures=3))
    for _ in range(4):
        with pytest.raises(EngineError) as raised:
            engine.generate(make_request(), output, progress.control)
        assert (raised.value.code, raised.value.fallback) == (PROVIDER_UNAVAILABLE, True)
    assert fake_openai.calls.count("create") == 3


def test_missing_base_url_is_a_start_up_error() -> None:
    with pytest.raises(EngineConfigError, match="GROKIMAGINE_OPENAI_VIDEOS_BASE_URL"):
        check_engine(fast_settings(), "openai-videos")
    with pytest.raises(EngineConfigError, match="WxH"):
        check_engine(
            fast_settings(
                openai_videos_base_url="http://127.0.0.1:1/v1",
                openai_videos_sizes={"1:1": "square"},
            ),
            "openai-videos",
        )
