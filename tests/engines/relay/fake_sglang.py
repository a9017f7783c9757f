"""A local fake of SGLang Diffusion's OpenAI-style video routes, strict where the server is.

Written from the server's own source (sglang 0.5.23 from PyPI; the same files live in
sgl-project/sglang under python/sglang/multimodal_gen/runtime/):
``entrypoints/openai/video_api.py`` (the routes), ``entrypoints/openai/protocol.py``
(``VideoGenerationsRequest``, ``VideoResponse``), ``entrypoints/openai/utils.py``
(``_maybe_url_image``: image URLs and ``data:image`` URIs), ``entrypoints/openai/video_progress.py``
(``apply_progress``), ``entrypoints/openai/common_api.py`` (``GET /v1/models``) and
``entrypoints/http_server.py`` (``GET /health``, ``GET /models``). What it answers:

- ``POST /v1/videos`` takes JSON (or multipart); ``prompt`` is required, types are checked by
  pydantic (lax: ``"8"`` is 8), other keys are allowed. An image comes as ``reference_url`` (an
  http(s) URL or a ``data:image`` URI; anything else is "Unsupported image url format"); a JSON
  ``input_reference`` is a path on the server's disk. Refusals are ``HTTPException``s, so the body
  is FastAPI's ``{"detail": "..."}``. The answer is a Video object, ``status`` ``queued``.
- A job is ``queued``, then ``in_progress`` with a percentage once the scheduler reports steps
  (a server whose progress socket failed to bind never reports: ``queued`` straight to
  ``completed``), then ``completed``; a failed job is ``failed`` with ``error: {"message"}`` (no
  code) and its GET still answers 200.
- ``GET /v1/videos/{id}/content?variant=N`` reads ``variant`` as the index of an output (none:
  0); ``variant=video`` is no index, so 404 "Video variant video not found". A job still running
  is 404 "Generation is still in-progress".
- ``DELETE /v1/videos/{id}`` forgets the job (it does not abort it: "TODO: support aborting a
  job") and answers it with ``status`` ``deleted``.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

SGLANG_MODEL = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


class VideoGenerationsRequest(BaseModel):
    """The fields the server declares and types (it allows any other key)."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    input_reference: str | None = None
    reference_url: str | None = None
    model: str | None = None
    n: int | None = 1
    seconds: int | None = 4
    size: str | None = ""
    fps: int | None = None
    num_frames: int | None = None
    seed: int | list[int] | None = None
    width: int | None = None
    height: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None


@dataclass
class SglangScenario:
    """How the fake node behaves for one test."""

    render_seconds: float = 0.2
    outcome: Literal["completed", "failed", "never"] = "completed"
    failure_message: str = "CUDA out of memory"
    reports_progress: bool = True  # False: queued straight to completed
    healthy: bool = True


@dataclass
class _Job:
    video: dict[str, Any]
    started: float
    body: dict[str, Any] = field(default_factory=dict)


