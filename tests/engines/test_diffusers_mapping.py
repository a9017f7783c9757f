"""The request mapping and the presets data: pure functions, no torch needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokimagine.engines.base import GenerationRequest
from grokimagine.engines.diffusers.mapping import (
    DRAFT_TIER,
    Geometry,
    map_frames,
    map_size,
    plan_render,
    snap,
)
from grokimagine.engines.diffusers.profiles import PresetsError, load_presets, parse_presets

PRESETS = load_presets()
WAN = PRESETS.family("wan")
TI2V = PRESETS.family("wan-ti2v")
LTX = PRESETS.family("ltx")
# What the real models' VAEs and patch sizes allow.
WAN_GEOMETRY = Geometry(size_multiple=16, frame_step=4)
TI2V_GEOMETRY = Geometry(size_multiple=32, frame_step=4)
LTX_GEOMETRY = Geometry(size_multiple=32, frame_step=8)
GEOMETRIES = {"wan": WAN_GEOMETRY, "wan-ti2v": TI2V_GEOMETRY, "ltx": LTX_GEOMETRY}


def request(**overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "prompt": "a red fox in the snow",
        "mode": "normal",
        "ratio": "1:1",
        "width": 480,
        "height": 480,
        "num_frames": 144,
        "fps": 24,
        "seed": 7,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "geometry", "size", "ratio", "expected"),
    [
        # The API's default sizes land on each family's 480p table.
        (WAN, WAN_GEOMETRY, (480, 480), "1:1", (624, 624, "480p")),
        (WAN, WAN_GEOMETRY, (480, 720), "2:3", (512, 768, "480p")),
        (WAN, WAN_GEOMETRY, (720, 480), "3:2", (768, 512, "480p")),
        (TI2V, TI2V_GEOMETRY, (480, 480), "1:1", (640, 640, "480p")),
        (LTX, LTX_GEOMETRY, (480, 480), "1:1", (640, 640, "480p")),
        (LTX, LTX_GEOMETRY, (720, 480), "3:2", (768, 512, "480p")),
        # A 720p request stays at 480p while the operator allows no more.
        (WAN, WAN_GEOMETRY, (720, 720), "1:1", (624, 624, "480p")),
        # Small requests are drafts: their own size, snapped to the model's multiple.
        (WAN, WAN_GEOMETRY, (64, 64), "1:1", (64, 64, DRAFT_TIER)),
        (WAN, WAN_GEOMETRY, (70, 50), "3:2", (64, 48, DRAFT_TIER)),
        (LTX, LTX_GEOMETRY, (70, 50), "3:2", (64, 64, DRAFT_TIER)),
        (LTX, LTX_GEOMETRY, (5, 5), "1:1", (32, 32, DRAFT_TIER)),
    ],
)
def test_map_size_at_480p(profile, geometry, size, ratio, expected):
    assert map_size(size[0], size[1], ratio, profile, geometry, "480p") == expected


def test_720p_requests_use_the_720p_table_when_allowed():
    assert map_size(720, 720, "1:1", WAN, WAN_GEOMETRY, "720p") == (960, 960, "720p")
    assert map_size(720, 1080, "2:3", LTX, LTX_GEOMETRY, "720p") == (768, 1152, "720p")
    # A 480p request is not blown up because 720p is allowed.
    assert map_size(480, 480, "1:1", WAN, WAN_GEOMETRY, "720p") == (624, 624, "480p")
    # A tier above all the tables' tiers allows the largest.
    assert map_size(1080, 1080, "1:1", LTX, LTX_GEOMETRY, "1080p")[2] == "720p"


def test_a_ratio_missing_from_the_table_keeps_the_tier_area():
    width, height, tier = map_size(640, 480, "4:3", WAN, WAN_GEOMETRY, "480p")
    assert tier == "480p"
    assert width % 16 == 0 and height % 16 == 0
    assert width / height == pytest.approx(4 / 3, rel=0.03)
    assert width * height == pytest.approx(624 * 624, rel=0.05)
    # An unreadable ratio falls back to the requested width and height.
    width, height, _ = map_size(960, 480, "wide", WAN, WAN_GEOMETRY, "480p")
    assert width / height == pytest.approx(2.0, rel=0.05)


def test_table_sizes_are_snapped_to_a_coarser_model_multiple():
    coarse = Geometry(size_multiple=32, frame_step=4)
    width, height, _ = map_size(480, 480, "1:1", WAN, coarse, "480p")
    assert (width % 32, height % 32) == (0, 0)
    assert abs(width - 624) <= 16


def test_every_shipped_table_size_is_legal_for_its_family():
    for name, profile in PRESETS.families.items():
        multiple = GEOMETRIES[name].size_multiple
        for tier, table in profile.sizes.items():
            for ratio, (width, height) in table.items():
                assert width % multiple == 0 and height % multiple == 0, (name, tier, ratio)
                left, right = (int(part) for part in ratio.split(":"))
                assert width / height == pytest.approx(left / right, rel=0.04), (name, ratio)


def test_bad_sizes_and_tiers_are_refused():
    with pytest.raises(ValueError, match="not positive"):
        map_size(0, 480, "1:1", WAN, WAN_GEOMETRY, "480p")
    with pytest.raises(ValueError, match="no size tier"):
        map_size(480, 480, "1:1", WAN, WAN_GEOMETRY, "240p")


@pytest.mark.parametrize(
    ("profile", "geometry", "frames", "fps", "expected"),
    [
        # The API default, 6 s: Wan 2.1 stops at its 81 trained frames (5 s at 16 fps).
        (WAN, WAN_GEOMETRY, 144, 24, 81),
        (TI2V, TI2V_GEOMETRY, 144, 24, 121),
        (LTX, LTX_GEOMETRY, 144, 24, 145),
        # 2 s: 32 frames at 16 fps, the nearest 4k+1 is 33.
        (WAN, WAN_GEOMETRY, 48, 24, 33),
        (LTX, LTX_GEOMETRY, 48, 24, 49),
        # Very short requests get one latent step.
        (WAN, WAN_GEOMETRY, 1, 24, 5),
        (LTX, LTX_GEOMETRY, 1, 24, 9),
        # Already legal at native fps: unchanged.
        (WAN, WAN_GEOMETRY, 9, 16, 9),
        (LTX, LTX_GEOMETRY, 9, 24, 9),
    ],
)
def test_map_frames(profile, geometry, frames, fps, expected):
    count = map_frames(frames, fps, profile, geometry)
    assert count == expected
    assert (count - 1) % geometry.frame_step == 0


def test_max_frames_override_caps_at_a_legal_count():
    assert map_frames(144, 24, LTX, LTX_GEOMETRY, max_frames=100) == 97
    assert map_frames(144, 24, WAN, WAN_GEOMETRY, max_frames=49) == 49
    assert map_frames(144, 24, WAN, WAN_GEOMETRY, max_frames=1) == 5
    with pytest.raises(ValueError):
        map_frames(0, 24, WAN, WAN_GEOMETRY)
    with pytest.raises(ValueError):
        map_frames(24, 0, WAN, WAN_GEOMETRY)


def test_plan_applies_the_mode_preset():
    preset = PRESETS.mode("spicy")
    plan = plan_render(
        request(mode="spicy", negative_prompt="cats"),
        family="wan",
        profile=WAN,
        preset=preset,
        geometry=WAN_GEOMETRY,
    )
    assert plan.prompt.startswith("a red fox in the snow")
    assert plan.prompt.endswith(preset.prompt_suffix)
    assert plan.negative_prompt == "cats, " + preset.negative_prompt
    assert plan.guidance_scale == preset.guidance["wan"]
    assert (plan.width, plan.height, plan.num_frames, plan.fps) == (624, 624, 81, 16)
    assert plan.steps == WAN.steps
    assert plan.seconds == pytest.approx(81 / 16)


def test_plan_overrides_and_seed_range():
    plan = plan_render(
        request(seed=(1 << 64) + 5),
        family="ltx",
        profile=LTX,
        preset=PRESETS.mode("normal"),
        geometry=LTX_GEOMETRY,
        steps=8,
        guidance_scale=0.0,
    )
    assert (plan.steps, plan.guidance_scale, plan.seed) == (8, 0.0, 5)
    assert plan.negative_prompt == PRESETS.mode("normal").negative_prompt


def test_modes_differ_and_unknown_modes_fall_back_to_normal():
    prompts = {mode: PRESETS.mode(mode).styled_prompt("x") for mode in ("fun", "normal", "spicy")}
    assert len(set(prompts.values())) == 3
    assert PRESETS.mode("unheard-of") is PRESETS.mode("normal")


def _shipped() -> dict:
    text = (
        Path(__file__).parents[2] / "src/grokimagine/engines/diffusers/presets.json"
    ).read_text()
    return json.loads(text)


def test_a_custom_presets_file_is_used(tmp_path):
    data = _shipped()
    data["modes"]["normal"]["prompt_suffix"] = "in the style of a pencil sketch"
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(data))
    assert load_presets(path).mode("normal").styled_prompt("a boat") == (
        "a boat, in the style of a pencil sketch"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["modes"]["fun"]["guidance"].pop("ltx"), "no guidance for"),
        (lambda d: d["modes"].pop("normal"), "no 'normal' mode"),
        (lambda d: d["families"]["wan"]["sizes"].update({"big": {"1:1": [64, 64]}}), "big"),
        (lambda d: d["families"]["wan"].update(fps=0), "invalid"),
        (lambda d: d["families"]["ltx"].update(sizes={}), "no sizes"),
    ],
)
def test_inconsistent_presets_are_refused(change, message):
    data = _shipped()
    change(data)
    with pytest.raises(PresetsError, match=message):
        parse_presets(json.dumps(data))


def test_unreadable_presets_are_refused(tmp_path):
    with pytest.raises(PresetsError, match="cannot read"):
        load_presets(tmp_path / "absent.json")
    with pytest.raises(PresetsError, match="invalid"):
        parse_presets("{not json")
    with pytest.raises(PresetsError, match="no family"):
        PRESETS.family("cogvideox")


def test_snap():
    assert [snap(value, 16) for value in (1, 8, 23, 24, 25, 624)] == [16, 16, 16, 32, 32, 624]
