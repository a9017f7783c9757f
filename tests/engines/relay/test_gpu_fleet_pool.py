"""A pool of GPU nodes behind one engine: least-busy choice, a node down, a node lost mid-job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grokimagine.engines.base import (
    EngineError,
    GenerationResult,
    ProviderJob,
    RenderControl,
)
from grokimagine.engines.relay.errors import PROVIDER_UNAVAILABLE
from grokimagine.engines.relay.fleet_engine import SglangEngine, VllmOmniEngine

from .fake_sglang import SGLANG_MODEL, FakeSglang, SglangScenario
from .fake_vllm_omni import FakeVllmOmni, VllmScenario
from .helpers import fast_settings, make_request, probe_mp4, wait_for
from .tcp_proxy import RestartableNode

WAIT = 20.0  # generous: these waits end on events, never on a short clock


@pytest.fixture
def sglang_nodes(sample_mp4: bytes) -> Iterator[list[RestartableNode]]:
    nodes = [RestartableNode(FakeSglang(sample_mp4)) for _ in range(2)]
    yield nodes
    for node in nodes:
        node.close()


@pytest.fixture
def built() -> Iterator[list[Any]]:
    engines: list[Any] = []
    yield engines
    for engine in engines:
        engine.close()


def _sglang_pool(nodes: list[RestartableNode], built: list[Any], **overrides: Any) -> SglangEngine:
    values = {
        "sglang_nodes": [node.url for node in nodes],
        "sglang_probe_seconds": 0.05,
        "relay_retries": 1,
        **overrides,
    }
    engine = SglangEngine(fast_settings(**values))
    built.append(engine)
    return engine


def _control() -> tuple[RenderControl, list[ProviderJob]]:
    jobs: list[ProviderJob] = []
    control = RenderControl(on_provider_job=lambda _engine, job: jobs.append(job))
    control.engine_name = "sglang"
    return control, jobs


def _in_thread(engine: Any, output: Path, control: RenderControl) -> tuple[threading.Thread, list]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(engine.generate(make_request(), output, control))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_jobs_go_to_the_least_busy_node(
    sglang_nodes: list[RestartableNode], built: list[Any], tmp_path: Path
) -> None:
    for node in sglang_nodes:
        node.fake.reset(SglangScenario(render_seconds=0.5))
    engine = _sglang_pool(sglang_nodes, built)
    runs = [_in_thread(engine, tmp_path / f"{n}.mp4", _control()[0]) for n in range(2)]
    for thread, _ in runs:
        thread.join(timeout=WAIT)
    results = [outcome[0] for _, outcome in runs]
    assert all(isinstance(result, GenerationResult) for result in results)
    # Two jobs at once on two idle nodes of one slot each: one job each.
    assert sorted(result.details["node"] for result in results) == sorted(
        node.name for node in sglang_nodes
    )
    assert [len(node.fake.bodies) for node in sglang_nodes] == [1, 1]
    view = {item["name"]: item for item in engine.node_status()}
    assert all(item["jobs_done"] == 1 and item["in_flight"] == 0 for item in view.values())
    assert all(item["latency_p50_s"] >= 0.5 for item in view.values())


def test_a_node_down_gets_no_jobs_and_comes_back(
    sglang_nodes: list[RestartableNode], built: list[Any], tmp_path: Path
) -> None:
    down, up = sglang_nodes
    down.stop()
    engine = _sglang_pool(sglang_nodes, built)

    for n in range(3):  # one slot per node, one job at a time: all on the live node
        result = engine.generate(make_request(), tmp_path / f"{n}.mp4", _control()[0])
        assert result.details["node"] == up.name
    assert engine.pool.by_name(down.name).healthy is False
    assert len(up.fake.bodies) == 3

    down.start()
    engine.pool.start_probing()
    assert engine.pool.wait_until(lambda: engine.pool.by_name(down.name).healthy, WAIT)
    assert engine.pool.by_name(down.name).models == [SGLANG_MODEL]  # from its GET /v1/models
    runs = [_in_thread(engine, tmp_path / f"again{n}.mp4", _control()[0]) for n in range(2)]
    for thread, _ in runs:
        thread.join(timeout=WAIT)
    assert sorted(outcome[0].details["node"] for _, outcome in runs) == sorted([down.name, up.name])
    assert len(down.fake.bodies) == 1


def test_a_node_lost_mid_job_moves_the_job_once_and_records_both(
    sglang_nodes: list[RestartableNode], built: list[Any], tmp_path: Path
) -> None:
    first, second = sglang_nodes
    first.fake.reset(SglangScenario(outcome="never"))
    second.fake.reset(SglangScenario(render_seconds=0.1))
    # Only the first node at first, so that the job starts there.
    engine = _sglang_pool(sglang_nodes, built)
    engine.pool.mark_down(engine.pool.by_name(second.name), "held back by the test")
    control, jobs = _control()
    output = tmp_path / "moved.mp4"

    thread, outcome = _in_thread(engine, output, control)
    assert wait_for(lambda: bool(jobs), WAIT)  # the job is running on the first node
    engine.pool.start_probing()  # the probe brings the second back in
    assert engine.pool.wait_until(lambda: engine.pool.by_name(second.name).healthy, WAIT)
    first.stop()  # the GPU host dies mid-render
    thread.join(timeout=WAIT)

    result = outcome[0]
    assert isinstance(result, GenerationResult), result
    assert result.details["node"] == second.name and result.details["moved_from"] == first.name
    assert probe_mp4(output)[1] == 12
    lost, kept = (
        {job.job_id for job in jobs if job.job_id.endswith(first.name)},
        {job.job_id for job in jobs if job.job_id.endswith(second.name)},
    )
    assert len(lost) == 1 and len(kept) == 1
    # The provider-job record: the lost job gone, the second done; a single job completed.
    assert [(job.job_id in lost, job.state) for job in jobs] == [
        (True, "running"),
        (True, "gone"),
        (False, "running"),
        (False, "done"),
    ]
    assert len(second.fake.bodies) == 1
    assert engine.pool.by_name(first.name).healthy is False


def test_a_job_lost_on_two_nodes_fails_unavailable(
    sglang_nodes: list[RestartableNode], built: list[Any], tmp_path: Path
) -> None:
    for node in sglang_nodes:
        node.fake.reset(SglangScenario(outcome="never"))
    engine = _sglang_pool(sglang_nodes, built)
    control, jobs = _control()
    thread, outcome = _in_thread(engine, tmp_path / "lost.mp4", control)
    for node in sglang_nodes:
        # Killed once the job's creation is answered and recorded (not while in flight).
        assert wait_for(lambda node=node: any(j.job_id.endswith(node.name) for j in jobs), WAIT)
        node.stop()
    thread.join(timeout=WAIT)
    error = outcome[0]
    assert isinstance(error, EngineError) and error.code == PROVIDER_UNAVAILABLE
    assert error.fallback is True  # nothing is running anywhere: another engine may serve it
    assert [job.state for job in jobs].count("gone") == 2


def test_every_node_down_fails_at_once(
    sglang_nodes: list[RestartableNode], built: list[Any], tmp_path: Path
) -> None:
    for node in sglang_nodes:
        node.stop()
    engine = _sglang_pool(sglang_nodes, built)
    with pytest.raises(EngineError) as raised:
        engine.generate(make_request(), tmp_path / "none.mp4", _control()[0])
    assert raised.value.code == PROVIDER_UNAVAILABLE
    assert all(not item["healthy"] for item in engine.node_status())


def test_vllm_sync_node_lost_mid_render_moves_to_another(
    sample_mp4: bytes, built: list[Any], tmp_path: Path
) -> None:
    slow, fast = (RestartableNode(FakeVllmOmni(sample_mp4)) for _ in range(2))
    slow.fake.reset(VllmScenario(render_seconds=60))
    fast.fake.reset(VllmScenario(render_seconds=0.05))
    try:
        settings = fast_settings(
            vllm_omni_nodes=[slow.url, fast.url], vllm_omni_sync=True, vllm_omni_probe_seconds=0.05
        )
        engine = VllmOmniEngine(settings)
        built.append(engine)
        engine.pool.mark_down(engine.pool.by_name(fast.name), "held back by the test")
        thread, outcome = _in_thread(engine, tmp_path / "sync.mp4", RenderControl())
        assert wait_for(lambda: "sync" in slow.fake.calls, WAIT)
        engine.pool.start_probing()
        assert engine.pool.wait_until(lambda: engine.pool.by_name(fast.name).healthy, WAIT)
        slow.stop()
        thread.join(timeout=WAIT)
        result = outcome[0]
        assert isinstance(result, GenerationResult), result
        assert (result.details["node"], result.details["moved_from"]) == (fast.name, slow.name)
    finally:
        for node in (slow, fast):
            node.close()
