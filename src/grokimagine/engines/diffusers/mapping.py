"""Request mapping: from an API request to the size, frame count and prompts a model renders.

Pure functions, no torch: the rules are documented as a table in ``docs/diffusers.md``.

- Size: the request's short side picks a tier (480p, 720p, ... up to ``max_tier``) and the
  ratio picks that tier's size from the presets. A request smaller than the smallest tier is a
  draft and keeps its own size, snapped to the model's multiple.
- Frames: the request's duration at the model's native fps, rounded to the nearest legal count
  (``frame_step * k + 1``), at least one step long and at most the family's ``max_frames``.
- Prompts: the mode's style preset adds words to the prompt and a negative prompt; the request's
  own negative prompt comes first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grokimagine.engines.base import GenerationRequest
from grokimagine.engines.diffusers.profiles import FamilyProfile, StylePreset, tier_short_side

DRAFT_TIER = "draft"


@dataclass(frozen=True)
class Geometry:
    """What a loaded model's VAE and transformer allow."""

    size_multiple: int  # width and height are multiples of this (VAE stride x patch size)
    frame_step: int  # frame counts are frame_step * k + 1 (the VAE's temporal stride)


@dataclass(frozen=True)
class RenderPlan:
    """Everything the pipeline call needs, derived from one request."""

    width: int
    height: int
    num_frames: int
    fps: int
    tier: str
    steps: int
    guidance_scale: float
    prompt: str
    negative_prompt: str
    seed: int

    @property
    def seconds(self) -> float:
        """Length of the rendered clip."""
        return self.num_frames / self.fps


def snap(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest multiple of ``multiple``, at least one multiple."""
    return max(multiple, math.floor(value / multiple + 0.5) * multiple)


def _ratio_value(ratio: str) -> float | None:
    left, sep, right = ratio.partition(":")
    try:
        value = float(left) / float(right) if sep else None
    except (ValueError, ZeroDivisionError):
        return None
    return value if value and value > 0 else None


def map_size(
    width: int,
    height: int,
    ratio: str,
    profile: FamilyProfile,
    geometry: Geometry,
    max_tier: str,
) -> tuple[int, int, str]:
    """Return ``(width, height, tier)`` the model renders for a requested size and ratio."""
    if width <= 0 or height <= 0:
        raise ValueError(f"requested size {width}x{height} is not positive")
    limit = tier_short_side(max_tier)
    tiers = [(side, name) for side, name in profile.tiers() if side <= limit]
    if not tiers:
        raise ValueError(f"{profile.label} has no size tier at or below {max_tier}")
    short_side = min(width, height)
    if short_side < tiers[0][0]:
        m = geometry.size_multiple
        return snap(width, m), snap(height, m), DRAFT_TIER
    tier = max((entry for entry in tiers if entry[0] <= short_side), key=lambda entry: entry[0])[1]
    table = profile.sizes[tier]
    if ratio in table:
        table_width, table_height = table[ratio]
    else:
        # A ratio the table lacks: the tier's pixel area at the requested aspect.
        area = math.prod(table.get("1:1") or next(iter(table.values())))
        aspect = _ratio_value(ratio) or width / height
        table_width, table_height = math.sqrt(area * aspect), math.sqrt(area / aspect)
    m = geometry.size_multiple
    return snap(table_width, m), snap(table_height, m), tier


def map_frames(
    num_frames: int,
    fps: int,
    profile: FamilyProfile,
    geometry: Geometry,
    max_frames: int | None = None,
) -> int:
    """The legal frame count nearest to the requested duration at the model's native fps."""
    if num_frames <= 0 or fps <= 0:
        raise ValueError(f"requested {num_frames} frames at {fps} fps")
    step = geometry.frame_step
    target = num_frames / fps * profile.fps
    steps_wanted = math.floor((target - 1) / step + 0.5)
    cap = max_frames if max_frames is not None else profile.max_frames
    steps_allowed = max(1, (cap - 1) // step)
    return min(max(1, steps_wanted), steps_allowed) * step + 1


def compose_negative(user_negative: str | None, preset: StylePreset) -> str:
    """The request's negative prompt first, then the preset's."""
    parts = [(user_negative or "").strip(), preset.negative_prompt.strip()]
    return ", ".join(part for part in parts if part)


def plan_render(
    request: GenerationRequest,
    *,
    family: str,
    profile: FamilyProfile,
    preset: StylePreset,
    geometry: Geometry,
    max_tier: str = "480p",
    steps: int | None = None,
    guidance_scale: float | None = None,
    max_frames: int | None = None,
) -> RenderPlan:
    """Map ``request`` to a :class:`RenderPlan` for a model of ``family`` (a presets key)."""
    width, height, tier = map_size(
        request.width, request.height, request.ratio, profile, geometry, max_tier
    )
    return RenderPlan(
        width=width,
        height=height,
        num_frames=map_frames(request.num_frames, request.fps, profile, geometry, max_frames),
        fps=profile.fps,
        tier=tier,
        steps=steps or profile.steps,
        guidance_scale=guidance_scale if guidance_scale is not None else preset.guidance[family],
        prompt=preset.styled_prompt(request.prompt),
        negative_prompt=compose_negative(request.negative_prompt, preset),
        # torch.Generator takes seeds below 2**64; wider API seeds wrap.
        seed=request.seed % (1 << 64),
    )
