"""The diffusers engine end to end on the CPU, with tiny random-weight Wan and LTX models.

Each test loads models through the production loader from directories written by
``save_pretrained`` (see conftest.py), renders 64x64 clips in 2 steps, and decodes the MP4.
"""

from __future__ import annotations

import functools
import io
import threading
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

import av  # noqa: E402
from PIL import Image  # noqa: E402

from grokimagine.engines.base import (  # noqa: E402
    EngineError,
    GenerationCanceled,
    InputImage,
    RenderControl,
)
from grokimagine.engines.diffusers.config import DiffusersConfig, SpeedOptions  # noqa: E402
from grokimagine.engines.diffusers.engine import DiffusersEngine  # noqa: E402
from grokimagine.engines.diffusers.loader import ConfigurationError, ModelNotFoundError  # noqa: E402
from grokimagine.engines.diffusers.profiles import load_presets  # noqa: E402
from grokimagine.engines.registry import (  # noqa: E402
    EngineConfigError,
    build_engine,
    check_engine,
    known_engines,
)
from grokimagine.settings import Settings  # noqa: E402
from tests.helpers.diffusers import STEPS, Spy, decode, make_engine, tiny_request  # noqa: E402

PRESETS = load_presets()


def png(color: tuple[int, int, int], size: tuple[int, int] = (96, 72)) -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return InputImage(buffer.getvalue(), "image/png")


@pytest.mark.parametrize(
    ("t2v", "i2v", "images", "fps", "expected"),
    [
        # (frames, pipeline) expected at 64x64
        ("wan-t2v", None, 0, 16, (9, "WanPipeline", [])),
        (None, "wan-i2v", 1, 16, (9, "WanImageToVideoPipeline", [1])),
        (None, "wan-flf2v", 2, 16, (9, "WanImageToVideoPipeline", [1, 2])),
        ("wan-ti2v", None, 0, 24, (9, "WanPipeline", [])),
        ("wan-ti2v", None, 1, 24, (9, "WanImageToVideoPipeline", [1])),
        ("ltx", None, 0, 24, (9, "LTXPipeline", [])),
        ("ltx", None, 1, 24, (9, "LTXImageToVideoPipeline", [1])),
        ("ltx", None, 3, 24, (9, "LTXConditionPipeline", [1, 2, 3])),
    ],
)
def test_renders_a_decodable_mp4(tiny_models, tmp_path, t2v, i2v, images, fps, expected):
    engine = make_engine(tiny_models, t2v, i2v)
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)][:images]
    request = tiny_request(fps=fps, images=tuple(png(color) for color in colors))
    progress: list[float] = []
    output = tmp_path / "video.mp4"

    result = engine.generate(request, output, RenderControl(on_progress=progress.append))

    frames = decode(output)
    count, pipeline, used = expected
    assert frames.shape == (count, 64, 64, 3)
    details = result.details
    assert (details["width"], details["height"], details["num_frames"]) == (64, 64, count)
    assert details["pipeline"] == pipeline
    assert details["images_used"] == used
    assert details["steps"] == STEPS
    # One report per denoising step, then decode and encode; never backwards.
    assert len(progress) == STEPS + 2
    assert progress == sorted(progress) and progress[-1] == 1.0
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == details["fps"]


def test_frame_count_follows_the_duration_at_native_fps(tiny_models, tmp_path):
    # 17 frames at 16 fps last 1.0625 s: Wan keeps 17 frames at 16 fps, LTX makes 25 at 24.
    request = tiny_request(num_frames=17, fps=16)
    wan = make_engine(tiny_models, "wan-t2v").generate(request, tmp_path / "a.mp4", RenderControl())
    ltx = make_engine(tiny_models, "ltx").generate(request, tmp_path / "b.mp4", RenderControl())
    assert decode(tmp_path / "a.mp4").shape[0] == wan.details["num_frames"] == 17
    assert decode(tmp_path / "b.mp4").shape[0] == ltx.details["num_frames"] == 25
    assert (wan.details["fps"], ltx.details["fps"]) == (16, 24)


