"""The preview engine: a cheap, deterministic stand-in for a video model, on one CPU core.

Text-only prompts become an animated scene (gradient background and soft shapes) whose palette,
layout and motion are hashed from the prompt and seed. Input images are animated themselves:
cover-fitted, moved with a slow camera (Ken Burns) and cross-faded in order. Every frame carries
a caption with the prompt and a "PREVIEW" tag so nobody mistakes it for a model's output.

Speed comes from doing the expensive work once (background, sprites, graded images, caption)
and composing each frame with Pillow's C routines (crop, resize, paste with a mask).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
from PIL import Image, ImageColor, ImageEnhance, ImageOps

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    InputImage,
    RenderControl,
)
from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.preview.captions import caption_box, caption_layer
from grokimagine.engines.preview.video import VideoLook, source_frames

CHECK_EVERY_FRAMES = 6  # cancellation latency vs. callback overhead
CROSSFADE_SECONDS = 0.75


@dataclass(frozen=True)
class ModeStyle:
    """How one mode looks and moves; one renderer reads these numbers for every mode."""

    hue_anchor: float  # hue (0..1) the palette is pulled towards
    hue_pull: float  # 0: hues come from the prompt alone, 1: all at the anchor
    hue_spread: float  # spread of the palette's hues around its base hue
    saturation: tuple[float, float]
    value: tuple[float, float]
    shapes: int
    softness: float  # shape edge blur as a fraction of its radius
    speed_hz: float  # orbit and camera frequency
    bounce: float  # height of shape hops and camera bobs, fraction of the frame
    pulse: float  # shape size pulsing amplitude
    drift: float  # background / camera pan, fraction of the frame
    zoom: float  # Ken Burns zoom range
    shake_px: float  # camera jitter amplitude
    color_gain: float  # saturation applied to input images
    contrast_gain: float
    tint: tuple[float, float, float]  # RGB gains applied to input images


MODE_STYLES: dict[str, ModeStyle] = {
    "fun": ModeStyle(
        hue_anchor=0.0, hue_pull=0.0, hue_spread=0.5, saturation=(0.8, 1.0), value=(0.85, 1.0),
        shapes=9, softness=0.05, speed_hz=0.45, bounce=0.12, pulse=0.18, drift=0.06,
        zoom=0.10, shake_px=0.0, color_gain=1.45, contrast_gain=1.1, tint=(1.0, 1.0, 1.0),
    ),
    "normal": ModeStyle(
        hue_anchor=0.0, hue_pull=0.0, hue_spread=0.12, saturation=(0.3, 0.55), value=(0.55, 0.85),
        shapes=5, softness=0.45, speed_hz=0.12, bounce=0.0, pulse=0.04, drift=0.05,
        zoom=0.12, shake_px=0.0, color_gain=1.0, contrast_gain=1.0, tint=(1.0, 1.0, 1.0),
    ),
    "spicy": ModeStyle(
        hue_anchor=0.99, hue_pull=0.75, hue_spread=0.2, saturation=(0.75, 1.0), value=(0.5, 1.0),
        shapes=7, softness=0.15, speed_hz=0.6, bounce=0.03, pulse=0.12, drift=0.08,
        zoom=0.2, shake_px=2.0, color_gain=1.2, contrast_gain=1.15, tint=(1.12, 0.94, 0.82),
    ),
}  # fmt: skip


def dice_of(request: GenerationRequest) -> random.Random:
    """A random generator seeded from everything that defines the video (stable across Pythons)."""
    key = "\x00".join((request.prompt, str(request.seed), request.mode, request.ratio))
    return random.Random(hashlib.blake2b(key.encode(), digest_size=16).digest())


def palette(style: ModeStyle, dice: random.Random, count: int) -> list[tuple[int, int, int]]:
    """``count`` colours of the mode's palette, drawn from ``dice``."""
    base = dice.random()
    colors = []
    for _ in range(count):
        hue = base + dice.uniform(-style.hue_spread, style.hue_spread)
        pull = ((style.hue_anchor - hue + 0.5) % 1.0) - 0.5  # shortest way round the wheel
        hue = (hue + style.hue_pull * pull) % 1.0
        sat, val = dice.uniform(*style.saturation), dice.uniform(*style.value)
        colors.append(ImageColor.getrgb(f"hsv({hue * 360:.1f},{sat * 100:.1f}%,{val * 100:.1f}%)"))
    return colors


