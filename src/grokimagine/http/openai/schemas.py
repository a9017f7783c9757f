"""The OpenAI Videos API's objects and request bodies, as the official SDK (openai 3.x) reads
and writes them; they also make the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grokimagine.domain.submission.video_operations import (
    DEFAULT_EXTEND_SECONDS,
    EDIT,
    EXTEND,
    VideoOrder,
)
from grokimagine.http.params import storable_text
from grokimagine.http.v1.schemas import checked_prompt
from grokimagine.http.v1.video_schemas import MAX_VIDEO_SOURCE_CHARS
from grokimagine.vocabulary import Mode

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]


class VideoError(BaseModel):
    """Why a video failed (code ``canceled`` for a canceled one)."""

    code: str = Field(examples=["engine_failed"])
    message: str


class Video(BaseModel):
    """A video job, exactly as ``openai.types.Video`` reads it."""

    id: str = Field(examples=["task_Vq3mX0e8R2kLw9ZtYp1AbC7d"])
    object: Literal["video"] = "video"
    created_at: int = Field(description="Unix seconds.")
    completed_at: int | None = Field(None, description="Unix seconds, once finished.")
    expires_at: int | None = Field(
        None,
        description="Unix seconds: when a completed video's files are deleted, by the "
        "retention the operator set for the account's plan (days after `completed_at`), or "
        "when they were; null: kept until the video is deleted, or no video was made.",
    )
    model: str = Field(examples=["grokimagine-video"])
    progress: int = Field(description="0 to 100.")
    prompt: str | None = None
    seconds: str = Field(examples=["6"])
    size: str = Field(examples=["1280x720"])
    status: VideoStatus
    error: VideoError | None = None
    remixed_from_video_id: str | None = None


class VideoList(BaseModel):
    """A page of videos, as the SDK's cursor page reads it (``after`` = ``last_id``)."""

    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    """The answer to a delete."""

    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class ModelPrice(BaseModel):
    """Credits for one clip of ``seconds`` at each size (0 on test keys: ``charged`` false)."""

    seconds: int | None
    credits: dict[str, int]
    charged: bool


class Model(BaseModel):
    """A model: a route of the operator's, with what its engines render and its price."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    sizes: list[str] = Field(examples=[["480x480", "1280x720"]])
    seconds: list[str] = Field(examples=[["4", "6", "8"]])
    operations: list[str] = Field(examples=[["generate", "extend", "edit"]])
    modes: list[str] = Field(description="The modes this caller may use.")
    max_input_references: int
    price_per_clip: ModelPrice


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorDetail(BaseModel):
    """An error as OpenAI's SDKs read it."""

    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(None, examples=["size"])
    code: str | None = Field(None, examples=["invalid_request"])


class OpenAIError(BaseModel):
    """The error body of the OpenAI-shaped routes."""

    error: OpenAIErrorDetail


def _storable(text: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates: refused here on both databases.
    if not storable_text(text):
        raise ValueError("must not hold NUL characters or unpaired surrogates")
    return text


def _whole_seconds(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 4:
            raise ValueError("must be a whole number of seconds, such as 4")
        return int(text)
    return value


class _Prompted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(description="What the video shows (not blank, at most 4000 characters).")
    mode: Mode = Field("normal", description="Extra field: fun, normal or spicy.")

    @field_validator("prompt")
    @classmethod
    def _prompt_fits(cls, value: str) -> str:
        return _storable(checked_prompt(value))

    @field_validator("mode", mode="before")
    @classmethod
    def _null_mode(cls, value: Any) -> Any:
        return "normal" if value is None or value == "" else value


class ImageReference(BaseModel):
    """``input_reference`` as an object: ``image_url`` (an http(s) URL or a data URI)."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, max_length=MAX_VIDEO_SOURCE_CHARS)
    file_id: str | None = Field(None, max_length=200)

    @field_validator("image_url")
    @classmethod
    def _storable_url(cls, value: str | None) -> str | None:
        return _storable(value) if value is not None else None


class VideoReference(BaseModel):
    """``video`` as an object: the id of a completed video of this account."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class CreateVideoBody(_Prompted):
    """``POST /v1/videos`` (multipart/form-data as the SDK sends it, or JSON)."""

    model: str | None = Field(None, max_length=64, description="A model of GET /v1/models.")
    seconds: int | None = Field(None, ge=1, le=600, description='Clip length, e.g. "6".')
    size: str | None = Field(None, max_length=20, description="WxH, e.g. 1280x720.")
    input_reference: ImageReference | None = Field(
        None, description="An image to animate: a file upload, or {image_url}."
    )

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return _whole_seconds(value)


class RemixBody(_Prompted):
    """``POST /v1/videos/{id}/remix``: the video made again as the new prompt says."""


class EditBody(_Prompted):
    """``POST /v1/videos/edits``: ``video`` is an upload or ``{id}`` of a completed video."""

    video: VideoReference | str = Field(
        description="A file upload, {id}, or an http(s) URL or data URI of a video."
    )

    @field_validator("video")
    @classmethod
    def _video_fits(cls, value: VideoReference | str) -> VideoReference | str:
        if isinstance(value, str) and len(value) > MAX_VIDEO_SOURCE_CHARS:
            raise ValueError("is longer than any video source may be")
        return _storable(value) if isinstance(value, str) else value

    def to_order(self, idempotency_key: str | None) -> VideoOrder:
        """The edit as the use case takes it."""
        return _order(EDIT, self.prompt, self.mode, self.video, 0, idempotency_key)


class ExtendBody(EditBody):
    """``POST /v1/videos/extensions``: ``seconds`` more of a video."""

    seconds: int = Field(ge=1, le=600, description="Seconds to add.")

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return _whole_seconds(value)

    def to_order(self, idempotency_key: str | None) -> VideoOrder:
        """The extension as the use case takes it."""
        return _order(EXTEND, self.prompt, self.mode, self.video, self.seconds, idempotency_key)


def _order(
    operation: str,
    prompt: str,
    mode: str,
    video: VideoReference | str,
    seconds: int,
    idempotency_key: str | None,
) -> VideoOrder:
    by_id = isinstance(video, VideoReference)
    return VideoOrder(
        operation=operation,
        prompt=prompt,
        mode=mode,
        task_id=video.id if isinstance(video, VideoReference) else None,
        video=video if isinstance(video, str) else None,
        duration=seconds if operation == EXTEND else DEFAULT_EXTEND_SECONDS,
        given=frozenset({"prompt", "mode", "task_id" if by_id else "video"}),
        idempotency_key=idempotency_key,
    )


# Bodies the routes parse themselves, listed among the document's schemas.
REQUEST_BODIES: list[type[BaseModel]] = [CreateVideoBody, RemixBody, EditBody, ExtendBody]
