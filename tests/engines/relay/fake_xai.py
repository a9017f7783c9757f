"""A local fake of xAI's video REST API, strict about the documented wire format.

Endpoints and fields follow docs/relay.md: ``POST /v1/videos/generations`` (JSON body with
``prompt`` and the documented optional fields only, nothing else), ``POST /v1/videos/edits``
and ``POST /v1/videos/extensions`` (``prompt`` and the source as ``video.url``; an extension's
``duration`` is 2-10 s; neither takes ``aspect_ratio`` or ``resolution``, an edit no
``duration``), ``GET /v1/videos/{id}``, and
a result URL on another path standing for xAI's CDN, which serves the file once and only for
``url_ttl`` seconds after the job is done. Wrong requests get xAI's statuses: 401 without a
key, 400 for an incorrect key, 415 without a JSON content type, 422 for a malformed body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ASPECT_RATIOS = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ImageUrl(_Strict):
    url: str


class OutputConfig(_Strict):
    upload_url: str


class GenerationBody(_Strict):
    prompt: str = Field(min_length=1)
    model: str | None = None
    duration: int | None = Field(None, ge=1, le=15)
    aspect_ratio: ASPECT_RATIOS | None = None
    resolution: Literal["480p", "720p"] | None = None
    size: Literal["848x480", "1696x960", "1280x720", "1920x1080"] | None = None
    image: ImageUrl | None = None
    reference_images: list[ImageUrl] | None = Field(None, max_length=7)
    user: str | None = None
    output: OutputConfig | None = None


class VideoUrl(_Strict):
    url: str


class EditBody(_Strict):
    """``POST /v1/videos/edits``: the output keeps the source's duration, ratio and size."""

    prompt: str = Field(min_length=1)
    video: VideoUrl
    model: str | None = None
    user: str | None = None
    output: OutputConfig | None = None


class ExtensionBody(_Strict):
    """``POST /v1/videos/extensions``: ``duration`` is the length added, 2-10 s."""

    prompt: str = Field(min_length=1)
    video: VideoUrl
    model: str | None = None
    duration: int | None = Field(None, ge=2, le=10)
    user: str | None = None
    output: OutputConfig | None = None


def _valid_video_url(url: str) -> bool:
    if url.startswith(("http://", "https://")):
        return True
    if not url.startswith(("data:video/mp4;base64,", "data:video/webm;base64,")):
        return False
    try:
        return bool(base64.b64decode(url.split(";base64,", 1)[1], validate=True))
    except (binascii.Error, ValueError):
        return False


@dataclass
class XaiScenario:
    """How the fake behaves for the jobs of one test."""

    polls_before_done: int = 1
    outcome: Literal["done", "failed", "moderated", "expired", "never"] = "done"
    failure_code: str = "internal_error"
    create_status: int | None = None  # answer every create with this status (e.g. 503)
    create_delay: float = 0.0  # seconds before answering a create
    rate_limited_creates: int = 0  # first creates answered 429
    rate_limited_polls: int = 0  # first polls answered 429
    failing_polls: int = 0  # first polls answered 503
    retry_after: int = 1
    url_ttl: float = 10.0
    cost_ticks: int | None = 5_000_000_000
    result_bytes: bytes | None = None  # served instead of the MP4
    job_seconds: float | None = None  # done this long after its creation (not after N polls)
    empty_202_polls: int = 0  # first polls of each job answered 202 with an empty body
    text_202_polls: int = 0  # then polls answered 202 with a body that is not JSON
    odd_statuses: tuple[str, ...] = ()  # then polls answered with these unknown statuses
    video_url: str | None = None  # the URL a done job names, instead of the fake's CDN path
    cdn_redirect: str | None = None  # the CDN path answers 302 to this URL


@dataclass
class _Job:
    body: dict[str, Any]
    polls: int = 0
    done_at: float | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    downloaded: bool = False
    created_at: float = field(default_factory=time.monotonic)
    odd_polls: int = 0
    expired: bool = False  # this job alone answers "expired"