def _sprite(diameter: int, kind: int, softness: float, opacity: float) -> Image.Image:
    """An alpha mask for a disc (0), ring (1) or rounded square (2), soft at the edge."""
    radius = diameter / 2
    axis = np.arange(diameter, dtype=np.float32) - radius + 0.5
    x, y = np.meshgrid(axis, axis)
    dist = (x**4 + y**4) ** 0.25 if kind == 2 else np.hypot(x, y)
    ink = 0.16 * radius - np.abs(dist - 0.75 * radius) if kind == 1 else 0.8 * radius - dist
    alpha = np.clip(ink / max(1.0, softness * radius) + 0.5, 0.0, 1.0) * (255 * opacity)
    return Image.fromarray(alpha.astype(np.uint8), "L")


@dataclass
class _Shape:
    sprite: Image.Image
    color: tuple[int, int, int]
    center: tuple[float, float]
    orbit: tuple[float, float]
    freq: tuple[float, float]
    phase: tuple[float, float, float, float]
    sizes: dict[int, Image.Image]


class _TextScene:
    """An animated scene from the prompt alone: drifting gradient plus moving soft shapes."""

    def __init__(self, request: GenerationRequest, style: ModeStyle, dice: random.Random):
        self.width, self.height, self.fps = request.width, request.height, request.fps
        self.style = style
        colors = palette(style, dice, 6)
        self.margin = math.ceil(style.drift * max(self.width, self.height)) + 1
        grid = np.array([[colors[dice.randrange(3)] for _ in range(3)] for _ in range(3)])
        shade = np.array([[dice.uniform(0.35, 0.9) for _ in range(3)] for _ in range(3)])
        grid = (grid * shade[..., None]).astype(np.uint8)
        big = (self.width + 2 * self.margin, self.height + 2 * self.margin)
        self.background = Image.fromarray(grid, "RGB").resize(big, Image.Resampling.BICUBIC)
        self.bg_phase = (dice.uniform(0, math.tau), dice.uniform(0, math.tau))
        short = min(self.width, self.height)
        self.shapes = []
        for _ in range(style.shapes):
            diameter = max(4, round(dice.uniform(0.16, 0.4) * short))
            self.shapes.append(
                _Shape(
                    sprite=_sprite(diameter, dice.randrange(3), style.softness,
                                   dice.uniform(0.55, 0.9)),
                    color=colors[3 + dice.randrange(3)],
                    center=(dice.uniform(0.15, 0.85), dice.uniform(0.2, 0.75)),
                    orbit=(dice.uniform(0.05, 0.3) * self.width,
                           dice.uniform(0.05, 0.25) * self.height),
                    freq=(dice.choice((0.5, 1.0, 1.5)), dice.choice((0.5, 1.0, 1.5))),
                    phase=tuple(dice.uniform(0, math.tau) for _ in range(4)),
                    sizes={},
                )
            )  # fmt: skip

    def frame(self, index: int) -> Image.Image:
        style, t = self.style, index / self.fps
        w = math.tau * style.speed_hz * t
        shake_x, shake_y = camera_shake(style, t)
        ox = self.margin * (1 + math.sin(0.5 * w + self.bg_phase[0]))
        oy = self.margin * (1 + math.sin(0.4 * w + self.bg_phase[1]))
        ox = min(max(round(ox + shake_x), 0), 2 * self.margin)
        oy = min(max(round(oy + shake_y), 0), 2 * self.margin)
        canvas = self.background.crop((ox, oy, ox + self.width, oy + self.height))
        for shape in self.shapes:
            px, py, pb, ps = shape.phase
            scale = 1 + style.pulse * math.sin(2 * w + ps)
            size = max(2, 2 * round(shape.sprite.width * scale / 2))
            sprite = shape.sizes.get(size)
            if sprite is None:
                sprite = shape.sprite.resize((size, size), Image.Resampling.BILINEAR)
                shape.sizes[size] = sprite
            hop = style.bounce * self.height * abs(math.sin(1.5 * w + pb))
            x = shape.center[0] * self.width + shape.orbit[0] * math.sin(shape.freq[0] * w + px)
            y = shape.center[1] * self.height + shape.orbit[1] * math.sin(shape.freq[1] * w + py)
            corner = (round(x - size / 2 - shake_x), round(y - hop - size / 2 - shake_y))
            canvas.paste(shape.color, corner, sprite)
        return canvas


