"""Helpers the engine tests share: decode an MP4 with PyAV and read its top-level boxes."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image


@dataclass
class DecodedVideo:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    frames: np.ndarray  # (count, height, width, 3) uint8 RGB


def decode(path: Path) -> DecodedVideo:
    """Decode every frame of ``path`` to RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return DecodedVideo(
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt,
            width=ctx.width,
            height=ctx.height,
            fps=float(stream.average_rate),
            frames=np.stack(frames),
        )


def top_level_boxes(path: Path) -> list[str]:
    """The types of the MP4 file's top-level boxes, in file order."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:  # 64-bit size follows the type
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:  # box runs to the end of the file
            size = len(data) - offset
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def image_bytes(image: Image.Image, fmt: str = "PNG", **save_args: object) -> bytes:
    """``image`` encoded in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def solid_png(color: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> bytes:
    """A PNG of one colour."""
    return image_bytes(Image.new("RGB", size, color))
