"""A local fake of vLLM-Omni's OpenAI-style video routes, strict where the server is.

Written from the server's own source (vllm-omni 0.30.0 from PyPI; the same files live in
vllm-project/vllm-omni under vllm_omni/entrypoints/): ``openai/api_server.py`` (the
``/v1/videos`` routes, ``/v1/videos/sync``, ``/health``, ``/v1/models``),
``openai/video/generation/helpers.py`` (``_parse_video_form``, ``_run_video_generation_job``,
``_status_code_for_video_failure``) and ``openai/protocol/videos.py`` (``VideoResponse``,
``VideoError``, the ``SizeStr`` and ``SecondStr`` patterns). Errors go through vLLM's handlers,
which answer OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``. What it answers:

- ``POST /v1/videos`` and ``POST /v1/videos/sync`` read only a multipart form (FastAPI
  ``Form``/``File`` parameters): a JSON body has no ``prompt`` field, so 400 "prompt: Field
  required". ``seconds`` must match ``^[1-9]\\d*$``, ``size`` ``^\\d+x\\d+$``; ``fps`` >= 1; an image
  is the ``input_reference`` file. A ``model`` other than the served one is 400 "Model
  mismatch". The async route answers a Video object (``id`` ``video_gen_...``, ``queued``); the
  sync route blocks and answers the MP4 itself, with ``X-Request-Id`` and ``X-Inference-Time-S``.
- A job is ``queued``, ``in_progress`` (progress stays 0) and ``completed`` (progress 100). A
  failed job's GET answers its body with the failure's HTTP status (500 for an engine error),
  ``error.code`` set to that status.
- ``GET /v1/videos/{id}/content`` ignores query parameters; a failed job is 422, one still
  running 404 "Generation is still in-progress".
- ``DELETE /v1/videos/{id}`` aborts a job in flight and answers ``{"id", "deleted": true,
  "object": "video.deleted"}``.
- With ``--api-key``, every ``/v1`` route wants ``Authorization: Bearer <key>``, else 401
  ``{"error": "Unauthorized"}``.
"""

# No "from __future__ import annotations": FastAPI must see the local Depends(parse_form).

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

VLLM_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
_SIZE = r"^\d+x\d+$"
_SECONDS = r"^[1-9]\d*$"


@dataclass
class VllmScenario:
    """How the fake node behaves for one test."""

    render_seconds: float = 0.2
    outcome: Literal["completed", "failed", "never"] = "completed"
    failure_message: str = "EngineGenerateError: generation failed"
    failure_status: int = 500
    healthy: bool = True


@dataclass
class _Job:
    video: dict[str, Any]
    started: float
    aborted: bool = False