def test_style_presets_reach_the_pipeline(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanPipeline, diffusers.LTXPipeline)
    request = tiny_request(mode="spicy", negative_prompt="dogs")
    make_engine(tiny_models, "wan-t2v").generate(request, tmp_path / "a.mp4", RenderControl())
    make_engine(tiny_models, "ltx").generate(
        tiny_request(mode="fun", fps=24), tmp_path / "b.mp4", RenderControl()
    )

    (wan_class, wan), (ltx_class, ltx) = spy.calls
    spicy, fun = PRESETS.mode("spicy"), PRESETS.mode("fun")
    assert (wan_class, ltx_class) == ("WanPipeline", "LTXPipeline")
    assert wan["prompt"] == "a cat walks on a fence, " + spicy.prompt_suffix
    assert wan["negative_prompt"] == "dogs, " + spicy.negative_prompt
    assert wan["guidance_scale"] == spicy.guidance["wan"]
    assert ltx["prompt"].endswith(fun.prompt_suffix)
    assert ltx["negative_prompt"] == fun.negative_prompt
    assert ltx["guidance_scale"] == fun.guidance["ltx"]
    assert ltx["frame_rate"] == 24
    assert wan["num_inference_steps"] == ltx["num_inference_steps"] == STEPS


def test_images_are_framed_and_placed(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanImageToVideoPipeline, diffusers.LTXConditionPipeline)
    images = (png((255, 0, 0), (200, 100)), png((0, 255, 0)), png((0, 0, 255)))
    make_engine(tiny_models, i2v="wan-flf2v").generate(
        tiny_request(images=images), tmp_path / "a.mp4", RenderControl()
    )
    make_engine(tiny_models, "ltx").generate(
        tiny_request(images=images, fps=24), tmp_path / "b.mp4", RenderControl()
    )
    (_, wan), (_, ltx) = spy.calls
    # Wan: first and last image as start and end frames, cropped to the render size.
    assert wan["image"].size == wan["last_image"].size == (64, 64)
    assert wan["image"].getpixel((32, 32)) == (255, 0, 0)
    assert wan["last_image"].getpixel((32, 32)) == (0, 0, 255)
    # LTX: every image as a keyframe, spread over the clip.
    assert [condition.frame_index for condition in ltx["conditions"]] == [0, 4, 8]
    assert [c.image.getpixel((0, 0)) for c in ltx["conditions"]] == [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
    ]


def test_the_seed_makes_renders_reproducible(tiny_models, tmp_path):
    engine = make_engine(tiny_models, "wan-t2v")
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        engine.generate(tiny_request(seed=seed), tmp_path / f"{name}.mp4", RenderControl())
    first, again, other = (decode(tmp_path / f"{name}.mp4") for name in "abc")
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cancel_stops_between_steps_and_the_engine_recovers(tiny_models, tmp_path):
    engine = make_engine(tiny_models, "ltx")
    control = RenderControl()
    reports: list[float] = []

    def on_progress(fraction: float) -> None:
        reports.append(fraction)
        control.cancel_event.set()  # the user cancels during the first step

    control.on_progress = on_progress
    output = tmp_path / "canceled.mp4"
    with pytest.raises(GenerationCanceled):
        engine.generate(tiny_request(fps=24), output, control)
    assert len(reports) == 1 and reports[0] < 1.0
    assert not output.exists()

    engine.generate(tiny_request(fps=24), tmp_path / "after.mp4", RenderControl())
    assert decode(tmp_path / "after.mp4").shape == (9, 64, 64, 3)


def test_a_canceled_task_never_reaches_the_pipeline(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanPipeline)
    control = RenderControl()
    control.cancel_event.set()
    with pytest.raises(GenerationCanceled):
        make_engine(tiny_models, "wan-t2v").generate(tiny_request(), tmp_path / "x.mp4", control)
    assert spy.calls == []


