"""What the API offers: modes, ratios, video sizes and durations, and the price of a video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["fun", "normal", "spicy"]
TaskStatus = Literal["pending", "processing", "completed", "failed", "canceled"]
Ratio = Literal["2:3", "3:2", "1:1"]

MODES: tuple[str, ...] = ("fun", "normal", "spicy")
# The reference page's plans (their limits are in domain/billing/plans.py).
PLAN_NAMES: tuple[str, ...] = ("free", "pro", "enterprise")
RATIOS: tuple[str, ...] = ("2:3", "3:2", "1:1")
# Widescreen and portrait video, beyond the reference page's three: engines that render them
# say so in their capabilities (the OpenAI-shaped /v1/videos asks for 1280x720 and 720x1280).
WIDE_RATIOS: tuple[str, ...] = ("16:9", "9:16")
# What a task does: make a video, continue a source video, or change one.
Operation = Literal["generate", "extend", "edit"]
OPERATIONS: tuple[str, ...] = ("generate", "extend", "edit")

CREDITS_PER_VIDEO = 40
DEFAULT_FPS = 24
DEFAULT_SECONDS = 6


@dataclass(frozen=True)
class VideoSize:
    """Width and height of a video in pixels."""

    width: int
    height: int


DEFAULT_SIZES: dict[str, VideoSize] = {
    "1:1": VideoSize(480, 480),
    "2:3": VideoSize(480, 720),
    "3:2": VideoSize(720, 480),
    "16:9": VideoSize(854, 480),
    "9:16": VideoSize(480, 854),
}

# Part 3 options. Every size of a tier keeps the ratio; 480p is the reference page's sizes.
Resolution = Literal["480p", "720p"]
RESOLUTIONS: tuple[str, ...] = ("480p", "720p")
DEFAULT_RESOLUTION = "480p"
MAX_VIDEOS_PER_TASK = 4
MAX_IMAGES = 4  # input images of one request

SIZES: dict[str, dict[str, VideoSize]] = {
    "480p": DEFAULT_SIZES,
    "720p": {
        "1:1": VideoSize(720, 720),
        "2:3": VideoSize(720, 1080),
        "3:2": VideoSize(1080, 720),
        "16:9": VideoSize(1280, 720),
        "9:16": VideoSize(720, 1280),
    },
}


def resolution_of(width: int, height: int) -> str:
    """The tier a stored size belongs to, named by its short side (``480p``, ``720p``)."""
    return f"{min(width, height)}p"


# Every value a task's ``error.code`` can take, with what it means. Engines, the worker and the
# domain put only these on a task (tests/engines/test_task_error_codes.py scans the source), and
# the OpenAPI document lists them. A refused prompt (CONTENT_REJECTED) would be refused anywhere,
# while an engine or provider failure may succeed on a retry.
TASK_ERROR_CODES: dict[str, str] = {
    # Any engine
    "ENGINE_FAILED": "the engine failed while rendering",
    "INVALID_REQUEST": "the engine cannot render what the task asks (mode, size or frames)",
    "INVALID_IMAGE": "an input image could not be decoded",
    "INVALID_VIDEO": "the source video could not be decoded",
    "OPERATION_UNSUPPORTED": "the engine cannot extend or edit videos",
    "ENCODE_FAILED": "the video could not be encoded",
    # Relay engines (a provider's API)
    "CONTENT_REJECTED": "the provider refused the content (moderation); another engine would too",
    "PROVIDER_FAILED": "the provider's job failed or expired",
    "PROVIDER_TIMEOUT": "the provider took longer than allowed",
    "PROVIDER_UNAVAILABLE": "the provider was down or answering with errors",
    "PROVIDER_RATE_LIMITED": "the provider kept refusing for rate limits",
    "PROVIDER_BUSY": "no free provider slot in time",
    "PROVIDER_AUTH_FAILED": "the provider refused the operator's credentials",
    "PROVIDER_REJECTED": "the provider refused the request for a reason of its own",
    "PROVIDER_BAD_RESPONSE": "the provider's answer was not understood or unsafe to follow",
    "PROVIDER_RESULT_EXPIRED": "the provider's video expired before it was fetched",
    # The diffusers engine (open-weight models on a GPU)
    "TEXT_TO_VIDEO_UNAVAILABLE": "no text-to-video model is configured on this engine",
    "IMAGE_TO_VIDEO_UNAVAILABLE": "no image-to-video model is configured on this engine",
    "OUT_OF_MEMORY": "the GPU ran out of memory rendering the video",
    "MODEL_NOT_FOUND": "the engine's model could not be found",
    "MODEL_UNSUPPORTED": "the engine's model is of a kind the engine does not drive",
    "ENGINE_MISCONFIGURED": "the engine's settings are wrong",
    # The worker and the task queue
    "ATTEMPTS_EXHAUSTED": "the task's worker stopped too many times",
    "INTERNAL_ERROR": "an unexpected failure",
    "CANCELED": "canceled on request (status canceled)",
}


# States of a relay task's provider job (tasks.provider_jobs[].state). A re-run of the task
# resumes a running or done job instead of paying for a new one.
JOB_RUNNING = "running"  # accepted by the provider
JOB_DONE = "done"
JOB_FAILED = "failed"
JOB_GONE = "gone"  # expired or unknown at the provider: a re-run may start a new job
JOB_TIMED_OUT = "timed_out"  # we stopped waiting; the provider may still finish (a late result)
JOB_LATE_DONE = "late_done"  # finished after we stopped waiting: billed, never delivered
RESUMABLE_JOB_STATES = frozenset({JOB_RUNNING, JOB_DONE})
