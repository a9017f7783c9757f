"""What relay engines send and receive besides JSON: input images as data URIs, MP4 results,
and the style text that stands for a mode (providers have no mode parameter).
"""

from __future__ import annotations

import base64
from pathlib import Path

from grokimagine.engines.base import InputImage, InputVideo
from grokimagine.engines.relay.errors import PROVIDER_BAD_RESPONSE, relay_error

# Our modes as style text appended to the prompt. Neither xAI's video API nor OpenAI's
# /v1/videos has a mode or style parameter, so the mode travels in the prompt; an operator
# overrides any entry with GROKIMAGINE_RELAY_STYLE_PRESETS. An empty text leaves the prompt as is.
DEFAULT_STYLE_PRESETS: dict[str, str] = {
    "normal": "",
    "fun": "playful and light-hearted, bright colours, lively and bouncy motion",
    "spicy": "bold and daring, dramatic lighting, intense mood, striking visuals",
}


def styled_prompt(prompt: str, mode: str, overrides: dict[str, str] | None = None) -> str:
    """``prompt`` with the style text of ``mode`` appended, when there is one."""
    presets = {**DEFAULT_STYLE_PRESETS, **(overrides or {})}
    style = presets.get(mode, "").strip()
    return f"{prompt}\n\nStyle: {style}." if style else prompt


def image_data_uri(image: InputImage) -> str:
    """The image as a ``data:<mime>;base64,...`` URI, which both providers accept as a URL."""
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def video_data_uri(video: InputVideo) -> str:
    """The source video as a ``data:video/mp4;base64,...`` URI (or ``video/webm``)."""
    return f"data:{video.mime};base64,{base64.b64encode(video.data).decode('ascii')}"


def is_mp4(path: Path) -> bool:
    """Whether the file starts like an ISO media file (an ``ftyp`` box first)."""
    with path.open("rb") as file:
        head = file.read(12)
    return len(head) == 12 and head[4:8] == b"ftyp"


def check_mp4(path: Path, provider: str) -> None:
    """Refuse what ``provider`` sent as its result unless it is an MP4 (not, say, an error
    page saved in its place)."""
    if not is_mp4(path):
        raise relay_error(PROVIDER_BAD_RESPONSE, f"{provider} result is not an MP4 file")


def duration_seconds(num_frames: int, fps: int) -> int:
    """The request's length in whole seconds (at least 1)."""
    return max(1, round(num_frames / max(1, fps)))
