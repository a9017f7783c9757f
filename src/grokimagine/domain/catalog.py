"""What the API offers: modes, ratios, video sizes and durations, and the price of a video."""

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

# Part 3 options. Every size of a tier keeps the ratio; 480p is the reference page's sizes.
Resolution = Literal["480p", "720p"]
RESOLUTIONS: tuple[str, ...] = ("480p", "720p")
DEFAULT_RESOLUTION = "480p"
MAX_VIDEOS_PER_TASK = 4

SIZES: dict[str, dict[str, VideoSize]] = {
    "480p": DEFAULT_SIZES,
    "720p": {
        "1:1": VideoSize(720, 720),
        "2:3": VideoSize(720, 1080),
        "3:2": VideoSize(1080, 720),
    },
}


def resolution_of(width: int, height: int) -> str:
    """The tier a stored size belongs to, named by its short side (``480p``, ``720p``)."""
    return f"{min(width, height)}p"
