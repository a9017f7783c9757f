"""Poster frames: a JPEG still of each stored video, for thumbnails in lists and players."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import av

POSTER_QUALITY = 82
POSTER_MAX_SIDE = 480  # thumbnails are small; a full frame of a 720p video would waste bytes


def poster_jpeg(video: Path | BinaryIO) -> bytes:
    """A JPEG of the video's first frame (a file, or its bytes), scaled to fit
    ``POSTER_MAX_SIDE``. Raises ``ValueError`` if it holds no decodable video frame.
    """
    name = video.name if isinstance(video, Path) else "the video"
    with av.open(str(video) if isinstance(video, Path) else video) as container:
        if not container.streams.video:
            raise ValueError(f"{name} has no video stream")
        for frame in container.decode(video=0):
            image = frame.to_image()
            break
        else:
            raise ValueError(f"{name} has no video frame")
    image.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=POSTER_QUALITY, optimize=True)
    return out.getvalue()


def poster_key(video_key: str) -> str:
    """Where the poster of a stored video goes: beside it, ``.jpg`` for ``.mp4``."""
    return video_key.rsplit(".", 1)[0] + ".jpg"
