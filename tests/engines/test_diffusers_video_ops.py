"""Extend and edit on the diffusers engine, on the CPU with tiny random-weight models.

LTX continues from the source's last frames (a video condition), Wan image-to-video from its
last frame, Wan VACE repaints the source; each result is decoded and its frames counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from grokimagine.engines.base import EngineError, InputVideo, RenderControl  # noqa: E402
from grokimagine.engines.encoding import encode_mp4  # noqa: E402
from grokimagine.engines.registry import engine_capabilities  # noqa: E402
from grokimagine.settings import Settings  # noqa: E402
from tests.helpers.diffusers import Spy, decode, make_engine, tiny_request  # noqa: E402


def source_video(tmp_path: Path, seconds: float = 1.0, fps: int = 24) -> InputVideo:
    """A 64x64 H.264 clip whose frames brighten over time, so order can be checked."""
    count = round(seconds * fps)
    frames = [np.full((64, 64, 3), 20 + 200 * i // count, np.uint8) for i in range(count)]
    path = tmp_path / "source.mp4"
    encode_mp4(frames, path, width=64, height=64, fps=fps)
    return InputVideo(path.read_bytes(), "video/mp4", seconds, 64, 64)


def test_ltx_extends_from_the_sources_last_frames(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.LTXConditionPipeline)
    engine = make_engine(tiny_models, "ltx")
    source = source_video(tmp_path, seconds=1.0)
    request = tiny_request(operation="extend", source=source, num_frames=9, fps=24)
    output = tmp_path / "extended.mp4"

    result = engine.generate(request, output, RenderControl())

    [(pipeline, kwargs)] = spy.calls
    [condition] = kwargs["conditions"]
    # The last frame_step + 1 source frames condition the start of a 9 + 9 - 1 frame clip.
    assert (pipeline, condition.frame_index, len(condition.video)) == ("LTXConditionPipeline", 0, 9)
    assert kwargs["num_frames"] == 17
    assert np.asarray(condition.video[-1]).mean() == pytest.approx(20 + 200 * 23 / 24, abs=4)
    frames = decode(output)
    assert frames.shape == (24 + 8, 64, 64, 3)  # the source, then what follows the context
    means = frames[:24].reshape(24, -1).mean(axis=1)
    assert means[0] < means[12] < means[23]  # the source plays first, in order
    assert result.details["added_frames"] == 8 and result.details["direction"] == "continue"


def test_wan_image_to_video_extends_from_the_last_frame(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanImageToVideoPipeline)
    engine = make_engine(tiny_models, i2v="wan-i2v")
    source = source_video(tmp_path, seconds=1.0)
    request = tiny_request(operation="extend", source=source, num_frames=9, fps=16)

    result = engine.generate(request, tmp_path / "extended.mp4", RenderControl())

    [(pipeline, kwargs)] = spy.calls
    assert pipeline == "WanImageToVideoPipeline" and kwargs["num_frames"] == 9
    frames = decode(tmp_path / "extended.mp4")
    assert frames.shape == (16 + 8, 64, 64, 3)  # 1 s at Wan's 16 fps, then 8 new frames
    # The start image is the last frame the source shows, where the continuation begins.
    assert np.asarray(kwargs["image"]).mean() == pytest.approx(frames[15].mean(), abs=3)
    assert frames[15].mean() > frames[0].mean() + 150
    assert result.details["source_frames"] == 16


def test_wan_vace_edits_every_frame_of_the_source(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanVACEPipeline)
    engine = make_engine(tiny_models, "wan-t2v", edit_model=str(tiny_models["wan-vace"]))
    source = source_video(tmp_path, seconds=0.5)
    request = tiny_request(operation="edit", source=source, num_frames=12, fps=24)
    progress: list[float] = []

    result = engine.generate(request, tmp_path / "edited.mp4", RenderControl(progress.append))

    [(pipeline, kwargs)] = spy.calls
    assert pipeline == "WanVACEPipeline"
    assert len(kwargs["video"]) == len(kwargs["mask"]) == kwargs["num_frames"] == 9
    assert all(np.asarray(mask).min() == 255 for mask in kwargs["mask"])  # repaint everything
    assert decode(tmp_path / "edited.mp4").shape == (9, 64, 64, 3)  # 0.5 s at 16 fps, legal
    assert result.details["pipeline"] == "WanVACEPipeline"
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_a_model_that_cannot_extend_or_edit_says_so_and_lets_another_engine_try(
    tiny_models, tmp_path
):
    engine = make_engine(tiny_models, "wan-t2v")
    source = source_video(tmp_path, seconds=0.5)
    for operation in ("extend", "edit"):
        request = tiny_request(operation=operation, source=source)
        with pytest.raises(EngineError) as raised:
            engine.generate(request, tmp_path / "out.mp4", RenderControl())
        assert raised.value.code == "OPERATION_UNSUPPORTED" and raised.value.fallback


def test_a_canceled_extend_stops_between_steps(tiny_models, tmp_path):
    engine = make_engine(tiny_models, "ltx")
    control = RenderControl()

    def cancel_after_first_step(fraction: float) -> None:
        if fraction > 0:
            control.cancel_event.set()

    control.on_progress = cancel_after_first_step
    request = tiny_request(operation="extend", source=source_video(tmp_path), num_frames=9)
    from grokimagine.engines.base import GenerationCanceled

    with pytest.raises(GenerationCanceled):
        engine.generate(request, tmp_path / "out.mp4", control)
    assert not (tmp_path / "out.mp4").exists()


def test_capabilities_follow_the_configured_models() -> None:
    def operations(**values: Any) -> tuple[str, ...]:
        return engine_capabilities(Settings(**values), "diffusers").operations

    assert operations(diffusers_t2v_model="t") == ("generate",)
    assert operations(diffusers_i2v_model="i") == ("generate", "extend")
    assert operations(diffusers_t2v_model="t", diffusers_edit_model="v") == ("generate", "edit")
