"""Request and response models at the HTTP edge; they also make the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grokimagine.domain.submission.generate import GenerationOrder
from grokimagine.http.params import storable_text
from grokimagine.vocabulary import (
    DEFAULT_SECONDS,
    MAX_IMAGES,
    MAX_VIDEOS_PER_TASK,
    TASK_ERROR_CODES,
    Mode,
    Ratio,
    Resolution,
    TaskStatus,
)

MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**31 - 1

T = TypeVar("T")
# A 1x1 PNG.
EXAMPLE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


# Fields where null means the default, and what else the validators take: the document says
# so, or schema-driven clients (and schemathesis) would call what we accept invalid.
NULL_MEANS_DEFAULT = ("mode", "ratio", "n", "duration", "resolution")


def _document_request(schema: dict[str, Any]) -> None:
    schema["examples"] = [
        {
            "mode": "fun",
            "prompt": "a beautiful landscape with mountains",
            # A data: URI, so that tools that send the examples (schemathesis) never reach
            # outside the machine; https:// URLs work the same way.
            "images": [EXAMPLE_IMAGE],
            "ratio": "1:1",
        }
    ]
    properties = schema["properties"]
    for name in NULL_MEANS_DEFAULT:
        field = properties[name]
        kept = {key: field.pop(key) for key in ("default", "description", "title") if key in field}
        properties[name] = {"anyOf": [field, {"type": "null"}], **kept}
    images = properties["images"]
    images["anyOf"].insert(1, {"type": "string"})


def checked_prompt(value: str) -> str:
    """A prompt as every request body takes it: stripped, not blank, at most
    :data:`MAX_PROMPT_CHARS` characters (``ValueError`` otherwise: pydantic's refusal)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"must be at most {MAX_PROMPT_CHARS} characters")
    return value


class GenerateRequest(BaseModel):
    """Body of ``POST /v1/generate``. Unknown fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra=lambda schema, _model: _document_request(schema),
    )

    mode: Mode = Field("normal", description="Generation mode: fun, normal or spicy.")
    prompt: str = Field(
        description="Text prompt for the video (not blank, at most 4000 characters)."
    )
    images: list[str] | None = Field(
        None,
        description=(
            "Image(s) to animate: http(s) URLs or data:image/...;base64 URIs, at most 4."
            " A single string is taken as a list of one."
        ),
    )
    ratio: Ratio = Field("1:1", description="Aspect ratio: 2:3, 3:2 or 1:1.")

    # Part 3 options: absent means the reference page's behaviour. GET /v1/pricing lists what
    # the engines serving the caller accept.
    n: int = Field(
        1,
        ge=1,
        le=MAX_VIDEOS_PER_TASK,
        strict=True,
        description="Videos to make, 1-4; each is charged.",
    )
    duration: int = Field(
        DEFAULT_SECONDS, ge=1, le=60, strict=True, description="Seconds per video (default 6)."
    )
    resolution: Resolution = Field(
        "480p",
        description="480p (480x480, 480x720, 720x480) or 720p (720x720, 720x1080, 1080x720).",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        strict=True,
        description="Seed of the first video; video i uses seed+i.",
    )
    negative_prompt: str | None = Field(
        None, max_length=MAX_PROMPT_CHARS, description="What the video should not show."
    )
    callback_url: str | None = Field(
        None,
        max_length=2000,
        description="http(s) URL that receives a signed POST when the task completes, fails or"
        " is canceled (Standard Webhooks). Private addresses are refused unless allow-listed.",
    )

    @field_validator(*NULL_MEANS_DEFAULT, mode="before")
    @classmethod
    def _null_means_default(cls, value: Any, info: Any) -> Any:
        if value is None:
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("negative_prompt", "callback_url")
    @classmethod
    def _blank_means_absent(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    def to_order(self, idempotency_key: str | None = None) -> GenerationOrder:
        """The request as the submission use case takes it."""
        return GenerationOrder(
            prompt=self.prompt,
            mode=self.mode,
            ratio=self.ratio,
            images=tuple(self.images) if self.images is not None else None,
            n=self.n,
            duration=self.duration,
            resolution=self.resolution,
            seed=self.seed,
            negative_prompt=self.negative_prompt,
            callback_url=self.callback_url,
            given=frozenset(self.model_fields_set),
            idempotency_key=idempotency_key,
        )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        return checked_prompt(value)

    @field_validator("images", mode="before")
    @classmethod
    def _single_image_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("prompt", "negative_prompt", "callback_url", "images")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if not all(text is None or storable_text(text) for text in texts):
            raise ValueError("must not hold NUL characters or unpaired surrogates")
        return value

    @field_validator("images")
    @classmethod
    def _at_most_four_images(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > MAX_IMAGES:
            raise ValueError(f"at most {MAX_IMAGES} images are accepted")
        return value


class Envelope(BaseModel, Generic[T]):
    """The success envelope of every response."""

    code: int = Field(200, examples=[200])
    message: str = Field("success", examples=["success"])
    data: T


class Error(BaseModel):
    """The body of every error response."""

    code: int = Field(examples=[400])
    message: str = Field(examples=["Invalid request: The prompt parameter is required"])
    error: str = Field(examples=["INVALID_REQUEST"])


class GenerateResult(BaseModel):
    """What ``POST /v1/generate`` returns."""

    task_id: str = Field(examples=["task_Vq3mX0e8R2kLw9ZtYp1AbC7d"])


class TaskError(BaseModel):
    """Why a task failed (or, with code CANCELED, that it was canceled)."""

    code: str = Field(
        examples=["ENGINE_FAILED"],
        description="; ".join(f"{code}: {meaning}" for code, meaning in TASK_ERROR_CODES.items()),
    )
    message: str


class TaskRequest(BaseModel):
    """The request a task was made from, normalised: defaults filled in for mode and ratio,
    data URIs replaced by their hash; options appear only when they were given."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
            ]
        },
    )

    mode: str = Field(description="fun, normal or spicy.")
    prompt: str
    ratio: str = Field(description="2:3, 3:2 or 1:1.")
    images: list[str] | None = Field(
        None, description="URLs as given; data URIs as data:<mime>;sha256=<hex digest>."
    )
    n: int | None = None
    duration: int | None = None
    resolution: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    callback_url: str | None = None


