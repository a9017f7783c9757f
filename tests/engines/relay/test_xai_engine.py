"""The xai engine against the strict local fake of xAI's video API, over real HTTP."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx
import pytest

from grokimagine.engines.base import EngineError, GenerationCanceled, InputImage, RenderControl
from grokimagine.engines.registry import EngineConfigError, check_engine
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_AUTH_FAILED,
    PROVIDER_BAD_RESPONSE,
    PROVIDER_BUSY,
    PROVIDER_FAILED,
    PROVIDER_RATE_LIMITED,
    PROVIDER_RESULT_EXPIRED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
)
from grokimagine.engines.relay.xai import XaiEngine

from .fake_xai import FakeXai, XaiScenario
from .helpers import XAI_KEY, ProgressLog, fast_settings, make_request, probe_mp4
from .loopback import closed_port_url

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_success_downloads_a_real_mp4_and_reports_progress_and_cost(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(polls_before_done=3, cost_ticks=4_200_000_000))
    engine = XaiEngine(xai_settings())

    result = engine.generate(make_request(mode="fun"), output, progress.control)

    assert probe_mp4(output) == ("h264", 12)
    assert result.provider_task_id in xai.jobs
    assert result.provider_cost_usd == pytest.approx(0.42)
    assert result.details["model"] == "grok-imagine-video"
    middle = [value for value in progress.values if 0 < value < 0.9]
    assert len(middle) >= 2 and middle == sorted(middle)
    assert progress.values[-1] == 1.0
    body = xai.bodies[0]
    assert body["aspect_ratio"] == "2:3"
    assert body["duration"] == 6
    assert body["resolution"] == "480p"
    assert body["model"] == "grok-imagine-video"
    assert body["prompt"].startswith("a red fox running through snow")
    assert "Style: playful" in body["prompt"]
    # The result URL lives on the CDN: our API key must never travel there.
    assert xai.download_auth == [None]


def test_result_url_works_once_so_the_engine_fetched_it_at_once(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = XaiEngine(xai_settings())
    result = engine.generate(make_request(), output, progress.control)

    job = xai.jobs[result.provider_task_id]
    assert output.stat().st_size == len(xai.mp4)
    late = httpx.get(f"{xai_settings().xai.base_url[:-3]}/vidgen/{job.token}.mp4")
    assert late.status_code == 403


def test_result_url_already_expired_is_a_distinct_error(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(url_ttl=0.0))
    engine = XaiEngine(xai_settings())

    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)

    assert raised.value.code == PROVIDER_RESULT_EXPIRED
    assert not output.exists() and not output.with_name("video.mp4.part").exists()


def test_slow_task_is_polled_with_backoff_until_done(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(polls_before_done=12))
    engine = XaiEngine(xai_settings())

    engine.generate(make_request(), output, progress.control)

    assert xai.calls.count("poll") == 13
    assert probe_mp4(output)[1] == 12


def test_one_image_is_sent_as_a_data_uri(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = XaiEngine(xai_settings())
    request = make_request(images=(InputImage(PNG, "image/png"),))

    engine.generate(request, output, progress.control)

    url = xai.bodies[0]["image"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG
    assert "reference_images" not in xai.bodies[0]


def test_several_images_are_sent_as_reference_images(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = XaiEngine(xai_settings())
    images = (InputImage(PNG, "image/png"), InputImage(b"\xff\xd8\xff" + b"1" * 20, "image/jpeg"))

    engine.generate(make_request(images=images), output, progress.control)

    references = xai.bodies[0]["reference_images"]
    assert [ref["url"].split(";")[0] for ref in references] == ["data:image/png", "data:image/jpeg"]
    assert "image" not in xai.bodies[0]


def test_failed_job_is_provider_failed_and_may_fall_back(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(outcome="failed"))
    engine = XaiEngine(xai_settings())

    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)

    assert (raised.value.code, raised.value.fallback) == (PROVIDER_FAILED, True)
    assert "internal_error" in raised.value.message
    assert not output.exists()


def test_expired_job_is_provider_failed(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(outcome="expired"))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, progress.control)
    assert raised.value.code == PROVIDER_FAILED


@pytest.mark.parametrize(
    "scenario",
    [XaiScenario(outcome="moderated"), XaiScenario(outcome="failed", failure_code="moderated")],
    ids=["respect_moderation_false", "failed_with_moderation_code"],
)
def test_moderation_refusal_is_content_rejected_without_fallback(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path, scenario: XaiScenario
) -> None:
    xai.reset(scenario)
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (CONTENT_REJECTED, False)


def test_429_then_success_honours_retry_after(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(rate_limited_creates=1, rate_limited_polls=1, retry_after=1))
    engine = XaiEngine(xai_settings())

    engine.generate(make_request(), output, progress.control)

    assert xai.calls.count("create") == 2
    assert xai.early_after_429 == 0  # no call came before the Retry-After had passed
    assert probe_mp4(output)[0] == "h264"


def test_429_that_never_ends_is_rate_limited_with_fallback(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(rate_limited_creates=100, retry_after=0))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings(relay_retries=3)).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_RATE_LIMITED, True)
    assert xai.calls.count("create") == 3


def test_job_that_never_finishes_times_out(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(outcome="never"))
    engine = XaiEngine(xai_settings(relay_timeout=0.3))

    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)

    assert (raised.value.code, raised.value.fallback) == (PROVIDER_TIMEOUT, False)
    assert xai.calls.count("poll") >= 2


def test_provider_that_hangs_past_the_request_timeout_is_unavailable(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(create_delay=1.0))
    engine = XaiEngine(xai_settings(relay_request_timeout=0.2, relay_retries=2))

    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)

    assert (raised.value.code, raised.value.fallback) == (PROVIDER_UNAVAILABLE, True)
    assert xai.calls.count("create") == 2


def test_connection_refused_is_unavailable_with_fallback(
    progress: ProgressLog, output: Path
) -> None:
    settings = fast_settings(xai_api_key=XAI_KEY, xai_base_url=f"{closed_port_url()}/v1")
    with pytest.raises(EngineError) as raised:
        XaiEngine(settings).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_UNAVAILABLE, True)


def test_outage_opens_the_breaker_then_tasks_fail_fast_then_it_recovers(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(create_status=503))
    settings = xai_settings(
        relay_retries=2, relay_breaker_failures=2, relay_breaker_reset_seconds=0.3
    )
    engine = XaiEngine(settings)
    for _ in range(2):
        with pytest.raises(EngineError) as raised:
            engine.generate(make_request(), output, progress.control)
        assert raised.value.code == PROVIDER_UNAVAILABLE
    assert xai.calls.count("create") == 4

    # Open: a later task, even through a new engine object, fails without calling xAI.
    with pytest.raises(EngineError) as raised:
        XaiEngine(settings).generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_UNAVAILABLE, True)
    assert "circuit open" in raised.value.message
    assert xai.calls.count("create") == 4

    # After the reset time one trial call goes through; it succeeds and closes the circuit.
    xai.scenario.create_status = None
    threading.Event().wait(0.35)
    engine.generate(make_request(), output, progress.control)
    assert probe_mp4(output)[1] == 12


def test_an_outage_while_polling_does_not_lose_the_running_job(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    # Five polls in a row fail (5xx after retries, then the open circuit); the job still ends.
    xai.reset(XaiScenario(failing_polls=5))
    settings = xai_settings(
        relay_retries=1, relay_breaker_failures=2, relay_breaker_reset_seconds=0.05
    )

    result = XaiEngine(settings).generate(make_request(), output, progress.control)

    assert result.provider_task_id in xai.jobs
    assert probe_mp4(output)[1] == 12
    assert len(xai.jobs) == 1  # no second job was started (nor paid for)


def test_wrong_key_is_an_auth_failure(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = XaiEngine(xai_settings(xai_api_key="xai-wrong"))
    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), output, progress.control)
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_AUTH_FAILED, True)


def test_a_result_that_is_not_mp4_is_refused(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    xai.reset(XaiScenario(result_bytes=b"<html>not a video</html>"))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, progress.control)
    assert raised.value.code == PROVIDER_BAD_RESPONSE


def test_cancel_while_polling_stops_and_frees_the_slot(
    xai: FakeXai, xai_settings, output: Path
) -> None:
    xai.reset(XaiScenario(outcome="never"))
    engine = XaiEngine(xai_settings(relay_max_concurrency=1))
    cancel = threading.Event()
    control = RenderControl(on_progress=lambda _: cancel.set(), cancel_event=cancel)

    with pytest.raises(GenerationCanceled):
        engine.generate(make_request(), output, control)

    slot = engine._client.slot
    assert slot.semaphore.acquire(blocking=False)  # the one slot was given back
    slot.semaphore.release()


def test_concurrency_cap_holds_under_parallel_tasks(
    xai: FakeXai, xai_settings, tmp_path: Path
) -> None:
    xai.reset(XaiScenario(polls_before_done=3))
    engine = XaiEngine(xai_settings(relay_max_concurrency=2))
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            engine.generate(make_request(), tmp_path / f"{index}.mp4", RenderControl())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(xai.jobs) == 6
    assert xai.max_active <= 2
    assert all(probe_mp4(tmp_path / f"{i}.mp4")[1] == 12 for i in range(6))


def test_no_free_slot_within_the_queue_timeout_is_busy(
    xai: FakeXai, xai_settings, progress: ProgressLog, output: Path
) -> None:
    engine = XaiEngine(xai_settings(relay_max_concurrency=1, relay_queue_timeout=0.3))
    slot = engine._client.slot
    slot.semaphore.acquire()
    try:
        with pytest.raises(EngineError) as raised:
            engine.generate(make_request(), output, progress.control)
    finally:
        slot.semaphore.release()
    assert (raised.value.code, raised.value.fallback) == (PROVIDER_BUSY, True)
    assert xai.calls == []


def test_missing_key_is_a_start_up_error() -> None:
    with pytest.raises(EngineConfigError, match="GROKIMAGINE_XAI_API_KEY"):
        check_engine(fast_settings(), "xai")
    with pytest.raises(EngineConfigError):
        XaiEngine(fast_settings())
