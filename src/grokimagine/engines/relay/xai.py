"""Grok Imagine itself: xAI's video REST API as an engine (docs/relay.md has the wire format).

``POST {base}/videos/generations`` starts a job and answers ``{"request_id"}`` (extends go to
``/videos/extensions`` and edits to ``/videos/edits``, with the source as ``video.url``); ``GET
{base}/videos/{request_id}`` answers ``status`` (``pending``, ``done``, ``failed``, ``expired``),
``progress``, ``video.url`` (temporary), ``video.respect_moderation``, ``usage.cost_in_usd_ticks``
and ``error``. The finished video is downloaded at once, since the URL expires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ProviderJob,
    RenderControl,
)
from grokimagine.engines.errors import EngineConfigError
from grokimagine.engines.relay.client import ProviderClient, parse_answer
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_BAD_RESPONSE,
    PROVIDER_FAILED,
    ProviderJobGone,
    is_moderation,
    relay_error,
)
from grokimagine.engines.relay.media import (
    check_mp4,
    duration_seconds,
    image_data_uri,
    styled_prompt,
    video_data_uri,
)
from grokimagine.engines.relay.poll import PollUpdate, job_outcome, run_provider_job
from grokimagine.settings import Settings

USD_TICKS = 10_000_000_000  # usage.cost_in_usd_ticks per US dollar
ASPECT_RATIOS = frozenset({"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"})
MIN_SECONDS, MAX_SECONDS = 1, 15
MAX_REFERENCE_IMAGES = 7
MIN_EXTENSION_SECONDS, MAX_EXTENSION_SECONDS = 2, 10
# Where each operation's jobs start; all are polled at GET /videos/{request_id}.
JOB_PATHS = {
    "generate": "/videos/generations",
    "extend": "/videos/extensions",
    "edit": "/videos/edits",
}


class XaiCreated(BaseModel):
    request_id: str


class XaiVideo(BaseModel):
    url: str | None = None
    duration: float | None = None
    respect_moderation: bool | None = None


class XaiUsage(BaseModel):
    cost_in_usd_ticks: int | None = None


class XaiError(BaseModel):
    code: str | None = None
    message: str | None = None


class XaiStatus(BaseModel):
    status: str | None = None
    video: XaiVideo | None = None
    model: str | None = None
    usage: XaiUsage | None = None
    progress: float | None = None
    error: XaiError | None = None


def check_settings(settings: Settings) -> str:
    """The API key, or EngineConfigError when the xai engine cannot run with these settings."""
    key = settings.xai.api_key.get_secret_value() if settings.xai.api_key else ""
    if not key:
        raise EngineConfigError("the xai engine needs GROKIMAGINE_XAI_API_KEY")
    return key


def build_body(request: GenerationRequest, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """The job's request body for ``request``, and notes on what could not be sent."""
    if request.operation in ("extend", "edit"):
        return _source_body(request, settings)
    notes: list[str] = []
    body: dict[str, Any] = {
        "model": settings.xai.model,
        "prompt": styled_prompt(request.prompt, request.mode, settings.relay.style_presets),
        "duration": min(MAX_SECONDS, duration_seconds(request.num_frames, request.fps)),
        "resolution": settings.xai.resolution
        or ("720p" if min(request.width, request.height) >= 720 else "480p"),
    }
    if request.ratio in ASPECT_RATIOS:
        body["aspect_ratio"] = request.ratio
    else:
        notes.append(f"aspect ratio {request.ratio} not offered by xAI; provider default used")
    if len(request.images) == 1:
        body["image"] = {"url": image_data_uri(request.images[0])}
    elif request.images:
        # Several images: xAI's reference-to-video input (the image input takes one only).
        body["reference_images"] = [
            {"url": image_data_uri(image)} for image in request.images[:MAX_REFERENCE_IMAGES]
        ]
    notes.append("seed not supported by xAI")
    if request.negative_prompt:
        notes.append("negative prompt not supported by xAI")
    return body, notes