class Status(BaseModel):
    """What ``GET /v1/status`` returns: the reference page's fields, then our additions."""

    consumed_credits: int = Field(examples=[40])
    created_at: str = Field(examples=["2024-01-01T00:00:00Z"])
    status: TaskStatus
    task_id: str
    request: TaskRequest
    response: list[str] = Field(
        description="Signed, expiring video URLs once completed; fresh on every call.",
        examples=[
            ["https://videos.example.com/files/videos/task_x/0.mp4?expires=...&signature=..."]
        ],
    )
    progress: int = Field(description="0 to 100.", examples=[100])
    error: TaskError | None = Field(None, description="Set when the task failed.")
    started_at: str | None = None
    completed_at: str | None = None
    queue_position: int | None = Field(
        None,
        description="While pending: how many tasks are ahead of this one (0: next). Exact"
        " under 64; further back it may still count tasks that left the queue in the last"
        " second.",
    )
    expires_at: str | None = Field(
        None,
        description="Once completed: when the URLs in `response` stop working; fetch the"
        " status again for fresh ones.",
    )
    videos_expired_at: str | None = Field(
        None,
        description="Set when the operator's retention deleted the videos: `response` is then"
        " empty and old URLs answer 410 VIDEO_EXPIRED. The task and its money stay.",
    )


class StatusResponse(Envelope[Status]):
    """The answer of ``GET /v1/status``."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "Invalid request",
        401: "Missing, unknown or revoked token",
        403: "ACCOUNT_DISABLED: the account is disabled",
        429: "Over the plan's rate limit",
        500: "Internal error",
    }.items()
}

# Routes that write: on SQLite, another process holding the write lock past the wait gives 503.
BUSY_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"model": Error, "description": "SERVICE_BUSY: the database is locked; retry"}
}

# Optional request headers of POST /v1/generate (Part 3), for the OpenAPI document.
GENERATE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "Retry-safe submission: the same key and body within 24 hours return the"
        " original task_id without a second charge; another body is 409 IDEMPOTENCY_CONFLICT.",
    },
    {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "examples": ["wait=30"]},
        "description": "wait=N (N up to 60): answer with the finished task if it finishes within"
        " N seconds, else as usual; the response carries Preference-Applied.",
    },
]
