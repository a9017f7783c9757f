"""A local fake of OpenAI's ``/v1/videos`` API, strict about the documented wire format.

``POST /v1/videos`` takes a JSON body with ``prompt`` and the documented optional fields
(``model`` sora-2 / sora-2-pro, ``seconds`` "4" / "8" / "12", ``size`` one of four, and
``input_reference`` with exactly one of ``image_url`` / ``file_id``) and nothing else; it answers a
Video object. ``GET /v1/videos/{id}`` retrieves it; ``GET /v1/videos/{id}/content`` serves the MP4
once, and only for ``content_ttl`` seconds after completion. Errors use OpenAI's
``{"error": {"message", "type", "param", "code"}}`` body.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DOCUMENTED_FIELDS = {"prompt", "model", "seconds", "size", "input_reference"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InputReference(_Strict):
    image_url: str | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> InputReference:
        if (self.image_url is None) == (self.file_id is None):
            raise ValueError("provide exactly one of image_url or file_id")
        return self


class CreateVideoBody(_Strict):
    prompt: str = Field(min_length=1)
    model: Literal["sora-2", "sora-2-pro"] | None = None
    seconds: Literal["4", "8", "12"] | None = None
    size: Literal["720x1280", "1280x720", "1024x1792", "1792x1024"] | None = None
    input_reference: InputReference | None = None


@dataclass
class OpenAIScenario:
    """How the fake behaves for the jobs of one test."""

    polls_before_done: int = 2
    outcome: Literal["completed", "failed", "never"] = "completed"
    failure_code: str = "internal_error"
    create_status: int | None = None
    rate_limited_polls: int = 0
    retry_after: int = 0
    content_ttl: float = 10.0
    empty_202_polls: int = 0  # first polls answered 202 with an empty body
    content_redirect: str | None = None  # the content endpoint answers 302 to this URL


@dataclass
class _Job:
    video: dict[str, Any]
    polls: int = 0
    completed_at: float | None = None
    downloaded: bool = False


def _error(status: int, message: str, code: str | None, param: str | None = None) -> Any:
    body = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return JSONResponse({"error": body}, status_code=status)


class FakeOpenAIVideos:
    """The fake provider: its FastAPI ``app``, a ``scenario``, and what it saw."""

    def __init__(self, mp4: bytes, api_key: str):
        self.mp4 = mp4
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset(OpenAIScenario())
        self.app = self._build_app()

    def reset(self, scenario: OpenAIScenario) -> None:
        """Start a test: new scenario, no jobs, nothing seen."""
        self.scenario = scenario
        self.jobs: dict[str, _Job] = {}
        self.calls: list[str] = []
        self.bodies: list[dict[str, Any]] = []

    def _auth_error(self, request: Request) -> Any:
        header = request.headers.get("authorization")
        if not header:
            return _error(401, "You didn't provide an API key.", None)
        if header != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/videos")
        async def create(request: Request) -> Any:
            self.calls.append("create")
            if (denied := self._auth_error(request)) is not None:
                return denied
            if self.scenario.create_status is not None:
                return JSONResponse(
                    {"error": {"message": "Service unavailable", "type": "server_error"}},
                    status_code=self.scenario.create_status,
                )
            try:
                raw = await request.json()
            except ValueError:
                return _error(400, "We could not parse the JSON body.", "invalid_json")
            unknown = sorted(set(raw) - DOCUMENTED_FIELDS) if isinstance(raw, dict) else []
            if unknown:
                return _error(400, f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter")
            try:
                body = CreateVideoBody.model_validate(raw)
            except ValidationError as exc:
                param = ".".join(str(part) for part in exc.errors()[0]["loc"])
                return _error(400, f"Invalid value for '{param}'.", "invalid_value", param)
            video_id = f"video_{uuid.uuid4().hex}"
            video = {
                "id": video_id,
                "object": "video",
                "created_at": int(time.time()),
                "status": "queued",
                "model": body.model or "sora-2",
                "progress": 0,
                "seconds": body.seconds or "4",
                "size": body.size or "720x1280",
            }
            with self.lock:
                self.jobs[video_id] = _Job(video=video)
                self.bodies.append(raw)
            return video

        @app.get("/v1/videos/{video_id}")
        async def retrieve(video_id: str, request: Request) -> Any:
            self.calls.append("poll")
            if (denied := self._auth_error(request)) is not None:
                return denied
            job = self.jobs.get(video_id)
            if job is None:
                return _error(404, f"Video {video_id} not found.", "not_found")
            if self.scenario.empty_202_polls > 0:
                self.scenario.empty_202_polls -= 1
                return Response(status_code=202)
            if self.scenario.rate_limited_polls > 0:
                self.scenario.rate_limited_polls -= 1
                return JSONResponse(
                    {
                        "error": {
                            "message": "Rate limit reached",
                            "type": "requests",
                            "param": None,
                            "code": "rate_limit_exceeded",
                        }
                    },
                    status_code=429,
                    headers={"Retry-After": str(self.scenario.retry_after)},
                )
            return self._advance(job)

        @app.get("/v1/videos/{video_id}/content")
        async def content(video_id: str, request: Request) -> Any:
            self.calls.append("content")
            if (denied := self._auth_error(request)) is not None:
                return denied
            if request.query_params.get("variant", "video") != "video":
                return _error(400, "Invalid variant.", "invalid_value", "variant")
            job = self.jobs.get(video_id)
            fresh = (
                job is not None
                and job.completed_at is not None
                and time.monotonic() - job.completed_at < self.scenario.content_ttl
            )
            if job is None or job.downloaded or not fresh:
                return _error(404, "Video content is not available.", "not_found")
            if self.scenario.content_redirect:  # e.g. to a storage bucket
                return Response(
                    status_code=302, headers={"Location": self.scenario.content_redirect}
                )
            job.downloaded = True
            return Response(self.mp4, media_type="video/mp4")

        return app

    def _advance(self, job: _Job) -> dict[str, Any]:
        scenario, video = self.scenario, job.video
        job.polls += 1
        if scenario.outcome == "never" or job.polls <= scenario.polls_before_done:
            video["status"] = "in_progress"
            video["progress"] = min(99, 100 * job.polls // (scenario.polls_before_done + 1))
            return video
        if scenario.outcome == "failed":
            video["status"] = "failed"
            video["error"] = {"code": scenario.failure_code, "message": "Generation failed."}
            return video
        if job.completed_at is None:
            job.completed_at = time.monotonic()
            video.update(status="completed", progress=100, completed_at=int(time.time()))
            video["expires_at"] = int(time.time() + scenario.content_ttl)
        return video
