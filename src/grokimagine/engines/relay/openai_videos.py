"""Any server with OpenAI's ``/v1/videos`` shape as an engine (OpenAI, or an open-source server).

``POST {base}/videos`` creates a video job (a Video object: ``id``, ``status`` ``queued`` /
``in_progress`` / ``completed`` / ``failed``, ``progress``, ``error``); ``GET {base}/videos/{id}``
retrieves it; ``GET {base}/videos/{id}/content`` returns the MP4. docs/relay.md has the details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from grokimagine.engines.base import (
    Engine,
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
)
from grokimagine.engines.relay.poll import PollUpdate, job_outcome, run_provider_job
from grokimagine.settings import Settings


class VideoError(BaseModel):
    code: str | None = None
    message: str | None = None


class Video(BaseModel):
    id: str
    status: str | None = None
    progress: float | None = None
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    expires_at: int | None = None
    error: VideoError | None = None


def check_settings(settings: Settings) -> None:
    """Raise EngineConfigError unless the openai-videos engine can run with these settings."""
    if not settings.openai_videos.base_url:
        raise EngineConfigError("the openai-videos engine needs GROKIMAGINE_OPENAI_VIDEOS_BASE_URL")
    bad = {ratio: size for ratio, size in settings.openai_videos.sizes.items() if "x" not in size}
    if bad:
        raise EngineConfigError(f"GROKIMAGINE_OPENAI_VIDEOS_SIZES wants WxH sizes, got {bad}")


def _nearest(allowed: list[int], seconds: int) -> int:
    """The allowed duration nearest ``seconds``; a tie goes to the longer one."""
    return min(allowed, key=lambda value: (abs(value - seconds), -value)) if allowed else seconds


def build_body(request: GenerationRequest, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """The create-video body for ``request``, and notes on what could not be sent."""
    notes: list[str] = []
    seconds = _nearest(
        settings.openai_videos.seconds, duration_seconds(request.num_frames, request.fps)
    )
    body: dict[str, Any] = {
        "prompt": styled_prompt(request.prompt, request.mode, settings.relay.style_presets),
        "seconds": str(seconds),
        "size": settings.openai_videos.sizes.get(request.ratio)
        or f"{request.width}x{request.height}",
    }
    if settings.openai_videos.model:
        body["model"] = settings.openai_videos.model
    if request.images:
        body["input_reference"] = {"image_url": image_data_uri(request.images[0])}
        if len(request.images) > 1:
            notes.append(f"{len(request.images) - 1} extra image(s) dropped: one reference only")
    if settings.openai_videos.send_extras:
        body["seed"] = request.seed
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
    return body, notes


class OpenAIVideosEngine(Engine):
    """Relays a generation to an OpenAI-style video server and downloads the result."""

    name: ClassVar[str] = "openai-videos"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        check_settings(settings)
        key = settings.openai_videos.api_key
        self._settings = settings
        self._config = ProviderConfig.from_settings(
            settings,
            name=self.name,
            base_url=settings.openai_videos.base_url or "",
            api_key=key.get_secret_value() if key else None,
        )
        self._client = ProviderClient(self._config, transport=transport)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Create a video job (or resume this task's), wait for it, download its MP4."""
        body, notes = build_body(request, self._settings)

        def create() -> tuple[str, PollUpdate[Video]]:
            answer, _ = self._client.call_json("POST", "/videos", control, json=body)
            created = parse_answer(Video, answer, self.name)
            return created.id, self._interpret(created)

        with self._client.slot.reserve(control, self._config.queue_timeout):
            video_id, final = run_provider_job(
                create, lambda job: self._poll(job, control), control, self._config
            )
            video = final.result or Video(id=video_id)
            path = f"/videos/{quote(video.id, safe='')}/content?variant=video"
            size = self._client.download(path, output, control, authenticated=True)
        check_mp4(output, self.name)
        control.report(1.0)
        return GenerationResult(
            provider_task_id=video.id,
            details={
                "provider": self.name,
                "model": video.model,
                "seconds": video.seconds,
                "size": video.size,
                "bytes": size,
                "notes": notes,
            },
        )

    def job_outcome(self, job_id: str) -> ProviderJob:
        """One look at a job we stopped waiting for (see ``relay.poll.job_outcome``)."""
        return job_outcome(job_id, lambda job: self._poll(job, RenderControl()))

    def _poll(self, video_id: str, control: RenderControl) -> PollUpdate[Video]:
        answer = self._client.poll_json(f"/videos/{quote(video_id, safe='')}", control)
        if answer is None:  # 202 without a JSON body: still rendering
            return PollUpdate()
        return self._interpret(parse_answer(Video, answer, self.name))

    def _interpret(self, video: Video) -> PollUpdate[Video]:
        if video.status == "completed":
            return PollUpdate(result=video, progress=1.0)
        if video.status == "failed":
            error = video.error or VideoError()
            message = f"video job failed: {error.code or 'unknown'}: {error.message or ''}".strip()
            code = CONTENT_REJECTED if is_moderation(error.code, error.message) else PROVIDER_FAILED
            raise relay_error(code, message)
        if video.status == "expired":
            raise ProviderJobGone("video job expired before it finished")
        # "queued", "in_progress", and any status a compatible server may add: still running.
        progress = video.progress / 100 if video.progress is not None else None
        return PollUpdate(progress=progress)