def _source_body(
    request: GenerationRequest, settings: Settings
) -> tuple[dict[str, Any], list[str]]:
    """The body of an extension or an edit: model, prompt, the source as ``video.url``, and
    (extension only) the seconds to add. xAI takes neither ratio nor resolution for these: the
    result keeps the source's."""
    source = request.source
    if source is None:
        raise EngineError(f"{request.operation} needs a source video", code="INVALID_REQUEST")
    notes = ["seed not supported by xAI"]
    if settings.xai.source_video == "signed_url" and source.url:
        url = source.url
    else:
        url = video_data_uri(source)
        if settings.xai.source_video == "signed_url":
            notes.append("no signed URL of the source; sent as a data URI")
    body: dict[str, Any] = {
        "model": settings.xai.model,
        "prompt": styled_prompt(request.prompt, request.mode, settings.relay.style_presets),
        "video": {"url": url},
    }
    if request.operation == "extend":
        seconds = duration_seconds(request.num_frames, request.fps)
        body["duration"] = min(MAX_EXTENSION_SECONDS, max(MIN_EXTENSION_SECONDS, seconds))
    return body, notes


class XaiEngine(Engine):
    """Relays a generation to xAI's Grok Imagine video model and downloads the result."""

    name: ClassVar[str] = "xai"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        self._settings = settings
        self._config = ProviderConfig.from_settings(
            settings,
            name=self.name,
            base_url=settings.xai.base_url,
            api_key=check_settings(settings),
        )
        self._client = ProviderClient(self._config, transport=transport)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Start an xAI job (or resume this task's), wait for it, download its video."""
        body, notes = build_body(request, self._settings)
        path = JOB_PATHS.get(request.operation)
        if path is None:
            raise EngineError(f"xai cannot {request.operation}", code="OPERATION_UNSUPPORTED")

        def create() -> tuple[str, PollUpdate[XaiStatus]]:
            answer, _ = self._client.call_json("POST", path, control, json=body)
            return parse_answer(XaiCreated, answer, self.name).request_id, PollUpdate()

        with self._client.slot.reserve(control, self._config.queue_timeout):
            request_id, final = run_provider_job(
                create, lambda job: self._poll(job, control), control, self._config
            )
        status = final.result or XaiStatus()
        video = status.video or XaiVideo()
        size = self._client.download(video.url or "", output, control, authenticated=False)
        check_mp4(output, self.name)
        control.report(1.0)
        return GenerationResult(
            provider_task_id=request_id,
            provider_cost_usd=final.cost_usd,
            details={
                "provider": self.name,
                "model": status.model or self._settings.xai.model,
                "duration": video.duration,
                "bytes": size,
                "notes": notes,
            },
        )

    def job_outcome(self, job_id: str) -> ProviderJob:
        """One look at a job we stopped waiting for (see ``relay.poll.job_outcome``)."""
        return job_outcome(job_id, lambda job: self._poll(job, RenderControl()))

    def _poll(self, request_id: str, control: RenderControl) -> PollUpdate[XaiStatus]:
        answer = self._client.poll_json(f"/videos/{quote(request_id, safe='')}", control)
        if answer is None:  # 202 without a JSON body: still rendering
            return PollUpdate()
        status = parse_answer(XaiStatus, answer, self.name)
        cost = cost_usd(status)
        video = status.video
        if video is not None and video.respect_moderation is False:
            raise relay_error(CONTENT_REJECTED, "xai refused the video (moderation)", cost_usd=cost)
        if status.status == "done" or (status.status is None and video and video.url):
            if video is None or not video.url:
                raise relay_error(
                    PROVIDER_BAD_RESPONSE, "xai job done without a video URL", cost_usd=cost
                )
            return PollUpdate(result=status, progress=1.0, cost_usd=cost)
        if status.status == "failed":
            error = status.error or XaiError()
            message = f"xai job failed: {error.code or 'unknown'}: {error.message or ''}".strip()
            code = CONTENT_REJECTED if is_moderation(error.code, error.message) else PROVIDER_FAILED
            raise relay_error(code, message, cost_usd=cost)
        if status.status == "expired":
            raise ProviderJobGone("xai job expired before it finished")
        # "pending", and any status xAI may add: still running until our deadline (as xAI's
        # own SDK waits).
        progress = status.progress / 100 if status.progress is not None else None
        return PollUpdate(progress=progress)


def cost_usd(status: XaiStatus) -> float | None:
    """What xAI says the job cost, in US dollars (``usage.cost_in_usd_ticks``)."""
    ticks = status.usage.cost_in_usd_ticks if status.usage else None
    return ticks / USD_TICKS if ticks is not None else None
