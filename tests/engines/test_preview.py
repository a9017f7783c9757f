"""The preview engine: contract output, determinism, images, modes, caption, progress, cancel."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from grokimagine.engines.base import (
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    InputImage,
    RenderControl,
)
from grokimagine.engines.preview.captions import caption_box, caption_text, fit_text
from grokimagine.engines.preview.engine import MODE_STYLES, PreviewEngine
from grokimagine.vocabulary import DEFAULT_SIZES, MODES
from tests.helpers.mp4 import decode, image_bytes, solid_png, top_level_boxes

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


def small_request(**changes: object) -> GenerationRequest:
    """A short, small clip: keeps the suite fast where the contract size does not matter."""
    base = GenerationRequest(
        prompt="a lighthouse in a storm",
        mode="normal",
        ratio="3:2",
        width=144,
        height=96,
        num_frames=24,
        fps=12,
        seed=1,
    )
    return dataclasses.replace(base, **changes)


def render(tmp_path: Path, request: GenerationRequest, name: str = "out.mp4") -> np.ndarray:
    output = tmp_path / name
    result = PreviewEngine().generate(request, output, RenderControl())
    assert result.details["frames"] == request.num_frames
    return decode(output).frames


def above_caption(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """The frames without the caption band and a block's margin above it (codec bleed)."""
    top = caption_box(width, height)[1]
    return frames[:, : max(0, top - 16)]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("ratio", sorted(DEFAULT_SIZES))
def test_contract_sizes_are_h264_yuv420p_fast_start(tmp_path: Path, ratio: str) -> None:
    size = DEFAULT_SIZES[ratio]
    request = GenerationRequest(
        prompt="a red fox running through snow",
        mode="fun",
        ratio=ratio,
        width=size.width,
        height=size.height,
        num_frames=144,
        fps=24,
        seed=42,
    )
    output = tmp_path / "clip.mp4"
    PreviewEngine().generate(request, output, RenderControl())

    video = decode(output)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    assert (video.width, video.height) == (size.width, size.height)
    assert video.frames.shape == (144, size.height, size.width, 3)
    assert video.fps == pytest.approx(24)
    boxes = top_level_boxes(output)
    assert boxes.index("moov") < boxes.index("mdat")


@pytest.mark.parametrize(
    ("width", "height", "frames", "fps"), [(256, 144, 10, 12), (34, 62, 5, 30)]
)
def test_any_even_size_and_frame_count(
    tmp_path: Path, width: int, height: int, frames: int, fps: int
) -> None:
    request = small_request(width=width, height=height, num_frames=frames, fps=fps)
    output = tmp_path / "odd.mp4"
    PreviewEngine().generate(request, output, RenderControl())
    video = decode(output)
    assert video.frames.shape == (frames, height, width, 3)
    assert video.fps == pytest.approx(fps)


def test_same_inputs_give_identical_frames(tmp_path: Path) -> None:
    request = small_request()
    assert np.array_equal(render(tmp_path, request, "a.mp4"), render(tmp_path, request, "b.mp4"))