class _ImageScene:
    """The input images under a moving camera, cross-faded in order."""

    def __init__(self, request: GenerationRequest, style: ModeStyle, dice: random.Random):
        self.width, self.height, self.fps = request.width, request.height, request.fps
        self.style = style
        # Room for the camera to zoom and bob without ever upscaling past the source.
        grow = 1 + style.zoom + style.bounce
        size = (math.ceil(self.width * grow), math.ceil(self.height * grow))
        self.bases = [_prepare_image(im, n, size, style) for n, im in enumerate(request.images, 1)]
        self.segment = request.num_frames / len(self.bases)
        self.fade = min(CROSSFADE_SECONDS * request.fps, self.segment / 2)
        # Per image: zoom in or out, and a pan direction.
        self.moves = [(dice.choice((1, -1)), dice.uniform(0, math.tau)) for _ in self.bases]

    def _view(self, which: int, index: int) -> Image.Image:
        style, base = self.style, self.bases[which]
        start = which * self.segment - self.fade / 2
        ease = smooth((index - start) / (self.segment + self.fade))
        t = index / self.fps
        direction, angle = self.moves[which]
        bob = style.bounce * abs(math.sin(math.tau * style.speed_hz * t))
        zoom_in = (ease if direction > 0 else 1 - ease) * style.zoom
        scale = 1 + min(zoom_in + bob, style.zoom + style.bounce)  # 1 = widest view
        crop_w, crop_h = base.width / scale, base.height / scale
        slack_x, slack_y = (base.width - crop_w) / 2, (base.height - crop_h) / 2
        shake_x, shake_y = camera_shake(style, t)
        reach = 2 * ease - 1
        cx = base.width / 2 + slack_x * reach * math.cos(angle) + shake_x
        cy = base.height / 2 + slack_y * reach * math.sin(angle) + shake_y
        x0 = min(max(cx - crop_w / 2, 0.0), base.width - crop_w)
        y0 = min(max(cy - crop_h / 2, 0.0), base.height - crop_h)
        box = (x0, y0, x0 + crop_w, y0 + crop_h)
        return base.resize((self.width, self.height), Image.Resampling.BILINEAR, box=box)

    def frame(self, index: int) -> Image.Image:
        which = min(int(index / self.segment), len(self.bases) - 1)
        view = self._view(which, index)
        boundary_prev, boundary_next = which * self.segment, (which + 1) * self.segment
        if which + 1 < len(self.bases) and index > boundary_next - self.fade / 2:
            mix = 0.5 + (index - boundary_next) / self.fade  # in (0, 0.5)
            return Image.blend(view, self._view(which + 1, index), smooth(mix))
        if which > 0 and index < boundary_prev + self.fade / 2:
            mix = 0.5 + (index - boundary_prev) / self.fade  # in [0.5, 1)
            return Image.blend(self._view(which - 1, index), view, smooth(mix))
        return view


def smooth(u: float) -> float:
    """Smoothstep: 0 at 0, 1 at 1, flat at both ends."""
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def camera_shake(style: ModeStyle, t: float) -> tuple[float, float]:
    """The mode's camera jitter (x, y) in pixels at ``t`` seconds."""
    # Incommensurate frequencies so the jitter never looks periodic.
    return (
        style.shake_px * math.sin(t * 37.7) * math.sin(t * 11.3),
        style.shake_px * math.sin(t * 29.3 + 1.0) * math.sin(t * 7.9),
    )


