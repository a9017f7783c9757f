"""encode_mp4: frames in, H.264 MP4 out; bad frames refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grokimagine.engines.encoding import encode_mp4
from tests.helpers.mp4 import decode, top_level_boxes


def gradient_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return [
        np.broadcast_to((ramp + 8 * i) % 256, (height, width, 3)).astype(np.uint8)
        for i in range(count)
    ]


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_encodes_every_frame(tmp_path: Path, threads: int | None) -> None:
    output = tmp_path / "v.mp4"
    written = encode_mp4(
        gradient_frames(12, 64, 48), output, width=64, height=48, fps=24, threads=threads
    )
    video = decode(output)
    assert written == 12 and video.frames.shape == (12, 48, 64, 3)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    boxes = top_level_boxes(output)
    assert boxes.index("moov") < boxes.index("mdat")


def test_frames_are_encoded_faithfully(tmp_path: Path) -> None:
    frames = gradient_frames(6, 64, 48)
    output = tmp_path / "v.mp4"
    encode_mp4(frames, output, width=64, height=48, fps=24, preset="ultrafast", crf=10)
    decoded = decode(output).frames.astype(np.int16)
    assert np.abs(decoded - np.stack(frames)).mean() < 4


def test_wrong_frame_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        encode_mp4(gradient_frames(2, 32, 32), tmp_path / "v.mp4", width=64, height=48, fps=24)
