"""What the API offers: modes, ratios, default video sizes and the price of a video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["fun", "normal", "spicy"]
Ratio = Literal["2:3", "3:2", "1:1"]

MODES: tuple[str, ...] = ("fun", "normal", "spicy")
RATIOS: tuple[str, ...] = ("2:3", "3:2", "1:1")

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
}
