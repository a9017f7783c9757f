"""Finding models on disk, detecting their family, and refusing bad configurations."""

from __future__ import annotations

import pytest

from grokimagine.engines.diffusers.config import DiffusersConfig, SpeedOptions
from grokimagine.engines.diffusers.families import (
    IMAGE,
    KEYFRAMES,
    LTX_MAX_KEYFRAMES,
    TEXT,
    UnsupportedModelError,
    choose_images,
    inspect_model,
    keyframe_indices,
)
from grokimagine.engines.diffusers.loader import (
    ConfigurationError,
    ModelNotFoundError,
    check_speed_options,
    resolve_model_dir,
)
from grokimagine.settings import Settings


def test_a_missing_directory_names_where_it_looked(tmp_path):
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model_dir(str(tmp_path / "wan"), role="text-to-video model")
    error = caught.value
    assert error.code == "MODEL_NOT_FOUND"
    assert str(tmp_path / "wan") in error.message
    assert error.message.startswith("text-to-video model")
    assert "never downloaded" in error.message


def test_a_repo_id_missing_from_the_cache_names_the_cache(tmp_path):
    pytest.importorskip("huggingface_hub")  # comes with the gpu extra
    cache = tmp_path / "hub"
    cache.mkdir()
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model_dir("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", hf_cache=cache)
    assert f"no snapshot of Wan-AI/Wan2.1-T2V-1.3B-Diffusers in the Hugging Face cache {cache}" in (
        caught.value.message
    )


def test_a_directory_without_model_index_is_refused(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no model_index\.json"):
        resolve_model_dir(str(tmp_path / "weights"))


def _cached_repo(cache, repo_id, commit="0123abcd"):
    """The layout huggingface_hub keeps: refs/main names the snapshot of that commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_a_repo_id_resolves_to_its_cached_snapshot(tmp_path):
    pytest.importorskip("huggingface_hub")  # comes with the gpu extra
    snapshot = _cached_repo(tmp_path / "hub", "Lightricks/LTX-Video")
    (snapshot / "model_index.json").write_text('{"_class_name": "LTXPipeline"}')
    found = resolve_model_dir("Lightricks/LTX-Video", hf_cache=tmp_path / "hub")
    assert found == snapshot
    # A snapshot without the pipeline index (e.g. the original, non-diffusers repo) is not one.
    (snapshot / "model_index.json").unlink()
    with pytest.raises(ModelNotFoundError, match=r"has no model_index\.json"):
        resolve_model_dir("Lightricks/LTX-Video", hf_cache=tmp_path / "hub")


def test_a_local_directory_wins(make_model_dir):
    directory = make_model_dir("mine", "WanPipeline")
    assert resolve_model_dir(str(directory)) == directory.resolve()


@pytest.mark.parametrize(
    ("class_name", "fields", "transformer", "family", "text", "images"),
    [
        ("WanPipeline", {}, None, "wan", True, 0),
        ("WanPipeline", {"expand_timesteps": True}, {"image_dim": None}, "wan-ti2v", True, 1),
        # A TI2V transformer that wants CLIP embeddings but ships no image encoder: text only.
        ("WanPipeline", {"expand_timesteps": True}, {"image_dim": 1280}, "wan-ti2v", True, 0),
        ("WanImageToVideoPipeline", {}, {"image_dim": 1280}, "wan", False, 1),
        (
            "WanImageToVideoPipeline",
            {},
            {"image_dim": 1280, "pos_embed_seq_len": 514},
            "wan",
            False,
            2,
        ),
        ("WanImageToVideoPipeline", {"boundary_ratio": 0.9}, {"image_dim": None}, "wan", False, 2),
        ("LTXPipeline", {}, None, "ltx", True, LTX_MAX_KEYFRAMES),
        ("LTXConditionPipeline", {}, None, "ltx", True, LTX_MAX_KEYFRAMES),
    ],
)
def test_inspect_model(make_model_dir, class_name, fields, transformer, family, text, images):
    info = inspect_model(make_model_dir("m", class_name, transformer, **fields))
    assert (info.family, info.text_to_video, info.max_images) == (family, text, images)
    assert info.image_to_video == (images > 0)


def test_unsupported_and_broken_models_are_refused(make_model_dir, tmp_path):
    with pytest.raises(UnsupportedModelError, match="CogVideoXPipeline; supported: Wan"):
        inspect_model(make_model_dir("cog", "CogVideoXPipeline"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text("[1, 2")
    with pytest.raises(UnsupportedModelError, match="cannot read"):
        inspect_model(broken)
    # A Wan image model must say how it conditions on images.
    with pytest.raises(UnsupportedModelError, match="transformer"):
        inspect_model(make_model_dir("i2v", "WanImageToVideoPipeline"))


def test_choose_images(make_model_dir):
    ltx = inspect_model(make_model_dir("ltx", "LTXPipeline"))
    flf = inspect_model(
        make_model_dir("flf", "WanImageToVideoPipeline", {"image_dim": 8, "pos_embed_seq_len": 2})
    )
    ti2v = inspect_model(
        make_model_dir("ti2v", "WanPipeline", {"image_dim": None}, expand_timesteps=True)
    )
    assert choose_images(ltx, 0) == (TEXT, [])
    assert choose_images(ltx, 1) == (IMAGE, [0])
    assert choose_images(ltx, 4) == (KEYFRAMES, [0, 1, 2, 3])
    assert choose_images(flf, 3) == (KEYFRAMES, [0, 2])
    assert choose_images(ti2v, 2) == (IMAGE, [0])
    assert keyframe_indices(3, 145) == [0, 72, 144]
    assert keyframe_indices(1, 145) == [0]


def test_speed_options_that_cannot_work_are_refused():
    with pytest.raises(ConfigurationError, match="GPU"):
        check_speed_options(SpeedOptions(offload="model"), "cpu")
    with pytest.raises(ConfigurationError, match="offload"):
        check_speed_options(SpeedOptions(offload="disk"), "cuda")
    with pytest.raises(ConfigurationError, match="cache"):
        check_speed_options(SpeedOptions(cache="teacache"), "cuda")
    check_speed_options(SpeedOptions(offload="sequential", cache="first-block"), "cuda")


def test_config_reads_the_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_T2V_MODEL", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_CACHE", "first-block")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_COMPILE", "true")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_OFFLOAD", "model")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_MAX_RESOLUTION", "720p")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_HF_CACHE", str(tmp_path))
    config = DiffusersConfig.from_settings(Settings())
    assert config.t2v_model == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    assert config.i2v_model is None
    assert config.hf_cache == tmp_path
    assert config.speed == SpeedOptions(compile=True, cache="first-block", offload="model")
    assert config.max_resolution == "720p"


def test_settings_refuse_unknown_values(monkeypatch):
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_OFFLOAD", "disk")
    with pytest.raises(ValueError, match="GROKIMAGINE_DIFFUSERS_OFFLOAD"):
        Settings()
    monkeypatch.delenv("GROKIMAGINE_DIFFUSERS_OFFLOAD")
    monkeypatch.setenv("GROKIMAGINE_DIFFUSERS_MAX_RESOLUTION", "big")
    with pytest.raises(ValueError, match="GROKIMAGINE_DIFFUSERS_MAX_RESOLUTION"):
        Settings()
