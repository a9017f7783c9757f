"""H.264 MP4 encoding with PyAV, shared by every engine that produces frames."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def encode_mp4(
    frames: Iterable[np.ndarray],
    output: Path,
    *,
    width: int,
    height: int,
    fps: int,
    preset: str = "veryfast",
    crf: int = 23,
    threads: int | None = None,
) -> int:
    """Encode RGB uint8 frames (H x W x 3) as H.264 yuv420p MP4 with the index at the front.

    Returns the number of frames written. Browsers play the result: yuv420p and ``+faststart``.
    ``threads`` caps the encoder's threads (``None``: libx264 picks one per core).
    """
    options = {"preset": preset, "crf": str(crf)}
    if threads is not None:
        options["threads"] = str(threads)
    count = 0
    with av.open(str(output), mode="w", format="mp4", options={"movflags": "+faststart"}) as box:
        stream = box.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = options
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"frame of shape {frame.shape}, expected {(height, width, 3)}")
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            box.mux(stream.encode(video_frame))
            count += 1
        box.mux(stream.encode(None))
    return count
