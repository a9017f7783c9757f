"""The sglang and vllm-omni engines against strict fakes of each server, over real HTTP."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokimagine.engines.base import EngineError, InputImage, ProviderJob, RenderControl
from grokimagine.engines.registry import EngineConfigError, check_engine, engine_capabilities
from grokimagine.engines.relay.errors import (
    PROVIDER_AUTH_FAILED,
    PROVIDER_FAILED,
    PROVIDER_REJECTED,
    PROVIDER_RESULT_EXPIRED,
    PROVIDER_TIMEOUT,
)
from grokimagine.engines.relay.fleet_engine import FleetEngine, SglangEngine, VllmOmniEngine
from grokimagine.engines.relay.openai_videos import OpenAIVideosEngine
from grokimagine.settings import Settings

from .fake_sglang import FakeSglang, SglangScenario
from .fake_vllm_omni import VLLM_MODEL, FakeVllmOmni, VllmScenario
from .helpers import VLLM_KEY, ProgressLog, fast_settings, make_request, probe_mp4, wait_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 32


@pytest.fixture
def engines() -> Iterator[list[FleetEngine]]:
    """Engines a test builds, closed (probe threads stopped) when it ends."""
    built: list[FleetEngine] = []
    yield built
    for engine in built:
        engine.close()


@pytest.fixture
def sglang_engine(sglang_server: tuple[FakeSglang, str], engines: list[FleetEngine]) -> Any:
    _, base_url = sglang_server

    def make(**overrides: Any) -> SglangEngine:
        values = {"sglang_nodes": [f"{base_url}/v1"], **overrides}
        engine = SglangEngine(fast_settings(**values))
        engines.append(engine)
        return engine

    return make


@pytest.fixture
def vllm_engine(vllm_server: tuple[FakeVllmOmni, str], engines: list[FleetEngine]) -> Any:
    _, base_url = vllm_server

    def make(**overrides: Any) -> VllmOmniEngine:
        values = {
            "vllm_omni_nodes": [f"{base_url}/v1"],
            "vllm_omni_api_key": VLLM_KEY,
            **overrides,
        }
        engine = VllmOmniEngine(fast_settings(**values))
        engines.append(engine)
        return engine

    return make


def _recording_control(engine: str) -> tuple[RenderControl, list[ProviderJob]]:
    jobs: list[ProviderJob] = []
    control = RenderControl(on_provider_job=lambda _engine, job: jobs.append(job))
    control.engine_name = engine
    return control, jobs


# -- SGLang Diffusion --------------------------------------------------------------------------


def test_sglang_text_to_video_sends_json_and_downloads_without_a_variant(
    sglang: FakeSglang, sglang_engine: Any, progress: ProgressLog, output: Path
) -> None:
    sglang.reset(SglangScenario(render_seconds=0.3))
    engine = sglang_engine(sglang_num_inference_steps=30, sglang_guidance_scale=5.0)
    request = make_request(negative_prompt="blurry", ratio="3:2", width=720, height=480)

    result = engine.generate(request, output, progress.control)

    assert probe_mp4(output) == ("h264", 12)
    body = sglang.bodies[0]
    assert body["size"] == "720x480" and body["num_frames"] == 144 and body["fps"] == 24
    assert body["seconds"] == 6 and body["seed"] == 7 and body["negative_prompt"] == "blurry"
    assert (body["num_inference_steps"], body["guidance_scale"]) == (30, 5.0)
    assert "reference_url" not in body
    middle = [value for value in progress.values if 0 < value < 0.9]
    assert middle and middle == sorted(middle)  # the node's percentage, scaled
    assert progress.values[-1] == 1.0
    video_id, _, node = result.provider_task_id.rpartition("@")
    assert node == result.details["node"] and video_id in sglang.deleted  # its disk freed
    assert sglang.calls.count("content") == 1


def test_sglang_image_to_video_sends_the_image_as_a_data_uri(
    sglang: FakeSglang, sglang_engine: Any, progress: ProgressLog, output: Path
) -> None:
    request = make_request(images=(InputImage(PNG, "image/png"),))
    sglang_engine().generate(request, output, progress.control)
    reference = sglang.bodies[0]["reference_url"]
    assert reference.startswith("data:image/png;base64,")
    assert base64.b64decode(reference.split(",", 1)[1]) == PNG


def test_sglang_job_that_skips_in_progress_completes(
    sglang: FakeSglang, sglang_engine: Any, progress: ProgressLog, output: Path
) -> None:
    sglang.reset(SglangScenario(reports_progress=False, render_seconds=0.1))
    sglang_engine().generate(make_request(), output, progress.control)
    assert probe_mp4(output)[1] == 12
    assert [value for value in progress.values if 0 < value < 0.9] == []


def test_sglang_failed_job_is_provider_failed_with_its_message(
    sglang: FakeSglang, sglang_engine: Any, output: Path
) -> None:
    sglang.reset(SglangScenario(outcome="failed", failure_message="CUDA out of memory"))
    control, jobs = _recording_control("sglang")
    with pytest.raises(EngineError) as raised:
        sglang_engine().generate(make_request(), output, control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_FAILED, True)
    assert "CUDA out of memory" in raised.value.message
    assert [job.state for job in jobs] == ["running", "failed"]
    assert not output.exists()


def test_sglang_refusal_reads_fastapis_detail(
    sglang: FakeSglang, sglang_engine: Any, output: Path
) -> None:
    engine = sglang_engine(sglang_sizes={"2:3": "480x720p"})  # not WIDTHxHEIGHT digits
    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, RenderControl())
    assert raised.value.code == PROVIDER_REJECTED
    assert "Invalid request body" in raised.value.message
    assert sglang.calls == ["create"]  # a refusal is not retried


def test_sglang_job_that_never_finishes_times_out(
    sglang: FakeSglang, sglang_engine: Any, output: Path
) -> None:
    sglang.reset(SglangScenario(outcome="never"))
    control, jobs = _recording_control("sglang")
    with pytest.raises(EngineError) as raised:
        sglang_engine(relay_timeout=0.3).generate(make_request(), output, control)
    assert raised.value.code == PROVIDER_TIMEOUT
    assert jobs[-1].state == "timed_out"


def test_a_job_left_by_a_crashed_worker_is_resumed_on_its_node_not_rendered_again(
    sglang: FakeSglang, sglang_server: tuple[FakeSglang, str], sglang_engine: Any, output: Path
) -> None:
    _, base_url = sglang_server
    sglang.reset(SglangScenario(render_seconds=0.3))
    created = httpx.post(f"{base_url}/v1/videos", json={"prompt": "left running"}).json()
    ref = f"{created['id']}@{base_url.removeprefix('http://')}"
    control, jobs = _recording_control("sglang")
    control.provider_jobs = {"sglang": ref}

    result = sglang_engine().generate(make_request(), output, control)

    assert result.provider_task_id == ref
    assert sglang.calls.count("create") == 1  # only the crashed run's
    assert [job.state for job in jobs] == ["done"]
    assert probe_mp4(output)[1] == 12


def test_todays_openai_relay_fails_against_sglang_on_the_variant(
    sglang: FakeSglang, sglang_server: tuple[FakeSglang, str], output: Path
) -> None:
    # The finding of issue 23: the job completes, but content?variant=video is a 404.
    _, base_url = sglang_server
    settings = fast_settings(openai_videos_base_url=f"{base_url}/v1")
    engine = OpenAIVideosEngine(settings)
    try:
        with pytest.raises(EngineError) as raised:
            engine.generate(make_request(), output, RenderControl())
    finally:
        engine.close()
    assert raised.value.code == PROVIDER_RESULT_EXPIRED
    assert "completed" in {job.video["status"] for job in sglang.jobs.values()}


# -- vLLM-Omni ---------------------------------------------------------------------------------


def test_vllm_text_to_video_sends_a_multipart_form(
    vllm: FakeVllmOmni, vllm_engine: Any, progress: ProgressLog, output: Path
) -> None:
    engine = vllm_engine(vllm_omni_model=VLLM_MODEL, vllm_omni_sizes={"2:3": "704x1280"})
    control, jobs = _recording_control("vllm-omni")

    result = engine.generate(make_request(negative_prompt="text"), output, control)

    assert probe_mp4(output) == ("h264", 12)
    form = vllm.forms[0]
    assert form["size"] == "704x1280" and form["seconds"] == "6" and form["num_frames"] == 144
    assert form["model"] == VLLM_MODEL and form["negative_prompt"] == "text" and form["seed"] == 7
    assert "input_reference" not in form
    assert [job.state for job in jobs] == ["running", "done"]
    assert result.provider_task_id == jobs[0].job_id


def test_vllm_image_to_video_uploads_the_image_file(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    request = make_request(images=(InputImage(PNG, "image/png"),))
    vllm_engine().generate(request, output, RenderControl())
    assert vllm.forms[0]["input_reference"] == PNG


def test_vllm_failed_job_answered_with_a_500_is_a_failure_not_an_outage(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    vllm.reset(VllmScenario(outcome="failed", render_seconds=0.05))
    control, jobs = _recording_control("vllm-omni")
    with pytest.raises(EngineError) as raised:
        vllm_engine().generate(make_request(), output, control)
    assert raised.value.code == PROVIDER_FAILED
    assert "generation failed" in raised.value.message
    assert [job.state for job in jobs] == ["running", "failed"]
    assert vllm.calls.count("content") == 0


def test_vllm_refuses_another_model_and_a_wrong_key(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    with pytest.raises(EngineError) as raised:
        vllm_engine(vllm_omni_model="other/model").generate(make_request(), output, RenderControl())
    assert raised.value.code == PROVIDER_REJECTED and "Model mismatch" in raised.value.message
    with pytest.raises(EngineError) as raised:
        vllm_engine(vllm_omni_api_key="wrong").generate(make_request(), output, RenderControl())
    assert raised.value.code == PROVIDER_AUTH_FAILED


def test_vllm_synchronous_route_answers_the_video_itself(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    result = vllm_engine(vllm_omni_sync=True).generate(make_request(), output, RenderControl())
    assert probe_mp4(output)[1] == 12
    assert vllm.calls == ["sync"]  # no job, no poll, no download
    assert result.provider_task_id and result.provider_task_id.startswith("video_sync-")


def test_vllm_synchronous_failure_is_provider_failed(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    vllm.reset(VllmScenario(outcome="failed", render_seconds=0.01))
    with pytest.raises(EngineError) as raised:
        vllm_engine(vllm_omni_sync=True).generate(make_request(), output, RenderControl())
    assert raised.value.code == PROVIDER_FAILED
    assert not output.exists()


def test_vllm_cancel_aborts_the_job_on_the_node(
    vllm: FakeVllmOmni, vllm_engine: Any, output: Path
) -> None:
    vllm.reset(VllmScenario(outcome="never"))
    control = RenderControl()
    engine = vllm_engine()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            engine.generate(make_request(), output, control)
        except BaseException as exc:  # the GenerationCanceled under test
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_for(lambda: bool(vllm.jobs) and "poll" in vllm.calls)
    control.cancel_event.set()
    thread.join(timeout=10)
    assert type(failure[0]).__name__ == "GenerationCanceled"
    assert "delete" in vllm.calls and vllm.jobs == {}


def test_todays_openai_relay_fails_against_vllm_on_json(
    vllm: FakeVllmOmni, vllm_server: tuple[FakeVllmOmni, str], output: Path
) -> None:
    _, base_url = vllm_server
    settings = fast_settings(
        openai_videos_base_url=f"{base_url}/v1", openai_videos_api_key=VLLM_KEY
    )
    engine = OpenAIVideosEngine(settings)
    try:
        with pytest.raises(EngineError) as raised:
            engine.generate(make_request(), output, RenderControl())
    finally:
        engine.close()
    assert raised.value.code == PROVIDER_REJECTED
    assert "prompt: Field required" in raised.value.message


# -- settings ----------------------------------------------------------------------------------


def test_fleet_settings_are_checked_at_start_up() -> None:
    with pytest.raises(EngineConfigError, match="GROKIMAGINE_SGLANG_NODES"):
        check_engine(fast_settings(), "sglang")
    with pytest.raises(EngineConfigError, match="twice"):
        check_engine(
            fast_settings(vllm_omni_nodes=["http://gpu1:8000/v1", "http://gpu1:8000/v1"]),
            "vllm-omni",
        )
    settings = Settings(
        sglang_nodes='[{"url": "http://gpu1:30000/v1", "weight": 2, "concurrency": 3}]',
        sglang_durations=[2, 4],
        sglang_image_to_video=True,
    )
    check_engine(settings, "sglang")
    capabilities = engine_capabilities(settings, "sglang")
    assert capabilities.durations == (2, 4) and capabilities.max_images == 1
    assert settings.sglang.nodes[0].concurrency == 3