def _openai_error(status: int, message: str) -> JSONResponse:
    phrase = {400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity"}.get(status, "")
    body = {"message": message, "type": phrase or "Error", "param": None, "code": status}
    return JSONResponse({"error": body}, status_code=status)


class FakeVllmOmni:
    """One fake vLLM-Omni node: its FastAPI ``app``, a ``scenario``, what it saw."""

    def __init__(self, mp4: bytes, *, api_key: str | None = None, served_model: str = VLLM_MODEL):
        self.mp4 = mp4
        self.api_key = api_key
        self.served_model = served_model
        self.lock = threading.Lock()
        self.reset(VllmScenario())
        self.app = self._build_app()

    def reset(self, scenario: VllmScenario) -> None:
        """Start a test: new scenario, no jobs, nothing seen."""
        self.scenario = scenario
        self.jobs: dict[str, _Job] = {}
        self.calls: list[str] = []
        self.forms: list[dict[str, Any]] = []

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(HTTPException)
        async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
            return _openai_error(exc.status_code, str(exc.detail))

        @app.exception_handler(RequestValidationError)
        async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
            first = exc.errors()[0]
            where = str(first["loc"][-1])
            return _openai_error(400, f"{where}: {first['msg']}")

        @app.middleware("http")
        async def authenticate(request: Request, call_next: Any) -> Any:
            wanted = f"Bearer {self.api_key}"
            if (
                self.api_key
                and request.url.path.startswith("/v1")
                and request.headers.get("authorization") != wanted
            ):
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            return await call_next(request)

        @app.get("/health")
        async def health() -> Any:
            self.calls.append("health")
            if not self.scenario.healthy:
                return JSONResponse({"status": "unhealthy"}, status_code=503)
            return {"status": "healthy"}

        @app.get("/v1/models")
        async def models() -> Any:
            self.calls.append("models")
            card = {"id": self.served_model, "object": "model", "owned_by": "vllm-omni"}
            return {"object": "list", "data": [card]}

        async def parse_form(
            prompt: Annotated[str, Form()],
            input_reference: Annotated[UploadFile | None, File()] = None,
            model: Annotated[str | None, Form()] = None,
            seconds: Annotated[str | None, Form(pattern=_SECONDS)] = None,
            size: Annotated[str | None, Form(pattern=_SIZE)] = None,
            width: Annotated[int | None, Form(ge=1)] = None,
            height: Annotated[int | None, Form(ge=1)] = None,
            num_frames: Annotated[int | None, Form(ge=1)] = None,
            fps: Annotated[float | None, Form(ge=1)] = None,
            seed: Annotated[int | None, Form()] = None,
            negative_prompt: Annotated[str | None, Form()] = None,
            num_inference_steps: Annotated[int | None, Form()] = None,
            guidance_scale: Annotated[float | None, Form()] = None,
        ) -> dict[str, Any]:
            if model is not None and model != self.served_model:
                raise HTTPException(
                    400,
                    f"Model mismatch: request specifies '{model}' but server is running "
                    f"'{self.served_model}'.",
                )
            form = {
                "prompt": prompt,
                "model": model,
                "seconds": seconds,
                "size": size,
                "width": width,
                "height": height,
                "num_frames": num_frames,
                "fps": fps,
                "seed": seed,
                "negative_prompt": negative_prompt,
                "num_inference_steps": num_inference_steps,
                "guidance_scale": guidance_scale,
            }
            form = {key: value for key, value in form.items() if value is not None}
            if input_reference is not None:
                form["input_reference"] = await input_reference.read()
            self.forms.append(form)
            return form

        @app.post("/v1/videos")
        async def create(form: Annotated[dict[str, Any], Depends(parse_form)]) -> Any:
            self.calls.append("create")
            video_id = f"video_gen_{uuid.uuid4().hex}"
            video = {
                "id": video_id,
                "object": "video",
                "model": self.served_model,
                "prompt": form["prompt"],
                "status": "queued",
                "size": form.get("size"),
                "progress": 0,
                "seconds": form.get("seconds", "4"),
                "quality": "default",
                "created_at": int(time.time()),
                "media_type": "video/mp4",
                "file_name": None,
            }
            with self.lock:
                self.jobs[video_id] = _Job(video=video, started=time.monotonic())
            return dict(video)

        @app.post("/v1/videos/sync")
        async def create_sync(form: Annotated[dict[str, Any], Depends(parse_form)]) -> Any:
            self.calls.append("sync")
            started = time.monotonic()
            await asyncio.sleep(self.scenario.render_seconds)
            if self.scenario.outcome == "failed":
                raise HTTPException(
                    500, f"Video generation failed: {self.scenario.failure_message}"
                )
            return Response(
                self.mp4,
                media_type="video/mp4",
                headers={
                    "X-Request-Id": f"video_sync-{uuid.uuid4().hex}",
                    "X-Model": self.served_model,
                    "X-Inference-Time-S": f"{time.monotonic() - started:.3f}",
                },
            )

        @app.get("/v1/videos/{video_id}")
        async def retrieve(video_id: str) -> Any:
            self.calls.append("poll")
            job = self.jobs.get(video_id)
            if job is None:
                raise HTTPException(404, "Video not found")
            video = self._advance(job)
            if video["status"] == "failed":
                return JSONResponse(video, status_code=video["error"]["code"])
            return video

        @app.delete("/v1/videos/{video_id}")
        async def delete(video_id: str) -> Any:
            self.calls.append("delete")
            with self.lock:
                job = self.jobs.pop(video_id, None)
            if job is None:
                raise HTTPException(404, "Video not found")
            job.aborted = True
            return {"id": video_id, "deleted": True, "object": "video.deleted"}

        @app.get("/v1/videos/{video_id}/content")
        async def content(video_id: str) -> Any:
            self.calls.append("content")
            job = self.jobs.get(video_id)
            if job is None:
                raise HTTPException(404, "Video not found")
            video = self._advance(job)
            if video["status"] == "failed":
                raise HTTPException(
                    422, "Video generation failed. Check job status for error details."
                )
            if not video.get("file_name"):
                raise HTTPException(404, "Generation is still in-progress")
            return Response(self.mp4, media_type="video/mp4")

        return app

    def _advance(self, job: _Job) -> dict[str, Any]:
        video, scenario = job.video, self.scenario
        if video["status"] in {"completed", "failed"}:
            return dict(video)
        elapsed = time.monotonic() - job.started
        if scenario.outcome == "never" or elapsed < scenario.render_seconds:
            video["status"] = "in_progress"  # the engine started it; progress stays 0
            return dict(video)
        if scenario.outcome == "failed":
            error = {"code": scenario.failure_status, "message": scenario.failure_message}
            video.update(status="failed", completed_at=int(time.time()), error=error)
        else:
            video.update(
                status="completed",
                progress=100,
                file_name=f"{video['id']}.mp4",
                completed_at=int(time.time()),
                inference_time_s=scenario.render_seconds,
            )
        return dict(video)
