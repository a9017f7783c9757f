"""Tiny Wan and LTX-Video pipelines with random weights, built offline from configs.

They are saved with ``save_pretrained`` once per test session and loaded back through the
engine's own loader, exactly as real weights would be. torch is imported only by the fixtures
that need it, so engine tests that do not use these fixtures run without torch.
"""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Small components: hidden sizes of 8 to 32, one or two layers.
TEXT_DIM = 32
WAN_LATENT = 4
LTX_LATENT = 8
CLIP_DIM = 16
CLIP_TOKENS = 17  # 32 px images in 8 px patches (16) and the class token


def tiny_tokenizer() -> Any:
    """A T5 tokenizer built in memory from a vocabulary of single characters."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(char, -3.0) for char in string.ascii_letters + string.digits + ".,!?'-:"]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def sentencepiece_tokenizer(directory: Path) -> Any:
    """A T5 tokenizer stored as a trained ``spiece.model`` only, as LTX-Video ships its own.

    Loading it makes transformers convert the SentencePiece model, which needs protobuf.
    """
    import sentencepiece
    from transformers import AutoTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.txt"
    corpus.write_text("a cat walks on a fence\nthe quick brown fox jumps over the lazy dog\n" * 20)
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(directory / "spiece"),
        vocab_size=30,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    corpus.unlink()
    (directory / "spiece.vocab").unlink()
    config = {"tokenizer_class": "T5Tokenizer", "model_max_length": 128, "extra_ids": 0}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return AutoTokenizer.from_pretrained(str(directory))


def _umt5(vocab_size: int) -> Any:
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=vocab_size,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_heads=4,
        relative_attention_num_buckets=8,
    )
    return UMT5EncoderModel(config)


def _wan_vae(*, ti2v: bool = False) -> Any:
    from diffusers import AutoencoderKLWan

    extra: dict[str, Any] = {}
    if ti2v:
        # Wan 2.2's VAE: residual blocks, 2x2 pixel patches, 16x spatial stride.
        extra = {
            "is_residual": True,
            "in_channels": 12,
            "out_channels": 12,
            "patch_size": 2,
            "scale_factor_spatial": 16,
        }
    return AutoencoderKLWan(
        base_dim=8,
        z_dim=WAN_LATENT,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * WAN_LATENT,
        latents_std=[1.0] * WAN_LATENT,
        **extra,
    )


def _wan_transformer(in_channels: int, **extra: Any) -> Any:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=in_channels,
        out_channels=WAN_LATENT,
        text_dim=TEXT_DIM,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
        **extra,
    )


def _wan_scheduler() -> Any:
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )


def build_wan_t2v(directory: Path) -> None:
    """Wan 2.1 text-to-video (WanPipeline)."""
    from diffusers import WanPipeline

    tokenizer = tiny_tokenizer()
    WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_umt5(len(tokenizer)),
        vae=_wan_vae(),
        scheduler=_wan_scheduler(),
        transformer=_wan_transformer(WAN_LATENT),
    ).save_pretrained(directory)


def build_wan_i2v(directory: Path, *, first_last: bool) -> None:
    """Wan 2.1 image-to-video with a CLIP image encoder; ``first_last``: the FLF2V variant."""
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    tokenizer = tiny_tokenizer()
    clip = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=CLIP_DIM,
            projection_dim=CLIP_DIM,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        )
    )
    # Noise latents, the start frame's latents and a 4-channel frame mask.
    in_channels = WAN_LATENT * 2 + 4
    transformer = _wan_transformer(
        in_channels,
        image_dim=CLIP_DIM,
        added_kv_proj_dim=16,
        pos_embed_seq_len=2 * CLIP_TOKENS if first_last else None,
    )
    WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=_umt5(len(tokenizer)),
        vae=_wan_vae(),
        scheduler=_wan_scheduler(),
        image_processor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=clip,
        transformer=transformer,
    ).save_pretrained(directory)


def build_wan_ti2v(directory: Path) -> None:
    """Wan 2.2 TI2V: one WanPipeline with expand_timesteps, for text and a start image."""
    from diffusers import WanPipeline

    tokenizer = tiny_tokenizer()
    WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_umt5(len(tokenizer)),
        vae=_wan_vae(ti2v=True),
        scheduler=_wan_scheduler(),
        transformer=_wan_transformer(WAN_LATENT),
        expand_timesteps=True,
    ).save_pretrained(directory)


def build_ltx(directory: Path) -> None:
    """LTX-Video (LTXPipeline): 32x spatial and 8x temporal VAE stride, as the real one.

    Its tokenizer directory holds only ``spiece.model``, like Lightricks' repository.
    """
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer_files = directory.parent / f"{directory.name}-tokenizer"
    tokenizer = sentencepiece_tokenizer(tokenizer_files)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
        )
    )
    vae = AutoencoderKLLTXVideo(
        latent_channels=LTX_LATENT,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4,
        patch_size=4,
        patch_size_t=1,
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=LTX_LATENT,
        out_channels=LTX_LATENT,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    ).save_pretrained(directory)
    shutil.rmtree(directory / "tokenizer")
    shutil.copytree(tokenizer_files, directory / "tokenizer")


def build_wan_vace(directory: Path) -> None:
    """Wan VACE (WanVACEPipeline): video to video, one VACE block."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    tokenizer = tiny_tokenizer()
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=WAN_LATENT,
        out_channels=WAN_LATENT,
        text_dim=TEXT_DIM,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
        vace_layers=[0],
        # The control video's inactive and reactive latents, and the mask in 8x8 patches.
        vace_in_channels=WAN_LATENT * 2 + 64,
    )
    WanVACEPipeline(
        tokenizer=tokenizer,
        text_encoder=_umt5(len(tokenizer)),
        vae=_wan_vae(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        transformer=transformer,
    ).save_pretrained(directory)


BUILDERS = {
    "wan-t2v": build_wan_t2v,
    "wan-i2v": lambda directory: build_wan_i2v(directory, first_last=False),
    "wan-flf2v": lambda directory: build_wan_i2v(directory, first_last=True),
    "wan-ti2v": build_wan_ti2v,
    "ltx": build_ltx,
    "wan-vace": build_wan_vace,
}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Directories of every tiny model, built once per session: name -> directory."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    root = tmp_path_factory.mktemp("tiny-models")
    models = {}
    for name, build in BUILDERS.items():
        torch.manual_seed(0)
        build(root / name)
        models[name] = root / name
    return models


@pytest.fixture
def make_model_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory of model directories holding only JSON files, for tests that load no weights."""

    def make(name: str, class_name: str, transformer: dict[str, Any] | None = None, **fields: Any):
        directory = tmp_path / name
        directory.mkdir(parents=True)
        index = {"_class_name": class_name, **fields}
        (directory / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
        if transformer is not None:
            (directory / "transformer").mkdir()
            (directory / "transformer" / "config.json").write_text(
                json.dumps(transformer), encoding="utf-8"
            )
        return directory

    return make