_EXPIRED_XML = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def _error(status: int, message: str, code: str = "Client specified an invalid argument") -> Any:
    return JSONResponse({"code": code, "error": message}, status_code=status)


def _valid_image_url(url: str) -> bool:
    if url.startswith(("http://", "https://")):
        return True
    if not url.startswith("data:image/") or ";base64," not in url:
        return False
    try:
        return bool(base64.b64decode(url.split(";base64,", 1)[1], validate=True))
    except (binascii.Error, ValueError):
        return False


class FakeXai:
    """The fake provider: its FastAPI ``app``, a ``scenario``, and what it saw."""

    def __init__(self, mp4: bytes, api_key: str):
        self.mp4 = mp4
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset(XaiScenario())
        self.app = self._build_app()

    def reset(self, scenario: XaiScenario) -> None:
        """Start a test: new scenario, no jobs, nothing seen."""
        self.scenario = scenario
        self.jobs: dict[str, _Job] = {}
        self.calls: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []  # the create route of each job, in order
        self.download_auth: list[str | None] = []
        self.rate_limited_at: float | None = None
        self.early_after_429 = 0
        self.active = 0
        self.max_active = 0

    def _auth_error(self, request: Request) -> Any:
        header = request.headers.get("authorization")
        if not header:
            return _error(401, "No API key provided. Supply Authorization: Bearer <key>.")
        if header != f"Bearer {self.api_key}":
            return _error(400, "Incorrect API key provided. Obtain one at console.x.ai.")
        return None

    def _rate_limit(self, remaining_attr: str) -> Any:
        """A 429 if the scenario wants one now; also notes a retry that came too early."""
        now = time.monotonic()
        scenario = self.scenario
        if self.rate_limited_at is not None and now - self.rate_limited_at < scenario.retry_after:
            self.early_after_429 += 1
        if getattr(scenario, remaining_attr) > 0:
            setattr(scenario, remaining_attr, getattr(scenario, remaining_attr) - 1)
            self.rate_limited_at = now
            return JSONResponse(
                {"code": "Too many requests", "error": "Rate limit reached."},
                status_code=429,
                headers={"Retry-After": str(scenario.retry_after)},
            )
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        async def start(request: Request, model: type[_Strict]) -> Any:
            self.calls.append("create")
            payload = await request.body()
            if self.scenario.create_delay:
                await asyncio.sleep(self.scenario.create_delay)
                if await request.is_disconnected():
                    return Response(status_code=499)  # the client gave up: no job
            if (denied := self._auth_error(request)) is not None:
                return denied
            if self.scenario.create_status is not None:
                return _error(self.scenario.create_status, "Service unavailable", "unavailable")
            if (limited := self._rate_limit("rate_limited_creates")) is not None:
                return limited
            if not request.headers.get("content-type", "").startswith("application/json"):
                return _error(415, "Content-Type must be application/json")
            try:
                raw = json.loads(payload)
                body = model.model_validate(raw)
            except (ValueError, ValidationError) as exc:
                return _error(422, f"Invalid request body: {exc}")
            if isinstance(body, GenerationBody):
                images = ([body.image] if body.image else []) + (body.reference_images or [])
                if not all(_valid_image_url(image.url) for image in images):
                    return _error(422, "Invalid image url")
            elif isinstance(body, EditBody | ExtensionBody) and not _valid_video_url(
                body.video.url
            ):
                return _error(422, "Invalid video url")
            request_id = str(uuid.uuid4())
            with self.lock:
                self.jobs[request_id] = _Job(body=raw)
                self.bodies.append(raw)
                self.paths.append(request.url.path)
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            return {"request_id": request_id}

        @app.post("/v1/videos/generations")
        async def create(request: Request) -> Any:
            return await start(request, GenerationBody)

        @app.post("/v1/videos/edits")
        async def edit(request: Request) -> Any:
            return await start(request, EditBody)

        @app.post("/v1/videos/extensions")
        async def extend(request: Request) -> Any:
            return await start(request, ExtensionBody)

        @app.get("/v1/videos/{request_id}")
        async def status(request_id: str, request: Request) -> Any:
            self.calls.append("poll")
            if (denied := self._auth_error(request)) is not None:
                return denied
            job = self.jobs.get(request_id)
            if job is None:
                return _error(404, f"No deferred request {request_id}", "Not found")
            if (limited := self._rate_limit("rate_limited_polls")) is not None:
                return limited
            if self.scenario.failing_polls > 0:
                self.scenario.failing_polls -= 1
                return _error(503, "Service unavailable", "unavailable")
            scenario = self.scenario
            if job.odd_polls < scenario.empty_202_polls:
                job.odd_polls += 1
                return Response(status_code=202)
            if job.odd_polls < scenario.empty_202_polls + scenario.text_202_polls:
                job.odd_polls += 1
                return Response("Accepted", status_code=202, media_type="text/plain")
            odd = job.odd_polls - scenario.empty_202_polls - scenario.text_202_polls
            if odd < len(scenario.odd_statuses):
                job.odd_polls += 1
                return {"status": scenario.odd_statuses[odd], "model": "grok-imagine-video"}
            return self._status(job, str(request.base_url).rstrip("/"))

        @app.get("/vidgen/{token}.mp4")
        async def video(token: str, request: Request) -> Any:
            self.download_auth.append(request.headers.get("authorization"))
            job = next((job for job in self.jobs.values() if job.token == token), None)
            fresh = job and job.done_at and time.monotonic() - job.done_at < self.scenario.url_ttl
            if job is not None and self.scenario.cdn_redirect:
                return Response(status_code=302, headers={"Location": self.scenario.cdn_redirect})
            if job is None or job.downloaded or not fresh:
                return Response(
                    _EXPIRED_XML,
                    status_code=403,
                    media_type="application/xml",
                )
            job.downloaded = True
            return Response(self.scenario.result_bytes or self.mp4, media_type="video/mp4")

        return app

    def _status(self, job: _Job, base: str) -> dict[str, Any]:
        scenario = self.scenario
        job.polls += 1
        if job.expired:
            return {"status": "expired", "model": "grok-imagine-video"}
        if scenario.job_seconds is not None:
            elapsed = time.monotonic() - job.created_at
            unfinished = elapsed < scenario.job_seconds
            if scenario.outcome == "never" or unfinished:
                progress = min(99, int(100 * elapsed / scenario.job_seconds))
                return {"status": "pending", "progress": progress, "model": "grok-imagine-video"}
        elif scenario.outcome == "never" or job.polls <= scenario.polls_before_done:
            progress = min(99, 100 * job.polls // (scenario.polls_before_done + 1))
            return {"status": "pending", "progress": progress, "model": "grok-imagine-video"}
        if job.done_at is None:
            job.done_at = time.monotonic()
            with self.lock:
                self.active -= 1  # jobs at once = created and not yet finished
        if scenario.outcome == "expired":
            return {"status": "expired", "model": "grok-imagine-video"}
        if scenario.outcome == "failed":
            return {
                "status": "failed",
                "video": {"duration": 0, "respect_moderation": True},
                "model": "",
                "error": {"code": scenario.failure_code, "message": "Video generation failed."},
            }
        if scenario.outcome == "moderated":
            return {
                "status": "done",
                "video": {"url": "", "duration": 6, "respect_moderation": False},
                "model": "grok-imagine-video",
            }
        answer: dict[str, Any] = {
            "status": "done",
            "video": {
                "url": scenario.video_url or f"{base}/vidgen/{job.token}.mp4",
                "duration": 6,
                "respect_moderation": True,
            },
            "model": "grok-imagine-video",
            "progress": 100,
        }
        if scenario.cost_ticks is not None:
            answer["usage"] = {"cost_in_usd_ticks": scenario.cost_ticks}
        return answer
