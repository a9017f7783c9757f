"""The preview engine's extend and edit: honest stand-ins built from the source video itself.

Extend plays the source, then continues from its last frame under a slow camera move (the
mode's zoom, drift and shake) while the prompt's colour comes in; the added part carries a
caption saying what was added. Edit re-renders every frame of the source with the mode's
colour grade and a wash of the prompt's colour, captioned as an edit. Both decode the source
as a stream, so a long source costs time, not memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from grokimagine.engines.base import (
    EngineError,
    GenerationRequest,
    InputVideo,
    RenderControl,
)
from grokimagine.engines.decoding import decoded_frames

CHECK_EVERY_FRAMES = 6
EDIT_WASH = 0.22  # share of the prompt's colour in an edited frame
EXTEND_WASH = 0.18  # share reached by the end of an extension
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Caption = tuple[Image.Image, Image.Image]


@dataclass(frozen=True)
class VideoLook:
    """What the mode and prompt do to a source: colour grade, wash colour, camera motion."""

    color_gain: float
    contrast_gain: float
    tint: tuple[float, float, float]
    wash: tuple[int, int, int]
    zoom: float
    drift: float
    speed_hz: float
    shake: Callable[[float], tuple[float, float]]


def source_frames(
    request: GenerationRequest,
    look: VideoLook,
    caption: Caption,
    control: RenderControl,
) -> tuple[Iterator[np.ndarray], int, dict[str, object]]:
    """The frames of an extend or edit of ``request.source``, how many, and what was done."""
    source = request.source
    if source is None:
        raise EngineError(f"{request.operation} needs a source video", code="INVALID_REQUEST")
    source_count = max(1, round(source.seconds * request.fps))
    if request.operation == "extend":
        total = source_count + request.num_frames
        frames = _extended(request, source, source_count, look, caption, control, total)
        details = {"operation": "extend", "source_frames": source_count}
    elif request.operation == "edit":
        total = request.num_frames
        frames = _edited(request, source, look, caption, control, total)
        details = {"operation": "edit", "source_frames": source_count}
    else:
        raise EngineError(f"unknown operation {request.operation!r}", code="INVALID_REQUEST")
    return frames, total, details


def _with_caption(canvas: Image.Image, caption: Caption) -> np.ndarray:
    band, mask = caption
    canvas.paste(band, (0, canvas.height - band.height), mask)
    return np.asarray(canvas)


def _graded(frame: np.ndarray, look: VideoLook, wash: float) -> Image.Image:
    """The mode's colour grade (saturation, contrast, tint) and ``wash`` of the prompt colour."""
    # Every step is affine in the pixel, so the whole grade is one 3x3 matrix and an offset:
    # one matrix product per frame instead of a pass per step.
    gain, contrast = look.color_gain, look.contrast_gain
    saturation = gain * np.eye(3, dtype=np.float32) + (1 - gain) * np.outer(np.ones(3), _LUMA)
    tint = np.diag(np.array(look.tint, dtype=np.float32))
    matrix = (1 - wash) * contrast * tint @ saturation
    offset = (1 - wash) * tint @ np.full(3, 128.0 * (1 - contrast), dtype=np.float32)
    offset = offset + wash * np.array(look.wash, dtype=np.float32)
    coefficients = np.concatenate([matrix, offset[:, None]], axis=1)
    image = Image.fromarray(frame, "RGB")
    # Pillow applies an RGB matrix with offsets in C, clipping to 0..255.
    return image.convert("RGB", matrix=tuple(float(c) for c in coefficients.ravel()))


def _edited(
    request: GenerationRequest,
    source: InputVideo,
    look: VideoLook,
    caption: Caption,
    control: RenderControl,
    total: int,
) -> Iterator[np.ndarray]:
    frames = decoded_frames(source, request.width, request.height, request.fps, total)
    for index, frame in enumerate(frames):
        if index % CHECK_EVERY_FRAMES == 0:
            control.check_canceled()
            control.report(0.99 * index / total)
        yield _with_caption(_graded(frame, look, EDIT_WASH), caption)


def _extended(
    request: GenerationRequest,
    source: InputVideo,
    source_count: int,
    look: VideoLook,
    caption: Caption,
    control: RenderControl,
    total: int,
) -> Iterator[np.ndarray]:
    last: np.ndarray | None = None
    frames = decoded_frames(source, request.width, request.height, request.fps, source_count)
    for index, frame in enumerate(frames):
        if index % CHECK_EVERY_FRAMES == 0:
            control.check_canceled()
            control.report(0.99 * index / total)
        last = frame
        yield frame
    if last is None:
        raise EngineError("the source video has no frames", code="INVALID_VIDEO")
    still = Image.fromarray(last, "RGB")
    added = request.num_frames
    angle = (request.seed % 360) * math.pi / 180
    for step in range(added):
        index = source_count + step
        if index % CHECK_EVERY_FRAMES == 0:
            control.check_canceled()
            control.report(0.99 * index / total)
        progress = (step + 1) / added
        view = _camera(still, look, angle, progress, step / request.fps)
        yield _with_caption(_graded(view, _neutral(look), EXTEND_WASH * progress), caption)


def _neutral(look: VideoLook) -> VideoLook:
    """The look without its grade: the continuation keeps the source's colours at the seam."""
    return VideoLook(1.0, 1.0, (1.0, 1.0, 1.0), look.wash, 0, 0, 0, look.shake)


def _camera(
    still: Image.Image, look: VideoLook, angle: float, progress: float, seconds: float
) -> np.ndarray:
    """The last frame under a camera that pushes in and pans as the extension goes on."""
    width, height = still.size
    ease = progress * progress * (3 - 2 * progress)
    scale = 1 + max(look.zoom, 0.05) * ease
    crop_w, crop_h = width / scale, height / scale
    slack_x, slack_y = (width - crop_w) / 2, (height - crop_h) / 2
    shake_x, shake_y = look.shake(seconds)
    cx = width / 2 + slack_x * ease * math.cos(angle) + shake_x
    cy = height / 2 + slack_y * ease * math.sin(angle) + shake_y
    x0 = min(max(cx - crop_w / 2, 0.0), width - crop_w)
    y0 = min(max(cy - crop_h / 2, 0.0), height - crop_h)
    box = (x0, y0, x0 + crop_w, y0 + crop_h)
    return np.asarray(still.resize((width, height), Image.Resampling.BILINEAR, box=box))
