"""Extend and edit on the diffusers engine (mixed into ``DiffusersEngine``).

Extend renders the added seconds conditioned on the end of the source, then writes the source
(re-encoded at the render's size and frame rate) followed by the new frames, as one file:

- LTX-Video: its condition pipeline with the source's last ``frame_step + 1`` frames as a video
  condition at frame 0; the frames it renders after them are the continuation.
- Wan image-to-video: the source's last frame as the start image; the frames after the first
  are the continuation.

Edit runs Wan VACE with the source's frames as the control video and a mask that repaints all
of every frame, as long as the source (within the family's frame cap).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grokimagine.engines.base import (
    EngineError,
    GenerationRequest,
    GenerationResult,
    InputVideo,
    RenderControl,
)
from grokimagine.engines.decoding import decoded_frames
from grokimagine.engines.diffusers.families import CONTINUE, IMAGE, REPAINT, ModelInfo
from grokimagine.engines.diffusers.mapping import RenderPlan
from grokimagine.engines.encoding import encode_mp4

if TYPE_CHECKING:
    from grokimagine.engines.diffusers.families import LoadedModel


class VideoOperations:
    """``extend`` and ``edit`` for an engine that has ``plan``, ``_load`` and ``_run_pipeline``."""

    i2v: ModelInfo | None
    t2v: ModelInfo | None
    edit: ModelInfo | None

    # DiffusersEngine provides these, and ``plan``, ``_load`` and ``_run_pipeline``.
    _render_lock: Any
    plan: Any
    _load: Any
    _run_pipeline: Any

    def route_operation(self, request: GenerationRequest) -> ModelInfo:
        """The model that extends or edits; OPERATION_UNSUPPORTED (fallback) if none."""
        if request.operation == "edit":
            if self.edit is None:
                raise EngineError(
                    "no video edit model is configured (GROKIMAGINE_DIFFUSERS_EDIT_MODEL)",
                    "OPERATION_UNSUPPORTED",
                    fallback=True,
                )
            return self.edit
        usable = [info for info in (self.i2v, self.t2v) if info and info.extends_video]
        if not usable:
            raise EngineError(
                "no model here continues a video (an LTX or Wan image-to-video model)",
                "OPERATION_UNSUPPORTED",
                fallback=True,
            )
        return usable[0]

    def render_operation(
        self, info: ModelInfo, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Extend or edit ``request.source`` with the model ``info`` into ``output``."""
        source = request.source
        if source is None:
            raise EngineError(f"{request.operation} needs a source video", "INVALID_REQUEST")
        if request.operation == "edit":
            return self._edit(info, request, source, output, control)
        return self._extend(info, request, source, output, control)

    def _extend(
        self,
        info: ModelInfo,
        request: GenerationRequest,
        source: InputVideo,
        output: Path,
        control: RenderControl,
    ) -> GenerationResult:
        from PIL import Image

        plan = self.plan(info, request)
        model = self._load(info)
        step = model.geometry.frame_step
        source_count = max(1, round(source.seconds * plan.fps))
        if info.family == "ltx":
            direction, context = CONTINUE, step + 1
            # Context and continuation in one clip of a legal length: (step*k + 1) + step*m.
            render = replace(plan, num_frames=context + plan.num_frames - 1)
        else:
            direction, context = IMAGE, 1
            render = plan
        tail = deque(
            decoded_frames(source, plan.width, plan.height, plan.fps, source_count), maxlen=context
        )
        images = [Image.fromarray(frame, "RGB") for frame in tail]
        video, seconds = self._denoise(model, direction, render, images, control)
        # The rendered clip starts with (a rendering of) the context: keep what follows it.
        added = _uint8(video)[context:]
        frames = itertools.chain(
            decoded_frames(source, plan.width, plan.height, plan.fps, source_count), added
        )
        written = encode_mp4(frames, output, width=plan.width, height=plan.height, fps=plan.fps)
        control.report(1.0)
        return _result(info, type(model.pipeline(direction)).__name__, direction, plan, written, {
            "source_frames": source_count,
            "context_frames": context,
            "added_frames": len(added),
            "render_seconds": seconds,
        })  # fmt: skip

    def _edit(
        self,
        info: ModelInfo,
        request: GenerationRequest,
        source: InputVideo,
        output: Path,
        control: RenderControl,
    ) -> GenerationResult:
        from PIL import Image

        plan = self.plan(info, request)
        model = self._load(info)
        frames = decoded_frames(source, plan.width, plan.height, plan.fps, plan.num_frames)
        images = [Image.fromarray(frame, "RGB") for frame in frames]
        video, seconds = self._denoise(model, REPAINT, plan, images, control)
        edited = _uint8(video)
        written = encode_mp4(
            iter(edited), output, width=plan.width, height=plan.height, fps=plan.fps
        )
        control.report(1.0)
        return _result(info, type(model.pipeline(REPAINT)).__name__, REPAINT, plan, written, {
            "render_seconds": seconds,
        })  # fmt: skip

    def _denoise(
        self,
        model: LoadedModel,
        direction: str,
        plan: RenderPlan,
        images: list[Any],
        control: RenderControl,
    ) -> tuple[Any, float]:
        with self._render_lock:
            control.check_canceled()
            started = time.perf_counter()
            video = self._run_pipeline(model, direction, plan, images, control)
            seconds = time.perf_counter() - started
        control.check_canceled()
        return video, round(seconds, 3)


def _uint8(video: Any) -> np.ndarray:
    frames = np.asarray(video[0], dtype=np.float32)
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _result(
    info: ModelInfo,
    pipeline: str,
    direction: str,
    plan: RenderPlan,
    written: int,
    extra: dict[str, object],
) -> GenerationResult:
    return GenerationResult(
        details={
            "engine": "diffusers",
            "model": str(info.path),
            "family": info.family,
            "pipeline": pipeline,
            "direction": direction,
            "width": plan.width,
            "height": plan.height,
            "num_frames": written,
            "fps": plan.fps,
            "tier": plan.tier,
            "steps": plan.steps,
            "seed": plan.seed,
            **extra,
        }
    )
