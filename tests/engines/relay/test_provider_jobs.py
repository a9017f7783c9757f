"""Provider jobs as providers run them: odd poll answers, resumed jobs, costs, safe downloads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokimagine.engines.base import EngineError, GenerationCanceled, ProviderJob, RenderControl
from grokimagine.engines.relay.errors import PROVIDER_BAD_RESPONSE, PROVIDER_TIMEOUT
from grokimagine.engines.relay.openai_videos import OpenAIVideosEngine
from grokimagine.engines.relay.xai import XaiEngine

from .fake_openai import FakeOpenAIVideos, OpenAIScenario
from .fake_xai import FakeXai, XaiScenario
from .helpers import make_request, probe_mp4


class JobLog:
    """A RenderControl for engine ``name`` that keeps the provider jobs it is told about."""

    def __init__(self, name: str, resume: str | None = None) -> None:
        self.jobs: list[ProviderJob] = []
        self.control = RenderControl(
            provider_jobs={name: resume} if resume else {},
            on_provider_job=lambda engine, job: self.jobs.append(job),
            engine_name=name,
        )

    @property
    def states(self) -> list[tuple[str, str]]:
        return [(job.job_id, job.state) for job in self.jobs]


class ConnectionCounter:
    """A TCP listener on an address of its own that counts the connections it accepts."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}/video.mp4"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[ConnectionCounter]:
    # 127.0.0.2 is loopback too, but not the fake's (trusted) API host.
    counter = ConnectionCounter("127.0.0.2")
    yield counter
    counter.close()


# -- poll answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        XaiScenario(empty_202_polls=3),
        XaiScenario(text_202_polls=2),
        XaiScenario(odd_statuses=("queued", "processing", "in_progress", "")),
        XaiScenario(empty_202_polls=1, text_202_polls=1, odd_statuses=("starting",)),
    ],
    ids=["empty-202", "text-202", "unknown-statuses", "all-of-them"],
)
def test_202_without_json_and_unknown_statuses_mean_still_running(
    xai: FakeXai, xai_settings, output: Path, scenario: XaiScenario
) -> None:
    xai.reset(scenario)
    log = JobLog("xai")
    result = XaiEngine(xai_settings()).generate(make_request(), output, log.control)
    assert probe_mp4(output)[0] == "h264"
    assert xai.calls.count("create") == 1
    assert xai.calls.count("poll") >= 3
    assert result.provider_cost_usd == 0.5  # 5e9 ticks


def test_unknown_statuses_end_at_the_relay_timeout(
    xai: FakeXai, xai_settings, output: Path
) -> None:
    xai.reset(XaiScenario(odd_statuses=("queued",) * 10_000))
    log = JobLog("xai")
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings(relay_timeout=0.5)).generate(make_request(), output, log.control)
    assert raised.value.code == PROVIDER_TIMEOUT
    job_id = next(iter(xai.jobs))
    # The timed-out job keeps its id, for a late result.
    assert log.states == [(job_id, "running"), (job_id, "timed_out")]


def test_openai_videos_treats_an_empty_202_as_still_running(
    fake_openai: FakeOpenAIVideos, openai_settings, output: Path
) -> None:
    fake_openai.reset(OpenAIScenario(empty_202_polls=2))
    log = JobLog("openai-videos")
    OpenAIVideosEngine(openai_settings()).generate(make_request(), output, log.control)
    assert probe_mp4(output)[0] == "h264"
    assert fake_openai.calls.count("poll") >= 3
    assert [state for _, state in log.states] == ["running", "done"]


# -- jobs stored and resumed ---------------------------------------------------------------


def test_a_job_is_recorded_when_accepted_and_when_done_with_its_cost(
    xai: FakeXai, xai_settings, output: Path
) -> None:
    log = JobLog("xai")
    XaiEngine(xai_settings()).generate(make_request(), output, log.control)
    job_id = next(iter(xai.jobs))
    assert log.states == [(job_id, "running"), (job_id, "done")]
    assert log.jobs[1].cost_usd == 0.5


def test_a_resumed_job_is_polled_not_created_again(
    xai: FakeXai, xai_settings, output: Path, tmp_path: Path
) -> None:
    xai.reset(XaiScenario(polls_before_done=3))
    engine = XaiEngine(xai_settings())
    # A first run that stops (canceled, as a worker stopping does) after the job was accepted.
    first = JobLog("xai")
    first.control.on_provider_job = lambda engine, job: (
        first.jobs.append(job),
        first.control.cancel_event.set(),
    )
    with pytest.raises(GenerationCanceled):
        engine.generate(make_request(), tmp_path / "first.mp4", first.control)
    job_id = first.jobs[0].job_id
    assert xai.calls.count("create") == 1

    second = JobLog("xai", resume=job_id)
    result = engine.generate(make_request(), output, second.control)
    assert xai.calls.count("create") == 1  # no second job, no second payment
    assert result.provider_task_id == job_id
    assert second.states == [(job_id, "done")]
    assert probe_mp4(output)[0] == "h264"


