"""Grok Imagine itself: xAI's video REST API as an engine (docs/relay.md has the wire format).

``POST {base}/videos/generations`` starts a job and answers ``{"request_id"}``; ``GET
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

from grokimagine.engines.base import Engine, GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.errors import EngineConfigError
from grokimagine.engines.relay.client import ProviderClient, parse_answer
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_BAD_RESPONSE,
    PROVIDER_FAILED,
    is_moderation,
    relay_error,
)
from grokimagine.engines.relay.media import (
    duration_seconds,
    image_data_uri,
    is_mp4,
    styled_prompt,
)
from grokimagine.engines.relay.poll import PollUpdate, wait_for_job
from grokimagine.settings import Settings

USD_TICKS = 10_000_000_000  # usage.cost_in_usd_ticks per US dollar
ASPECT_RATIOS = frozenset({"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"})
MIN_SECONDS, MAX_SECONDS = 1, 15
MAX_REFERENCE_IMAGES = 7


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
    """The generation request body for ``request``, and notes on what could not be sent."""
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
        """Start an xAI job, wait for it, and download its video into ``output``."""
        body, notes = build_body(request, self._settings)
        with self._client.slot.reserve(control, self._config.queue_timeout):
            answer, _ = self._client.call_json("POST", "/videos/generations", control, json=body)
            request_id = parse_answer(XaiCreated, answer, self.name).request_id
            status = wait_for_job(lambda: self._poll(request_id, control), control, self._config)
        video = status.video or XaiVideo()
        size = self._client.download(video.url or "", output, control, authenticated=False)
        if not is_mp4(output):
            raise relay_error(PROVIDER_BAD_RESPONSE, "xai result is not an MP4 file")
        control.report(1.0)
        ticks = status.usage.cost_in_usd_ticks if status.usage else None
        return GenerationResult(
            provider_task_id=request_id,
            provider_cost_usd=ticks / USD_TICKS if ticks is not None else None,
            details={
                "provider": self.name,
                "model": status.model or self._settings.xai.model,
                "duration": video.duration,
                "bytes": size,
                "notes": notes,
            },
        )

    def _poll(self, request_id: str, control: RenderControl) -> PollUpdate[XaiStatus]:
        answer, _ = self._client.call_json("GET", f"/videos/{quote(request_id, safe='')}", control)
        status = parse_answer(XaiStatus, answer, self.name)
        video = status.video
        if video is not None and video.respect_moderation is False:
            raise relay_error(CONTENT_REJECTED, "xai refused the video (moderation)")
        if status.status == "done" or (status.status is None and video and video.url):
            if video is None or not video.url:
                raise relay_error(PROVIDER_BAD_RESPONSE, "xai job done without a video URL")
            return PollUpdate(result=status, progress=1.0)
        if status.status == "failed":
            error = status.error or XaiError()
            message = f"xai job failed: {error.code or 'unknown'}: {error.message or ''}".strip()
            code = CONTENT_REJECTED if is_moderation(error.code, error.message) else PROVIDER_FAILED
            raise relay_error(code, message)
        if status.status == "expired":
            raise relay_error(PROVIDER_FAILED, "xai job expired before it finished")
        progress = status.progress / 100 if status.progress is not None else None
        return PollUpdate(progress=progress)