def _parse_size(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ValueError(f"Invalid size format: {size!r}, expected WIDTHxHEIGHT")
    return int(width), int(height)


class FakeSglang:
    """One fake SGLang Diffusion node: its FastAPI ``app``, a ``scenario``, what it saw."""

    def __init__(self, mp4: bytes, *, served_model: str = SGLANG_MODEL):
        self.mp4 = mp4
        self.served_model = served_model
        self.lock = threading.Lock()
        self.reset(SglangScenario())
        self.app = self._build_app()

    def reset(self, scenario: SglangScenario) -> None:
        """Start a test: new scenario, no jobs, nothing seen."""
        self.scenario = scenario
        self.jobs: dict[str, _Job] = {}
        self.calls: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health() -> Any:
            self.calls.append("health")
            if not self.scenario.healthy:
                return JSONResponse({"status": "unhealthy", "error": "warming"}, 503)
            return {"status": "ok"}

        @app.get("/v1/models")
        async def models() -> Any:
            self.calls.append("models")
            card = {
                "id": self.served_model,
                "root": self.served_model,
                "num_gpus": 1,
                "task_type": "T2V",
                "supported_task_types": ["T2V"],
            }
            return {"object": "list", "data": [card]}

        @app.post("/v1/videos")
        async def create(request: Request) -> Any:
            self.calls.append("create")
            if "multipart/form-data" in request.headers.get("content-type", "").lower():
                form = await request.form()
                payload: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
            else:
                try:
                    payload = dict(await request.json() or {})
                except ValueError:
                    payload = {}
            payload.pop("extra_body", None)
            reference = payload.get("reference_url")
            if reference is not None and not str(reference).lower().startswith(
                ("http://", "https://", "data:image")
            ):
                raise HTTPException(
                    400, "Failed to process image source: Unsupported image url format"
                )
            if payload.get("input_reference") is not None:
                # A path on the server's own disk: ours never has the caller's file.
                raise HTTPException(400, "Invalid request body: input_reference file not found")
            try:
                req = VideoGenerationsRequest(**payload)
                width, height = (
                    _parse_size(req.size) if req.size else (req.width or 832, req.height or 480)
                )
            except (ValidationError, ValueError) as exc:
                raise HTTPException(400, f"Invalid request body: {exc}") from exc
            fps = req.fps or 24
            frames = req.num_frames or fps * (req.seconds or 4)
            video_id = f"{uuid.uuid4().hex}"
            video = {
                "id": video_id,
                "object": "video",
                "model": req.model or self.served_model,
                "status": "queued",
                "progress": 0,
                "created_at": int(time.time()),
                "size": f"{width}x{height}",
                "seconds": str(round(frames / fps)),
                "quality": "standard",
                "file_path": f"/outputs/{video_id}.mp4",
            }
            with self.lock:
                self.jobs[video_id] = _Job(video=video, started=time.monotonic(), body=payload)
                self.bodies.append(payload)
            return dict(video)

        @app.get("/v1/videos/{video_id}")
        async def retrieve(video_id: str) -> Any:
            self.calls.append("poll")
            job = self.jobs.get(video_id)
            if job is None:
                raise HTTPException(404, "Video not found")
            return self._advance(job)

        @app.delete("/v1/videos/{video_id}")
        async def delete(video_id: str) -> Any:
            self.calls.append("delete")
            with self.lock:
                job = self.jobs.pop(video_id, None)
            if job is None:
                raise HTTPException(404, "Video not found")
            self.deleted.append(video_id)
            return {**job.video, "status": "deleted"}

        @app.get("/v1/videos/{video_id}/content")
        async def content(video_id: str, variant: str | None = None) -> Any:
            self.calls.append("content")
            job = self.jobs.get(video_id)
            if job is None:
                raise HTTPException(404, "Video not found")
            self._advance(job)
            try:
                index: int | None = 0 if variant is None else int(variant)
            except ValueError:
                index = None
            if job.video["status"] not in {"completed", "failed"}:
                raise HTTPException(404, "Generation is still in-progress")
            if index != 0 or job.video["status"] != "completed":
                raise HTTPException(404, f"Video variant {variant} not found")
            return Response(self.mp4, media_type="video/mp4")

        return app

    def _advance(self, job: _Job) -> dict[str, Any]:
        video, scenario = job.video, self.scenario
        if video["status"] in {"completed", "failed"}:
            return dict(video)
        elapsed = time.monotonic() - job.started
        if scenario.outcome == "never" or elapsed < scenario.render_seconds:
            if scenario.reports_progress and elapsed > 0:
                fraction = elapsed / max(scenario.render_seconds, 1e-9)
                video["status"] = "in_progress"
                video["progress"] = max(video["progress"], min(99, int(100 * fraction)))
            return dict(video)
        if scenario.outcome == "failed":
            video.update(status="failed", error={"message": scenario.failure_message})
            video.update(file_path=None)
        else:
            video.update(status="completed", progress=100, completed_at=int(time.time()))
            video.update(inference_time_s=scenario.render_seconds, num_outputs=1)
        return dict(video)