def test_missing_directions_and_bad_images_are_engine_errors(tiny_models, tmp_path):
    text_only = make_engine(tiny_models, "wan-t2v")
    with pytest.raises(EngineError) as caught:
        text_only.generate(
            tiny_request(images=(png((1, 2, 3)),)), tmp_path / "x.mp4", RenderControl()
        )
    assert caught.value.code == "IMAGE_TO_VIDEO_UNAVAILABLE"
    assert caught.value.fallback
    assert "GROKIMAGINE_DIFFUSERS_I2V_MODEL" in caught.value.message

    image_only = make_engine(tiny_models, i2v="wan-i2v")
    with pytest.raises(EngineError) as caught:
        image_only.generate(tiny_request(), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "TEXT_TO_VIDEO_UNAVAILABLE"

    garbage = InputImage(b"not an image at all", "image/png")
    with pytest.raises(EngineError) as caught:
        image_only.generate(tiny_request(images=(garbage,)), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "INVALID_IMAGE"
    assert caught.value.message == "image 1 cannot be decoded"


def test_decompression_bombs_are_invalid_images(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 96x72 is then over twice the limit
    engine = make_engine(tiny_models, i2v="wan-i2v")
    with pytest.raises(EngineError) as caught:
        engine.generate(tiny_request(images=(png((9, 9, 9)),)), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "INVALID_IMAGE"


def test_exif_rotated_photos_are_rendered_upright(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanImageToVideoPipeline)
    # Stored landscape, left half red; EXIF orientation 6 says: turn 90 degrees clockwise.
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    photo = InputImage(buffer.getvalue(), "image/jpeg")
    engine = make_engine(tiny_models, i2v="wan-i2v")
    engine.generate(
        tiny_request(images=(photo,), ratio="2:3", width=32, height=48),
        tmp_path / "x.mp4",
        RenderControl(),
    )
    ((_, kwargs),) = spy.calls
    framed = kwargs["image"]
    assert framed.size == (32, 48)
    # Upright, the red half is on top.
    top, bottom = framed.getpixel((16, 4)), framed.getpixel((16, 44))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_pipeline_faults_become_engine_errors(tiny_models, tmp_path, monkeypatch):
    engine = make_engine(tiny_models, "wan-t2v")
    original = diffusers.WanPipeline.__call__
    faults = iter([RuntimeError("secret internal detail"), torch.OutOfMemoryError("CUDA OOM")])

    def failing(pipe: Any, *args: Any, **kwargs: Any) -> Any:
        raise next(faults)

    monkeypatch.setattr(diffusers.WanPipeline, "__call__", failing)
    with pytest.raises(EngineError) as caught:
        engine.generate(tiny_request(), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "ENGINE_FAILED" and "secret" not in caught.value.message
    with pytest.raises(EngineError) as caught:
        engine.generate(tiny_request(), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "OUT_OF_MEMORY"

    monkeypatch.setattr(diffusers.WanPipeline, "__call__", original)
    engine.generate(tiny_request(), tmp_path / "ok.mp4", RenderControl())
    assert decode(tmp_path / "ok.mp4").shape == (9, 64, 64, 3)


def test_speed_settings_are_applied_and_state_does_not_leak(tiny_models, tmp_path):
    # A high threshold makes the first-block cache reuse results on these random weights, so
    # stale cache state from a canceled video would change the next one.
    speed = SpeedOptions(device="cpu", cache="first-block", cache_threshold=1.0, vae_tiling=True)
    engine = make_engine(tiny_models, "wan-t2v", speed=speed, steps=4)
    base_path = tmp_path / "first.mp4"
    engine.generate(tiny_request(), base_path, RenderControl())

    control = RenderControl()
    control.on_progress = lambda fraction: fraction > 0.4 and control.cancel_event.set()
    with pytest.raises(GenerationCanceled):
        engine.generate(tiny_request(prompt="a dog", seed=9), tmp_path / "x.mp4", control)

    engine.generate(tiny_request(), tmp_path / "again.mp4", RenderControl())
    assert np.array_equal(decode(base_path), decode(tmp_path / "again.mp4"))
    base = next(iter(engine._loaded.values())).base
    assert base.transformer.is_cache_enabled
    assert base.vae.use_tiling
    assert base.transformer.dtype == torch.float32  # auto dtype on the CPU


def test_warmup_loads_and_renders_once_per_model(tiny_models, tmp_path, monkeypatch):
    spy = Spy(monkeypatch, diffusers.WanPipeline, diffusers.WanImageToVideoPipeline)
    engine = make_engine(tiny_models, "wan-t2v", "wan-i2v", warmup_steps=1)
    engine.warmup()
    assert [name for name, _ in spy.calls] == ["WanPipeline", "WanImageToVideoPipeline"]
    assert all(kwargs["num_inference_steps"] == 1 for _, kwargs in spy.calls)
    assert len(engine._loaded) == 2
    # Warm-up used its own scratch file and left the models loaded for real work.
    engine.generate(tiny_request(), tmp_path / "a.mp4", RenderControl())
    assert len(spy.calls) == 3


def test_concurrent_tasks_render_one_at_a_time(tiny_models, tmp_path):
    engine = make_engine(tiny_models, "ltx")
    errors: list[BaseException] = []

    def render(index: int) -> None:
        try:
            engine.generate(
                tiny_request(fps=24, seed=index), tmp_path / f"{index}.mp4", RenderControl()
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=render, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert all(decode(tmp_path / f"{index}.mp4").shape == (9, 64, 64, 3) for index in range(3))


def test_models_load_from_the_hugging_face_cache(tiny_models, tmp_path):
    repo = tmp_path / "hub" / "models--tiny--ltx"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / "abc123").symlink_to(tiny_models["ltx"], target_is_directory=True)
    engine = DiffusersEngine(
        DiffusersConfig(
            t2v_model="tiny/ltx",
            hf_cache=tmp_path / "hub",
            speed=SpeedOptions(device="cpu"),
            steps=1,
        )
    )
    engine.generate(tiny_request(fps=24), tmp_path / "a.mp4", RenderControl())
    assert decode(tmp_path / "a.mp4").shape == (9, 64, 64, 3)


def test_start_up_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_T2V_MODEL", str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError) as caught:
        build_engine(Settings(), "diffusers")
    assert str(tmp_path / "no-such-model") in caught.value.message

    monkeypatch.delenv("GROKIMAGINE_DIFFUSERS_T2V_MODEL")
    with pytest.raises(EngineConfigError, match="GROKIMAGINE_DIFFUSERS_T2V_MODEL"):
        check_engine(Settings(), "diffusers")
    with pytest.raises(EngineConfigError, match="GROKIMAGINE_DIFFUSERS_T2V_MODEL"):
        build_engine(Settings(), "diffusers")
    with pytest.raises(ConfigurationError, match="GROKIMAGINE_DIFFUSERS_T2V_MODEL"):
        DiffusersEngine(DiffusersConfig())
    assert "diffusers" in known_engines()


def test_settings_the_model_cannot_honour_fail_at_start_up(tiny_models, tmp_path):
    with pytest.raises(ConfigurationError, match="1080p"):
        make_engine(tiny_models, "wan-t2v", max_resolution="1080p")
    with pytest.raises(ConfigurationError, match="GPU"):
        make_engine(tiny_models, "wan-t2v", speed=SpeedOptions(device="cpu", offload="model"))
    with pytest.raises(ConfigurationError, match="presets"):
        make_engine(tiny_models, "wan-t2v", presets_file=tmp_path / "absent.json")


def test_compiled_transformer_blocks_render(tiny_models, tmp_path, monkeypatch):
    # Dynamo traces every block as it would on a GPU (whole, without graph breaks); the aot_eager
    # backend stands in for Inductor, whose C++ build on a CPU took 50 s of the suite's time.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    engine = make_engine(tiny_models, "ltx", speed=SpeedOptions(device="cpu", compile=True))
    engine.generate(tiny_request(fps=24), tmp_path / "a.mp4", RenderControl())
    assert decode(tmp_path / "a.mp4").shape == (9, 64, 64, 3)
    blocks = next(iter(engine._loaded.values())).base.transformer.transformer_blocks
    assert all(block._compiled_call_impl is not None for block in blocks)
