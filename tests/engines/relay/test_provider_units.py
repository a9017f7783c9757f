"""Unit tests of the provider plumbing: breaker, error mapping, polling, request mapping."""

from __future__ import annotations

import threading

import httpx
import pytest

from grokimagine.engines.base import EngineError, GenerationCanceled, InputImage, RenderControl
from grokimagine.engines.relay import openai_videos, xai
from grokimagine.engines.relay.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    CircuitOpenError,
)
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_AUTH_FAILED,
    PROVIDER_BAD_RESPONSE,
    PROVIDER_REJECTED,
    PROVIDER_TIMEOUT,
    ProviderRateLimited,
    ProviderUnavailable,
    parse_error_body,
    parse_retry_after,
    raise_for_provider_status,
)
from grokimagine.engines.relay.media import check_mp4, is_mp4, styled_prompt
from grokimagine.engines.relay.poll import GENERATION_SHARE, PollUpdate, wait_for_job

from .helpers import fast_settings, make_request


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_fail_max_and_lets_one_trial_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(fail_max=2, reset_seconds=10, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpenError):
        breaker.before_call()

    clock.now += 10
    assert breaker.state == HALF_OPEN
    breaker.before_call()  # the one trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_success()
    assert breaker.state == CLOSED
    breaker.before_call()


def test_breaker_failed_trial_reopens_for_another_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(fail_max=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == OPEN
    clock.now += 4.9
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_breaker_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(fail_max=2, reset_seconds=5, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_breaker_counts_concurrent_failures_exactly() -> None:
    breaker = CircuitBreaker(fail_max=400, reset_seconds=5, clock=FakeClock())
    threads = [
        threading.Thread(target=lambda: [breaker.record_failure() for _ in range(50)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state == OPEN


def _response(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"error": {"message": "bad size", "code": "invalid_value"}}, "invalid_value", "bad size"),
        (
            {"code": "Client specified an invalid argument", "error": "no prompt"},
            "Client specified an invalid argument",
            "no prompt",
        ),
        ({"message": "plain"}, "", "plain"),
        (["not", "an", "object"], "", "['not', 'an', 'object']"),
    ],
)
def test_error_bodies_of_both_providers_are_read(body: object, code: str, message: str) -> None:
    parsed = parse_error_body(_response(400, body))
    assert (parsed.code, parsed.message) == (code, message)


def test_error_body_that_is_not_json_keeps_its_text() -> None:
    parsed = parse_error_body(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert parsed.message == "<html>Bad gateway</html>"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"message": "no key"}}, PROVIDER_AUTH_FAILED),
        (403, {"error": {"message": "team blocked"}}, PROVIDER_AUTH_FAILED),
        (400, {"code": "x", "error": "Incorrect API key provided"}, PROVIDER_AUTH_FAILED),
        (400, {"error": {"message": "bad", "code": "invalid_value"}}, PROVIDER_REJECTED),
        (422, {"code": "x", "error": "missing field"}, PROVIDER_REJECTED),
        (400, {"error": {"message": "blocked", "code": "moderation_blocked"}}, CONTENT_REJECTED),
        (400, {"code": "x", "error": "Prompt violates our content policy"}, CONTENT_REJECTED),
    ],
)
def test_client_errors_map_to_codes(status: int, body: object, expected: str) -> None:
    with pytest.raises(EngineError) as raised:
        raise_for_provider_status("p", _response(status, body))
    assert raised.value.code == expected


def test_server_errors_and_429_are_retryable() -> None:
    for status in (500, 502, 503, 504, 408):
        with pytest.raises(ProviderUnavailable):
            raise_for_provider_status("p", _response(status, {}))
    with pytest.raises(ProviderRateLimited) as limited:
        raise_for_provider_status("p", _response(429, {}, **{"Retry-After": "7"}))
    assert limited.value.retry_after == 7.0
    raise_for_provider_status("p", _response(200, {}))


