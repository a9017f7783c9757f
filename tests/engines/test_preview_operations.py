"""The preview engine's extend and edit: honest previews made from the source itself."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from grokimagine.engines.base import (
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    InputVideo,
    RenderControl,
)
from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.preview.captions import caption_box
from grokimagine.engines.preview.engine import PreviewEngine


def source(tmp_path: Path, seconds: float = 1.0, fps: int = 30) -> InputVideo:
    """A 96x64 clip at ``fps`` whose frames brighten over time."""
    count = round(seconds * fps)
    frames = [np.full((64, 96, 3), 30 + 180 * i // count, np.uint8) for i in range(count)]
    path = tmp_path / "source.mp4"
    encode_mp4(frames, path, width=96, height=64, fps=fps)
    return InputVideo(path.read_bytes(), "video/mp4", seconds, 96, 64)


def request(video: InputVideo, operation: str, num_frames: int, mode: str = "normal"):
    return GenerationRequest("then it snows", mode, "3:2", 96, 64, num_frames, 24, 5,
                             operation=operation, source=video)  # fmt: skip


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def above_caption(frames: np.ndarray) -> np.ndarray:
    return frames[:, : caption_box(96, 64)[1]]


def test_extend_plays_the_source_at_24_fps_then_continues_from_its_last_frame(tmp_path) -> None:
    output = tmp_path / "out.mp4"
    result = PreviewEngine().generate(request(source(tmp_path), "extend", 48), output,
                                      RenderControl())  # fmt: skip
    frames = decode(output)
    assert frames.shape[0] == 24 + 48  # 1 s of a 30 fps source at 24 fps, then 2 s
    assert result.details["source_frames"] == 24 and result.details["operation"] == "extend"
    picture = above_caption(frames).reshape(len(frames), -1).mean(axis=1)
    assert picture[0] < picture[12] < picture[23]  # the source, in order
    # No jump at the seam: the continuation starts from the source's last frame.
    assert abs(picture[24] - picture[23]) < 6
    # The source part carries no caption; the added part does.
    band = frames[:, caption_box(96, 64)[1] :].reshape(len(frames), -1).std(axis=1)
    assert band[:24].max() < 3 and band[24:].min() > 10


def test_edit_keeps_the_sources_length_and_changes_its_look(tmp_path) -> None:
    video = source(tmp_path)
    output = tmp_path / "out.mp4"
    PreviewEngine().generate(request(video, "edit", 24, mode="spicy"), output, RenderControl())
    edited = above_caption(decode(output)).astype(np.int16)
    original = above_caption(decode(tmp_path / "source.mp4")).astype(np.int16)
    assert edited.shape[0] == 24
    assert np.abs(edited.mean(axis=(0, 1, 2)) - original.mean(axis=(0, 1, 2))).max() > 5


def test_a_canceled_extend_writes_nothing(tmp_path) -> None:
    control = RenderControl()
    control.on_progress = lambda fraction: control.cancel_event.set() if fraction > 0.2 else None
    output = tmp_path / "out.mp4"
    with pytest.raises(GenerationCanceled):
        PreviewEngine().generate(request(source(tmp_path), "extend", 48), output, control)
    assert not output.exists() and not list(tmp_path.glob(".out.mp4.partial"))


def test_a_missing_or_broken_source_is_an_engine_error(tmp_path) -> None:
    missing = GenerationRequest("p", "normal", "1:1", 64, 64, 24, 24, 1, operation="edit")
    with pytest.raises(EngineError) as raised:
        PreviewEngine().generate(missing, tmp_path / "a.mp4", RenderControl())
    assert raised.value.code == "INVALID_REQUEST"
    broken = InputVideo(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64, "video/mp4", 1.0, 64, 64)
    with pytest.raises(EngineError) as raised:
        PreviewEngine().generate(request(broken, "edit", 24), tmp_path / "b.mp4", RenderControl())
    assert raised.value.code == "INVALID_VIDEO"
