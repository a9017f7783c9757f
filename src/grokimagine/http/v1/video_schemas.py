"""Request models of ``POST /v1/extend`` and ``POST /v1/edit``; they also make the OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grokimagine.domain.submission.video_operations import (
    DEFAULT_EXTEND_SECONDS,
    EDIT,
    EXTEND,
    VideoOrder,
)
from grokimagine.http.v1.schemas import checked_prompt
from grokimagine.vocabulary import MAX_VIDEOS_PER_TASK, Mode

MAX_VIDEO_SOURCE_CHARS = 64 * 1024 * 1024  # a data URI of the largest source, with room


class VideoOperationRequest(BaseModel):
    """What extend and edit share: the prompt, the mode and the source video."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(description="What should happen (not blank, at most 4000 characters).")
    mode: Mode = Field("normal", description="Generation mode: fun, normal or spicy.")
    task_id: str | None = Field(
        None,
        max_length=64,
        description="Source: a completed task of this account (its video `video_index`).",
    )
    video_index: int = Field(
        0,
        ge=0,
        lt=MAX_VIDEOS_PER_TASK,
        strict=True,
        description="Which video of `task_id` (0 for the first).",
    )
    video: str | None = Field(
        None,
        max_length=MAX_VIDEO_SOURCE_CHARS,
        description="Source instead of task_id: an http(s) URL or a data:video/mp4;base64"
        " (or webm) URI of an MP4/H.264 or WebM video.",
    )
    callback_url: str | None = Field(
        None,
        max_length=2000,
        description="http(s) URL that receives a signed POST when the task finishes.",
    )

    @field_validator("mode", "video_index", mode="before")
    @classmethod
    def _null_means_default(cls, value: Any, info: Any) -> Any:
        if value is None:
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("prompt", "task_id", "video", "callback_url")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; refused here rather than failing in the database.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        return checked_prompt(value)

    @field_validator("task_id", "video", "callback_url")
    @classmethod
    def _blank_means_absent(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    def order(self, operation: str, duration: int, idempotency_key: str | None) -> VideoOrder:
        """The request as the use case takes it."""
        return VideoOrder(
            operation=operation,
            prompt=self.prompt,
            mode=self.mode,
            task_id=self.task_id,
            video_index=self.video_index,
            video=self.video,
            duration=duration,
            callback_url=self.callback_url,
            given=frozenset(self.model_fields_set),
            idempotency_key=idempotency_key,
        )


class ExtendRequest(VideoOperationRequest):
    """Body of ``POST /v1/extend``: the result is the source followed by ``duration`` seconds."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"task_id": "task_Vq3mX0e8R2kLw9ZtYp1AbC7d", "prompt": "then it starts"
                          " to snow", "duration": 4}]
        },
    )  # fmt: skip

    duration: int = Field(
        DEFAULT_EXTEND_SECONDS,
        ge=1,
        le=60,
        strict=True,
        description="Seconds to add (default 6); GET /v1/pricing lists what each mode offers.",
    )

    @field_validator("duration", mode="before")
    @classmethod
    def _null_duration(cls, value: Any) -> Any:
        return DEFAULT_EXTEND_SECONDS if value is None else value

    def to_order(self, idempotency_key: str | None = None) -> VideoOrder:
        """The extend as the use case takes it."""
        return self.order(EXTEND, self.duration, idempotency_key)


class EditRequest(VideoOperationRequest):
    """Body of ``POST /v1/edit``: the source changed as the prompt says, as long as the source."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"video": "https://example.com/clip.mp4", "prompt": "the same scene at"
                          " night", "mode": "normal"}]
        },
    )  # fmt: skip

    def to_order(self, idempotency_key: str | None = None) -> VideoOrder:
        """The edit as the use case takes it."""
        return self.order(EDIT, 0, idempotency_key)