def test_retry_after_in_seconds_only() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_style_presets_are_data_and_can_be_overridden() -> None:
    assert styled_prompt("a cat", "normal") == "a cat"
    assert styled_prompt("a cat", "fun").startswith("a cat\n\nStyle: playful")
    assert styled_prompt("a cat", "fun", {"fun": "cartoon"}) == "a cat\n\nStyle: cartoon."
    assert styled_prompt("a cat", "spicy", {"spicy": ""}) == "a cat"


def test_is_mp4_looks_at_the_ftyp_box(tmp_path, sample_mp4: bytes) -> None:
    good, bad = tmp_path / "a.mp4", tmp_path / "b.mp4"
    good.write_bytes(sample_mp4)
    bad.write_bytes(b"<html></html>")
    assert is_mp4(good) and not is_mp4(bad)
    check_mp4(good, "xai")
    with pytest.raises(EngineError) as refused:
        check_mp4(bad, "xai")
    assert refused.value.code == PROVIDER_BAD_RESPONSE
    assert str(refused.value) == "xai result is not an MP4 file"


def test_xai_body_maps_ratio_duration_resolution_and_notes_what_it_drops() -> None:
    settings = fast_settings(xai_api_key="k")
    body, notes = xai.build_body(
        make_request(ratio="1:1", width=720, height=720, num_frames=480, negative_prompt="blur"),
        settings,
    )
    assert body["aspect_ratio"] == "1:1"
    assert body["resolution"] == "720p"
    assert body["duration"] == 15  # 20 s asked, xAI's maximum
    assert any("negative prompt" in note for note in notes)
    assert "seed" not in body and "negative_prompt" not in body
    pinned, _ = xai.build_body(make_request(), fast_settings(xai_resolution="720p"))
    assert pinned["resolution"] == "720p"


def test_xai_body_limits_reference_images_to_seven() -> None:
    images = tuple(InputImage(bytes([i]) * 8, "image/png") for i in range(9))
    body, _ = xai.build_body(make_request(images=images), fast_settings())
    assert len(body["reference_images"]) == 7


def test_openai_body_sends_own_size_without_a_map_and_extras_on_request() -> None:
    settings = fast_settings(openai_videos_base_url="http://x/v1", openai_videos_send_extras=True)
    body, notes = openai_videos.build_body(
        make_request(negative_prompt="blur", images=(InputImage(b"a", "image/png"),) * 2),
        settings,
    )
    assert body["size"] == "480x720"
    assert body["seconds"] == "6"
    assert (body["seed"], body["negative_prompt"]) == (7, "blur")
    assert "model" not in body
    assert notes == ["1 extra image(s) dropped: one reference only"]
    plain, _ = openai_videos.build_body(make_request(), fast_settings())
    assert "seed" not in plain and "negative_prompt" not in plain


def _config(**overrides: float) -> ProviderConfig:
    values = {"poll_interval": 0.001, "poll_max_interval": 0.002, "job_timeout": 5.0}
    values.update(overrides)
    return ProviderConfig(name="p", base_url="http://x", **values)  # type: ignore[arg-type]


def test_wait_for_job_reports_scaled_progress_and_returns_the_result() -> None:
    updates = iter([PollUpdate(progress=0.2), PollUpdate(progress=0.1), PollUpdate("ok", 1.0)])
    reported: list[float] = []
    result = wait_for_job(lambda: next(updates), RenderControl(reported.append), _config()).result
    assert result == "ok"
    assert reported == [pytest.approx(GENERATION_SHARE * 0.2), pytest.approx(GENERATION_SHARE)]


def test_wait_for_job_times_out_on_its_deadline() -> None:
    clock = FakeClock()

    def poll() -> PollUpdate[str]:
        clock.now += 2
        return PollUpdate(progress=None)

    with pytest.raises(EngineError) as raised:
        wait_for_job(poll, RenderControl(), _config(job_timeout=5.0), clock=clock)
    assert raised.value.code == PROVIDER_TIMEOUT


def test_wait_for_job_stops_when_canceled() -> None:
    control = RenderControl()

    def poll() -> PollUpdate[str]:
        control.cancel_event.set()
        return PollUpdate()

    with pytest.raises(GenerationCanceled):
        wait_for_job(poll, control, _config())
