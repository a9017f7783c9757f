"""The ``sglang`` and ``vllm-omni`` engines: a pool of GPU servers behind one engine name.

A job goes to the least-busy healthy node (``relay/fleet.py``). A node that refuses the
connection before accepting the job is taken out and the next node is tried (nothing was
rendered). A node lost mid-render (its polls fail and a probe, or ``node_lost_seconds`` of
silence, says it is gone) is taken out and the job is started once more on another node; the
lost job is recorded ``gone``, so the task's provider-job record shows both and the customer
pays once, at completion. The probe thread brings nodes back.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    GenerationResult,
    ProviderJob,
    RenderControl,
)
from grokimagine.engines.errors import EngineConfigError
from grokimagine.engines.relay.client import ProviderClient, parse_answer
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    PROVIDER_BUSY,
    PROVIDER_UNAVAILABLE,
    ProviderJobGone,
    ProviderUnavailable,
    relay_error,
)
from grokimagine.engines.relay.fleet import Node, NodePool, node_name
from grokimagine.engines.relay.gpu_servers import (
    SGLANG,
    VLLM_OMNI,
    NodeVideo,
    create_body,
    interpret,
    job_ref,
    split_job_ref,
)
from grokimagine.engines.relay.media import check_mp4
from grokimagine.engines.relay.poll import PollUpdate, job_outcome, run_provider_job
from grokimagine.settings import Settings, VllmOmniSettings
from grokimagine.settings.engines import FleetEngineSettings

# Failures that mean "this node did not take the job": another node may.
_NODE_REFUSED = frozenset({PROVIDER_UNAVAILABLE, PROVIDER_BUSY})


class NodeLost(ProviderJobGone):
    """The node running the job stopped answering: the job is gone with it."""


def fleet_group(settings: Settings, engine: str) -> FleetEngineSettings:
    """The settings group of fleet engine ``engine``."""
    return settings.sglang if engine == SGLANG else settings.vllm_omni


def check_fleet_settings(settings: Settings, engine: str) -> None:
    """Raise EngineConfigError unless fleet engine ``engine`` can run with these settings."""
    group = fleet_group(settings, engine)
    prefix = "GROKIMAGINE_" + group.flat_prefix.upper()
    if not group.nodes:
        raise EngineConfigError(f"the {engine} engine needs {prefix}NODES (one base URL or more)")
    names = [node.name or node_name(node.url) for node in group.nodes]
    if len(set(names)) != len(names):
        raise EngineConfigError(f"{prefix}NODES names a node twice: {names}")
    bad = {ratio: size for ratio, size in group.sizes.items() if "x" not in size}
    if bad:
        raise EngineConfigError(f"{prefix}SIZES wants WxH sizes, got {bad}")


class FleetEngine(Engine):
    """Renders on a pool of SGLang Diffusion or vLLM-Omni servers (the subclass's dialect)."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        dialect = self.name
        check_fleet_settings(settings, dialect)
        self._dialect = dialect
        self._settings = settings
        self._group = fleet_group(settings, dialect)
        key = self._group.api_key
        nodes = []
        for spec in self._group.nodes:
            config = replace(
                ProviderConfig.from_settings(
                    settings,
                    name=f"{dialect}:{spec.name or node_name(spec.url)}",
                    base_url=spec.url,
                    api_key=key.get_secret_value() if key else None,
                ),
                max_concurrency=spec.concurrency,
            )
            nodes.append(
                Node(
                    name=spec.name or node_name(spec.url),
                    url=config.base_url,
                    weight=spec.weight,
                    concurrency=spec.concurrency,
                    client=ProviderClient(config, transport=transport),
                )
            )
        self._config = nodes[0].client.config
        self.pool = NodePool(nodes, probe_seconds=self._group.probe_seconds)

    @property
    def synchronous(self) -> bool:
        """Whether jobs use vLLM-Omni's synchronous route (no job to poll)."""
        return isinstance(self._group, VllmOmniSettings) and self._group.sync

    def warmup(self) -> None:
        """Probe every node once and start the probe thread."""
        self.pool.probe_all()
        self.pool.start_probing()

    def close(self) -> None:
        """Stop probing and close every node's connections."""
        self.pool.close()

    def node_status(self) -> list[dict[str, Any]]:
        """The nodes as the fleet view shows them (health, jobs in flight, latency)."""
        return self.pool.snapshot()

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Render on the least-busy healthy node; on a node lost mid-render, once more elsewhere."""
        self.pool.start_probing()
        tried: set[str] = set()
        moved_from: str | None = None
        resumed = control.resume_job_id
        prefer = split_job_ref(resumed)[1] if resumed else None
        while True:
            with self.pool.lease(
                control, timeout=self._config.queue_timeout, exclude=tried, prefer=prefer
            ) as node:
                tried.add(node.name)
                started = time.monotonic()
                accepted: list[str] = []  # the job this run started, once a node accepts it
                try:
                    result = self._render_on(node, request, output, control, accepted)
                except NodeLost as lost:
                    self.pool.mark_down(node, str(lost))
                    self.pool.record_job(node, 0.0, ok=False)
                    if moved_from is not None:
                        raise relay_error(
                            PROVIDER_UNAVAILABLE,
                            f"node {moved_from} and then node {node.name} were lost mid-render",
                        ) from lost
                    moved_from = node.name
                except EngineError as error:
                    self.pool.record_job(node, 0.0, ok=False)
                    if error.code not in _NODE_REFUSED or accepted:
                        raise
                    # The node never took the job: nothing rendered, nothing to resume.
                    if error.code == PROVIDER_UNAVAILABLE:
                        self.pool.mark_down(node, error.message)
                else:
                    self.pool.record_job(node, time.monotonic() - started, ok=True)
                    result.details["node"] = node.name
                    if moved_from is not None:
                        result.details["moved_from"] = moved_from
                    return result
            # Start afresh on another node: the lost or refused job is not to be resumed.
            control = replace(control, provider_jobs={})
            prefer = None

    def job_outcome(self, job_id: str) -> ProviderJob:
        """One look at a job we stopped waiting for (see ``relay.poll.job_outcome``)."""
        return job_outcome(job_id, lambda job: self._poll(job, RenderControl(), silent_since=None))

    def _render_on(
        self,
        node: Node,
        request: GenerationRequest,
        output: Path,
        control: RenderControl,
        accepted: list[str],
    ) -> GenerationResult:
        if self.synchronous:
            return self._render_sync(node, request, output, control)
        body = create_body(self._dialect, request, self._group, self._settings.relay.style_presets)
        heard = [time.monotonic()]

        def create() -> tuple[str, PollUpdate[NodeVideo]]:
            answer, _ = node.client.call_json(
                "POST", "/videos", control, json=body.json, data=body.data, files=body.files
            )
            video = parse_answer(NodeVideo, answer, node.client.config.name)
            accepted.append(job_ref(video.id, node.name))
            heard[0] = time.monotonic()
            return accepted[-1], interpret(video)

        def poll(ref: str) -> PollUpdate[NodeVideo]:
            return self._poll(ref, control, silent_since=heard)

        try:
            ref, final = run_provider_job(create, poll, control, self._config)
        except GenerationCanceled:
            self._abort(accepted[-1] if accepted else control.resume_job_id)
            raise
        video_id, _ = split_job_ref(ref)
        video = final.result or NodeVideo(id=video_id)
        if video.url:  # SGLang uploaded the output to cloud storage: fetch it there
            size = node.client.download(video.url, output, control, authenticated=False)
        else:
            path = f"/videos/{quote(video_id, safe='')}/content"
            size = node.client.download(path, output, control, authenticated=True)
        check_mp4(output, self.name)
        # The node keeps every output on its disk until deleted.
        node.client.delete_quietly(f"/videos/{quote(video_id, safe='')}")
        control.report(1.0)
        return GenerationResult(
            provider_task_id=ref,
            details={
                "provider": self.name,
                "model": video.model,
                "seconds": video.seconds,
                "size": video.size,
                "bytes": size,
            },
        )

    def _render_sync(
        self, node: Node, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        body = create_body(self._dialect, request, self._group, self._settings.relay.style_presets)
        try:
            size, headers = node.client.post_for_file(
                "/videos/sync", output, control, data=body.data or {}, files=body.files
            )
        except ProviderUnavailable as exc:
            raise NodeLost(f"node {node.name} lost during a synchronous render: {exc}") from exc
        check_mp4(output, self.name)
        control.report(1.0)
        return GenerationResult(
            provider_task_id=headers.get("x-request-id"),
            details={
                "provider": self.name,
                "model": headers.get("x-model"),
                "bytes": size,
                "inference_seconds": headers.get("x-inference-time-s"),
            },
        )

    def _poll(
        self, ref: str, control: RenderControl, *, silent_since: list[float] | None
    ) -> PollUpdate[NodeVideo]:
        video_id, name = split_job_ref(ref)
        node = self.pool.by_name(name)
        if node is None:
            raise ProviderJobGone(f"node {name!r} is no longer in the pool")
        path = f"/videos/{quote(video_id, safe='')}"
        try:
            answer = node.client.poll_json(path, control, failed_job_errors=True)
        except EngineError as error:
            if error.code != PROVIDER_UNAVAILABLE or silent_since is None:
                raise
            silent = time.monotonic() - silent_since[0]
            if not node.healthy or silent >= self._group.node_lost_seconds:
                raise NodeLost(
                    f"node {name} lost mid-render (silent {silent:.1f}s): {error.message}"
                ) from error
            raise
        if silent_since is not None:
            silent_since[0] = time.monotonic()
        if answer is None:
            return PollUpdate()
        return interpret(parse_answer(NodeVideo, answer, node.client.config.name))

    def _abort(self, ref: str | None) -> None:
        """Ask the node to drop a canceled job (vLLM-Omni aborts it; SGLang forgets it)."""
        if ref is None:
            return
        video_id, name = split_job_ref(ref)
        node = self.pool.by_name(name)
        if node is not None:
            node.client.delete_quietly(f"/videos/{quote(video_id, safe='')}")


class SglangEngine(FleetEngine):
    """SGLang Diffusion servers (``sglang serve``): JSON bodies, polling."""

    name: ClassVar[str] = SGLANG


class VllmOmniEngine(FleetEngine):
    """vLLM-Omni servers (``vllm serve ... --omni``): multipart forms, polling or synchronous."""

    name: ClassVar[str] = VLLM_OMNI
