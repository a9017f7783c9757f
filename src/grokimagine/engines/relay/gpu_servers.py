"""What SGLang Diffusion and vLLM-Omni servers take and answer on their ``/v1/videos`` routes.

Both serve OpenAI's shape with differences that matter (docs/gpu-fleet.md, read from their
source): SGLang reads a JSON body (an image as ``reference_url``, a ``data:image`` URI) and
answers errors as FastAPI's ``{"detail"}``; vLLM-Omni reads only a multipart form (an image as
the ``input_reference`` file), answers a failed job's GET with a 5xx and has a synchronous route,
``POST /v1/videos/sync``, whose answer is the MP4. Neither reads ``variant=video`` on the content
route (SGLang takes ``variant`` as an output index), so none is sent. Both take ``size``,
``num_frames``, ``fps``, ``seed``, ``negative_prompt``, ``num_inference_steps`` and
``guidance_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from grokimagine.engines.base import GenerationRequest
from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_FAILED,
    ProviderJobGone,
    is_moderation,
    relay_error,
)
from grokimagine.engines.relay.media import duration_seconds, image_data_uri, styled_prompt
from grokimagine.engines.relay.poll import PollUpdate
from grokimagine.settings.engines import FleetEngineSettings

SGLANG = "sglang"
VLLM_OMNI = "vllm-omni"

_IMAGE_SUFFIX = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class NodeVideoError(BaseModel):
    code: int | str | None = None
    message: str | None = None


class NodeVideo(BaseModel):
    """The Video object both servers answer (only the fields read here)."""

    id: str
    status: str | None = None
    progress: float | None = None
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    url: str | None = None  # SGLang: the output uploaded to cloud storage
    error: NodeVideoError | None = None


@dataclass(frozen=True)
class CreateBody:
    """A create call's body: JSON, or a multipart form with its files."""

    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None


def node_fields(
    request: GenerationRequest, group: FleetEngineSettings, style_presets: dict[str, str]
) -> dict[str, Any]:
    """The fields both servers read, from ``request`` and the engine's settings."""
    fields: dict[str, Any] = {
        "prompt": styled_prompt(request.prompt, request.mode, style_presets),
        "size": group.sizes.get(request.ratio) or f"{request.width}x{request.height}",
        "seconds": duration_seconds(request.num_frames, request.fps),
        "num_frames": request.num_frames,
        "fps": request.fps,
        "seed": request.seed,
    }
    if request.negative_prompt:
        fields["negative_prompt"] = request.negative_prompt
    if group.model:
        fields["model"] = group.model
    if group.num_inference_steps is not None:
        fields["num_inference_steps"] = group.num_inference_steps
    if group.guidance_scale is not None:
        fields["guidance_scale"] = group.guidance_scale
    return fields


def create_body(
    dialect: str,
    request: GenerationRequest,
    group: FleetEngineSettings,
    style_presets: dict[str, str],
) -> CreateBody:
    """The create call for ``dialect``: SGLang's JSON or vLLM-Omni's multipart form."""
    fields = node_fields(request, group, style_presets)
    image = request.images[0] if request.images else None
    if dialect == SGLANG:
        if image is not None:
            fields["reference_url"] = image_data_uri(image)
        return CreateBody(json=fields)
    fields["seconds"] = str(fields["seconds"])  # vLLM-Omni: a string matching ^[1-9]\d*$
    data = {key: str(value) for key, value in fields.items()}
    files = None
    if image is not None:
        suffix = _IMAGE_SUFFIX.get(image.mime, "png")
        files = {"input_reference": (f"input.{suffix}", image.data, image.mime)}
    return CreateBody(data=data, files=files)


def interpret(video: NodeVideo) -> PollUpdate[NodeVideo]:
    """One look at a node's job: done, still running (with its percentage), or failed."""
    if video.status == "completed":
        return PollUpdate(result=video, progress=1.0)
    if video.status == "failed":
        error = video.error or NodeVideoError()
        message = f"video job failed: {error.message or error.code or 'no message'}"
        refused = is_moderation(str(error.code or ""), error.message)
        code = CONTENT_REJECTED if refused else PROVIDER_FAILED
        raise relay_error(code, message)
    if video.status in {"deleted", "expired"}:
        raise ProviderJobGone(f"video job {video.status} on the node")
    # "queued" and "in_progress"; SGLang may go from queued straight to completed.
    progress = video.progress / 100 if video.progress else None
    return PollUpdate(progress=progress)


def job_ref(video_id: str, node: str) -> str:
    """The provider job id stored on the task: the node's id for the video, and the node."""
    return f"{video_id}@{node}"


def split_job_ref(ref: str) -> tuple[str, str]:
    """``(video_id, node name)`` of a stored job id."""
    video_id, _, node = ref.rpartition("@")
    return video_id, node