def test_same_images_give_identical_frames(tmp_path: Path) -> None:
    photo = Image.effect_mandelbrot((160, 120), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    request = small_request(images=(InputImage(image_bytes(photo), "image/png"),))
    assert np.array_equal(render(tmp_path, request, "a.mp4"), render(tmp_path, request, "b.mp4"))


@pytest.mark.parametrize("change", [{"prompt": "a quiet bamboo forest at dawn"}, {"seed": 2}])
def test_other_prompt_or_seed_gives_a_different_video(tmp_path: Path, change: dict) -> None:
    first = render(tmp_path, small_request(), "a.mp4")
    other = render(tmp_path, small_request(**change), "b.mp4")
    assert mean_difference(above_caption(first, 144, 96), above_caption(other, 144, 96)) > 10


def test_text_scene_moves(tmp_path: Path) -> None:
    frames = above_caption(render(tmp_path, small_request()), 144, 96)
    assert mean_difference(frames[0], frames[-1]) > 2


@pytest.mark.parametrize("mode", MODES)
def test_solid_red_image_gives_red_frames(tmp_path: Path, mode: str) -> None:
    request = small_request(mode=mode, images=(InputImage(solid_png(RED), "image/png"),))
    frames = above_caption(render(tmp_path, request), 144, 96).astype(np.int16)
    red, green, blue = frames[..., 0], frames[..., 1], frames[..., 2]
    redish = (red > 180) & (green < 70) & (blue < 70)
    assert redish.mean() > 0.98


def test_two_images_cross_fade_in_order(tmp_path: Path) -> None:
    images = (InputImage(solid_png(RED), "image/png"), InputImage(solid_png(BLUE), "image/png"))
    frames = above_caption(render(tmp_path, small_request(images=images)), 144, 96)
    means = frames.reshape(len(frames), -1, 3).mean(axis=1)  # per-frame mean RGB
    assert all(r > 180 and b < 60 for r, _, b in means[:4])
    assert all(b > 180 and r < 60 for r, _, b in means[-4:])
    # A blend of both around the boundary (frame 12), on both sides of it: a fade, not a cut.
    blended = [i for i, (r, _, b) in enumerate(means) if r > 10 and b > 10]
    assert min(blended) < 12 < max(blended) and len(blended) >= 4
    red_over_time = means[:, 0]
    assert np.all(np.diff(red_over_time) <= 2)  # fades out, never back in


def test_image_is_cover_fitted_and_upright(tmp_path: Path) -> None:
    """A wide image in a tall frame shows only its centre, the right way up, without bars.

    The source is green | red | blue | green, tagged with EXIF orientation 3 (turned 180°), so
    upright it reads green | blue | red | green; a cover-fit into 2:3 shows blue | red only.
    """
    source = Image.new("RGB", (400, 100), (0, 255, 0))
    source.paste(RED, (100, 0, 200, 100))
    source.paste(BLUE, (200, 0, 300, 100))
    exif = Image.Exif()
    exif[0x0112] = 3
    data = image_bytes(source, "JPEG", quality=95, exif=exif)
    request = small_request(width=96, height=144, images=(InputImage(data, "image/jpeg"),))
    frames = above_caption(render(tmp_path, request), 96, 144).astype(np.int16)
    left, right = frames[:, :, :20], frames[:, :, -20:]
    assert left[..., 2].mean() > 180 and left[..., 0].mean() < 70
    assert right[..., 0].mean() > 180 and right[..., 2].mean() < 70
    assert (frames[..., 1] > 120).mean() < 0.01  # no green: the sides were cropped, not squeezed
    assert frames.max(axis=-1).min() > 100  # no black bars anywhere


def test_transparent_image_is_accepted(tmp_path: Path) -> None:
    picture = Image.new("RGBA", (64, 64), (0, 255, 0, 0))
    picture.paste((0, 255, 0, 255), (16, 16, 48, 48))
    request = small_request(num_frames=4, images=(InputImage(image_bytes(picture), "image/png"),))
    frames = above_caption(render(tmp_path, request), 144, 96)
    assert frames[..., 1].max() > 200  # the opaque square shows


@pytest.mark.parametrize("with_image", [False, True])
def test_modes_look_different(tmp_path: Path, with_image: bool) -> None:
    photo = Image.effect_mandelbrot((160, 120), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    photo = Image.merge("RGB", (photo.getchannel(0), Image.linear_gradient("L").resize(photo.size),
                                photo.getchannel(0).rotate(180)))  # fmt: skip
    images = (InputImage(image_bytes(photo), "image/png"),) if with_image else ()
    videos = {
        mode: above_caption(
            render(tmp_path, small_request(mode=mode, images=images), mode), 144, 96
        )
        for mode in MODES
    }
    for first, second in [("fun", "normal"), ("normal", "spicy"), ("fun", "spicy")]:
        assert mean_difference(videos[first], videos[second]) > 5, (first, second)


def test_spicy_is_warmer_than_normal_on_the_same_image(tmp_path: Path) -> None:
    images = (InputImage(solid_png(GREY), "image/png"),)
    spicy = above_caption(
        render(tmp_path, small_request(mode="spicy", images=images), "s"), 144, 96
    )
    normal = above_caption(render(tmp_path, small_request(images=images), "n"), 144, 96)
    warmth = [v[..., 0].mean() - v[..., 2].mean() for v in (spicy, normal)]
    assert warmth[0] > warmth[1] + 20


def test_mode_styles_cover_every_mode() -> None:
    assert set(MODE_STYLES) == set(MODES)


def white_text_pixels(band: np.ndarray) -> float:
    """Near-white pixels per frame in the left part of the band, where the prompt is written."""
    return float((band[:, :, :300].min(axis=-1) > 200).sum() / len(band))


def has_yellow_tag(band: np.ndarray) -> bool:
    """Whether the right end of the band holds the yellow "PREVIEW" badge."""
    tag = band[:, :, -120:].astype(np.int16)
    return bool(((tag[..., 0] > 200) & (tag[..., 1] > 150) & (tag[..., 2] < 80)).mean() > 0.2)


def test_caption_shows_prompt_and_tag(tmp_path: Path) -> None:
    """On a plain grey image only the caption band changes with the prompt."""
    images = (InputImage(solid_png(GREY), "image/png"),)
    request = small_request(width=480, height=480, num_frames=3, images=images)
    top = caption_box(480, 480)[1]
    videos = {
        prompt: render(tmp_path, dataclasses.replace(request, prompt=prompt), f"{len(prompt)}")
        for prompt in ("", "zebra", "a lighthouse in a storm")
    }
    pictures = [frames[:, : top - 16] for frames in videos.values()]
    assert all(mean_difference(pictures[0], other) < 1 for other in pictures[1:])
    bands = {prompt: frames[:, top:] for prompt, frames in videos.items()}
    # More letters, more white ink; none at all without a prompt.
    assert white_text_pixels(bands[""]) == 0
    assert white_text_pixels(bands["zebra"]) > 60
    assert white_text_pixels(bands["zebra"]) * 2 < white_text_pixels(
        bands["a lighthouse in a storm"]
    )
    for band in bands.values():
        assert has_yellow_tag(band)
        assert band[:, :, :300].mean() < 100  # the band is darker than the grey picture


def test_text_scene_has_caption(tmp_path: Path) -> None:
    frames = render(tmp_path, small_request(width=480, height=480, num_frames=2))
    band = frames[:, caption_box(480, 480)[1] :]
    assert has_yellow_tag(band) and white_text_pixels(band) > 60


def test_fit_text_ellipsises_long_prompts() -> None:
    font = ImageFont.load_default(size=18)
    long = "a very long prompt about " * 20
    fitted = fit_text(long, font, 300)
    assert fitted.endswith("…") and font.getlength(fitted) <= 300
    assert long.startswith(fitted[:-1])
    assert fit_text("short", font, 300) == "short"
    assert fit_text("impossible", font, 1) == ""


def test_caption_text_is_one_drawable_line() -> None:
    assert caption_text("café\n\tnoir  日本 — “ok”", 18) == "cafe noir ?? - “ok”"


def test_progress_is_monotonic_and_ends_at_one(tmp_path: Path) -> None:
    seen: list[float] = []
    control = RenderControl(on_progress=seen.append)
    PreviewEngine().generate(small_request(), tmp_path / "p.mp4", control)
    assert len(seen) >= 4
    assert seen == sorted(seen) and seen[-1] == 1.0 and seen[0] >= 0.0


def test_cancel_while_rendering_leaves_no_file(tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[float] = []

    def on_progress(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 3:
            cancel.set()

    output = tmp_path / "canceled.mp4"
    with pytest.raises(GenerationCanceled):
        PreviewEngine().generate(
            small_request(num_frames=120), output, RenderControl(on_progress, cancel)
        )
    assert len(seen) == 3  # stopped at the next check, did not finish the clip
    assert list(tmp_path.iterdir()) == []


def test_cancel_before_start_renders_nothing(tmp_path: Path) -> None:
    control = RenderControl()
    control.cancel_event.set()
    with pytest.raises(GenerationCanceled):
        PreviewEngine().generate(small_request(), tmp_path / "x.mp4", control)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [{"mode": "wild"}, {"width": 145}, {"height": 0}, {"num_frames": 0}, {"fps": 0}],
)
def test_bad_requests_are_refused(tmp_path: Path, change: dict) -> None:
    with pytest.raises(EngineError) as caught:
        PreviewEngine().generate(small_request(**change), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "INVALID_REQUEST"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data", [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b""])
def test_undecodable_image_is_an_engine_error(tmp_path: Path, data: bytes) -> None:
    images = (InputImage(solid_png(RED), "image/png"), InputImage(data, "image/png"))
    with pytest.raises(EngineError) as caught:
        PreviewEngine().generate(small_request(images=images), tmp_path / "x.mp4", RenderControl())
    assert caught.value.code == "INVALID_IMAGE" and "image 2" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_an_engine_error(tmp_path: Path) -> None:
    output = tmp_path / "missing-dir" / "x.mp4"
    with pytest.raises(EngineError) as caught:
        PreviewEngine().generate(small_request(), output, RenderControl())
    assert caught.value.code == "ENCODE_FAILED"


def test_rerender_replaces_an_existing_file(tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    output.write_bytes(b"stale")
    PreviewEngine().generate(small_request(num_frames=3), output, RenderControl())
    assert decode(output).frames.shape[0] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"]