def _prepare_image(
    image: InputImage, number: int, size: tuple[int, int], style: ModeStyle
) -> Image.Image:
    """Decode, cover-fit to ``size`` (centre crop) and colour-grade one input image, once."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.draft("RGB", size)  # JPEG: decode at a reduced scale when it is much larger
            picture = ImageOps.exif_transpose(opened)
            if picture.mode in ("RGBA", "LA", "PA", "P") and picture.has_transparency_data:
                backdrop = Image.new("RGBA", picture.size, (24, 24, 24, 255))
                picture = Image.alpha_composite(backdrop, picture.convert("RGBA"))
            picture = picture.convert("RGB")
    except (OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise EngineError(f"image {number} could not be decoded", code="INVALID_IMAGE") from exc
    picture = ImageOps.fit(picture, size, Image.Resampling.BILINEAR)
    picture = ImageEnhance.Color(picture).enhance(style.color_gain)
    picture = ImageEnhance.Contrast(picture).enhance(style.contrast_gain)
    if style.tint != (1.0, 1.0, 1.0):
        graded = np.asarray(picture, dtype=np.float32) * np.array(style.tint, dtype=np.float32)
        picture = Image.fromarray(np.clip(graded, 0, 255).astype(np.uint8), "RGB")
    return picture


def _validate(request: GenerationRequest) -> ModeStyle:
    style = MODE_STYLES.get(request.mode)
    if style is None:
        raise EngineError(f"unknown mode {request.mode!r}", code="INVALID_REQUEST")
    if request.width < 16 or request.height < 16 or request.width % 2 or request.height % 2:
        raise EngineError(
            f"size {request.width}x{request.height} must be even and at least 16",
            code="INVALID_REQUEST",
        )
    if request.num_frames < 1 or request.fps < 1:
        raise EngineError("num_frames and fps must be positive", code="INVALID_REQUEST")
    return style


def _look(request: GenerationRequest, style: ModeStyle) -> VideoLook:
    """What extend and edit take of the mode: its grade, its motion, a colour of the prompt."""
    (wash,) = palette(style, dice_of(request), 1)
    return VideoLook(
        color_gain=style.color_gain,
        contrast_gain=style.contrast_gain,
        tint=style.tint,
        wash=wash,
        zoom=style.zoom,
        drift=style.drift,
        speed_hz=style.speed_hz,
        shake=lambda t: camera_shake(style, t),
    )


def _operation_caption(request: GenerationRequest) -> str:
    """The caption of an extend or edit: what was done, then the prompt."""
    if request.operation == "extend":
        seconds = request.num_frames / max(1, request.fps)
        return f"Extended +{seconds:g} s: {request.prompt}"
    return f"Edited ({request.mode}): {request.prompt}"


class PreviewEngine(Engine):
    """Renders a captioned preview video on the CPU; deterministic in prompt, seed, mode, ratio."""

    name: ClassVar[str] = "preview"

    def __init__(self, *, threads: int = 1, preset: str = "ultrafast", crf: int = 23):
        """``threads`` caps the encoder; ``preset``/``crf`` are libx264's speed/quality knobs."""
        self.threads, self.preset, self.crf = threads, preset, crf

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Render ``request`` into ``output`` (written atomically; absent if canceled/failed)."""
        style = _validate(request)
        control.check_canceled()
        if request.operation != "generate":
            look = _look(request, style)
            caption = caption_layer(_operation_caption(request), request.width, request.height)
            frames, _, details = source_frames(request, look, caption, control)
        else:
            kind = _ImageScene if request.images else _TextScene
            scene = kind(request, style, dice_of(request))
            caption = caption_layer(request.prompt, request.width, request.height)
            frames = self._frames(scene, caption, request, control)
            details = {"images": len(request.images)}
        partial = output.with_name(f".{output.name}.partial")
        try:
            count = encode_mp4(
                frames,
                partial,
                width=request.width,
                height=request.height,
                fps=request.fps,
                preset=self.preset,
                crf=self.crf,
                threads=self.threads,
            )
            os.replace(partial, output)
        except (OSError, av.FFmpegError) as exc:
            partial.unlink(missing_ok=True)
            raise EngineError(f"encoding failed: {exc}", code="ENCODE_FAILED") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        control.report(1.0)
        return GenerationResult(details={"frames": count, "mode": request.mode, **details})

    @staticmethod
    def _frames(
        scene: _TextScene | _ImageScene,
        caption: tuple[Image.Image, Image.Image],
        request: GenerationRequest,
        control: RenderControl,
    ) -> Iterator[np.ndarray]:
        band, mask = caption
        corner = caption_box(request.width, request.height)[:2]
        for index in range(request.num_frames):
            if index % CHECK_EVERY_FRAMES == 0:
                control.check_canceled()
                control.report(0.99 * index / request.num_frames)
            canvas = scene.frame(index)
            canvas.paste(band, corner, mask)
            yield np.asarray(canvas)