def test_a_resumed_job_the_provider_no_longer_knows_is_replaced(
    xai: FakeXai, xai_settings, output: Path
) -> None:
    log = JobLog("xai", resume="job-lost-long-ago")
    result = XaiEngine(xai_settings()).generate(make_request(), output, log.control)
    new_id = result.provider_task_id
    assert xai.calls.count("create") == 1 and new_id != "job-lost-long-ago"
    assert log.states == [("job-lost-long-ago", "gone"), (new_id, "running"), (new_id, "done")]


def test_a_resumed_job_that_expired_is_replaced(
    xai: FakeXai, xai_settings, output: Path, tmp_path: Path
) -> None:
    engine = XaiEngine(xai_settings())
    engine.generate(make_request(), tmp_path / "x.mp4", JobLog("xai").control)
    expired = next(iter(xai.jobs))
    xai.jobs[expired].expired = True
    log = JobLog("xai", resume=expired)
    result = engine.generate(make_request(), output, log.control)
    assert xai.calls.count("create") == 2
    assert log.states[0] == (expired, "gone")
    assert log.states[-1] == (result.provider_task_id, "done")


def test_openai_videos_resumes_its_job_too(
    fake_openai: FakeOpenAIVideos, openai_settings, output: Path, tmp_path: Path
) -> None:
    engine = OpenAIVideosEngine(openai_settings())
    first = JobLog("openai-videos")
    first.control.on_provider_job = lambda engine, job: (
        first.jobs.append(job),
        first.control.cancel_event.set(),
    )
    with pytest.raises(GenerationCanceled):
        engine.generate(make_request(), tmp_path / "first.mp4", first.control)
    video_id = first.jobs[0].job_id
    creates = fake_openai.calls.count("create")
    log = JobLog("openai-videos", resume=video_id)
    result = engine.generate(make_request(), output, log.control)
    assert fake_openai.calls.count("create") == creates
    assert result.provider_task_id == video_id


# -- result downloads through the SSRF guard -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/video.mp4",
        "http://[::1]:9/video.mp4",
        "file:///etc/passwd",
    ],
)
def test_a_result_url_at_a_private_address_is_refused(
    xai: FakeXai, xai_settings, output: Path, url: str
) -> None:
    # The fake's own host (127.0.0.1, the configured API base) is trusted; these are not.
    xai.reset(XaiScenario(video_url=url))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, JobLog("xai").control)
    assert raised.value.code == PROVIDER_BAD_RESPONSE
    assert not output.exists()


def test_nothing_connects_to_a_loopback_result_url(
    xai: FakeXai, xai_settings, output: Path, listener: ConnectionCounter
) -> None:
    xai.reset(XaiScenario(video_url=listener.url))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, JobLog("xai").control)
    assert raised.value.code == PROVIDER_BAD_RESPONSE
    assert "SSRF" in raised.value.message
    assert listener.accepted == 0


def test_a_redirect_to_a_private_address_is_refused(
    xai: FakeXai, xai_settings, output: Path, listener: ConnectionCounter
) -> None:
    # The CDN URL is on the trusted API host; it redirects to an address that is not.
    xai.reset(XaiScenario(cdn_redirect=listener.url))
    with pytest.raises(EngineError) as raised:
        XaiEngine(xai_settings()).generate(make_request(), output, JobLog("xai").control)
    assert raised.value.code == PROVIDER_BAD_RESPONSE
    assert listener.accepted == 0


def test_the_allowlist_lets_a_private_result_host_through(
    xai: FakeXai, xai_settings, output: Path, listener: ConnectionCounter
) -> None:
    xai.reset(XaiScenario(video_url=listener.url))
    engine = XaiEngine(xai_settings(fetch_allowlist=["127.0.0.2"]))
    with pytest.raises(EngineError):  # the listener closes at once: not a video
        engine.generate(make_request(), output, JobLog("xai").control)
    assert listener.accepted >= 1


def test_an_openai_videos_content_redirect_to_a_private_address_is_refused(
    fake_openai: FakeOpenAIVideos, openai_settings, output: Path, listener: ConnectionCounter
) -> None:
    # The content endpoint is on the trusted API base; where it redirects to is not.
    fake_openai.reset(OpenAIScenario(content_redirect=listener.url))
    with pytest.raises(EngineError) as raised:
        OpenAIVideosEngine(openai_settings()).generate(
            make_request(), output, JobLog("openai-videos").control
        )
    assert raised.value.code == PROVIDER_BAD_RESPONSE
    assert listener.accepted == 0


def test_an_openai_videos_content_redirect_to_an_allowed_host_is_followed(
    fake_openai: FakeOpenAIVideos, openai_settings, output: Path, listener: ConnectionCounter
) -> None:
    # Allowed by the allow-list, the redirect is followed (by the client without the API key).
    fake_openai.reset(OpenAIScenario(content_redirect=listener.url))
    engine = OpenAIVideosEngine(openai_settings(fetch_allowlist=["127.0.0.2"]))
    with pytest.raises(EngineError):  # the listener closes at once: not a video
        engine.generate(make_request(), output, JobLog("openai-videos").control)
    assert listener.accepted >= 1
