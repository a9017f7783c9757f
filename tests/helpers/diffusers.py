"""Tiny diffusers engines built from configs, for CPU tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from grokimagine.engines.base import (
    GenerationRequest,
)
from grokimagine.engines.diffusers.config import DiffusersConfig, SpeedOptions
from grokimagine.engines.diffusers.engine import DiffusersEngine

# Two denoising steps: enough to run every stage of a pipeline, cheap on a CPU.
STEPS = 2


class Spy:
    """Records every pipeline call's keyword arguments, for the classes it is put on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *classes: type) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for cls in classes:
            original = cls.__call__

            def call(pipe: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.calls.append((type(pipe).__name__, kwargs))
                return _original(pipe, *args, **kwargs)

            monkeypatch.setattr(cls, "__call__", call)


def decode(path: Path) -> np.ndarray:
    """All frames of an MP4 as an F x H x W x 3 array."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def make_engine(models: dict[str, Path], t2v: str | None = None, i2v: str | None = None, **extra):
    extra.setdefault("speed", SpeedOptions(device="cpu"))
    extra.setdefault("steps", STEPS)
    config = DiffusersConfig(
        t2v_model=str(models[t2v]) if t2v else None,
        i2v_model=str(models[i2v]) if i2v else None,
        **extra,
    )
    return DiffusersEngine(config, warmup_request=tiny_request())


def tiny_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "prompt": "a cat walks on a fence",
        "mode": "normal",
        "ratio": "1:1",
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "fps": 16,
        "seed": 1234,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)
