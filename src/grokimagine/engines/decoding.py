"""Decoding source videos (of extend and edit) into frames at our size and frame rate."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import numpy as np

from grokimagine.engines.base import EngineError, InputVideo


def decoded_frames(
    video: InputVideo, width: int, height: int, fps: int, count: int
) -> Iterator[np.ndarray]:
    """``count`` RGB frames of ``video`` at ``fps``, resized to ``width`` x ``height``.

    Each output instant shows the last source frame shown by then, so any frame rate maps to
    ours; a source shorter than ``count`` frames holds its last frame.
    """
    try:
        with av.open(io.BytesIO(video.data), mode="r") as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or fps)
            produced = 0
            current: np.ndarray | None = None
            for index, frame in enumerate(container.decode(stream)):
                start = frame.time if frame.time is not None else index / rate
                picture = frame.to_ndarray(width=width, height=height, format="rgb24")
                # Emit every output instant before this frame starts with the frame before it.
                while current is not None and produced < count and produced / fps < start:
                    yield current
                    produced += 1
                current = picture
                if produced >= count:
                    return
            while current is not None and produced < count:
                yield current
                produced += 1
    except av.FFmpegError as exc:
        raise EngineError("the source video could not be decoded", code="INVALID_VIDEO") from exc
    if produced == 0:
        raise EngineError("the source video has no frames", code="INVALID_VIDEO")
