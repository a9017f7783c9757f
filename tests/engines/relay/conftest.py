"""Fixtures for the relay tests: a real MP4, the fake providers on loopback, fast settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.relay.limits import reset_provider_slots
from grokimagine.settings import Settings

from .fake_openai import FakeOpenAIVideos, OpenAIScenario
from .fake_sglang import FakeSglang, SglangScenario
from .fake_vllm_omni import FakeVllmOmni, VllmScenario
from .fake_xai import FakeXai, XaiScenario
from .helpers import OPENAI_KEY, VLLM_KEY, XAI_KEY, ProgressLog, fast_settings
from .loopback import LoopbackServer


@pytest.fixture(scope="session")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small real H.264 MP4 made by our own encoder."""
    path = tmp_path_factory.mktemp("mp4") / "sample.mp4"
    frames = [np.full((64, 96, 3), i * 20, dtype=np.uint8) for i in range(12)]
    encode_mp4(frames, path, width=96, height=64, fps=12)
    return path.read_bytes()


@pytest.fixture(scope="module")
def xai_server(sample_mp4: bytes) -> Iterator[tuple[FakeXai, str]]:
    fake = FakeXai(sample_mp4, XAI_KEY)
    with LoopbackServer(fake.app) as server:
        yield fake, server.base_url


@pytest.fixture(scope="module")
def openai_server(sample_mp4: bytes) -> Iterator[tuple[FakeOpenAIVideos, str]]:
    fake = FakeOpenAIVideos(sample_mp4, OPENAI_KEY)
    with LoopbackServer(fake.app) as server:
        yield fake, server.base_url


@pytest.fixture(scope="module")
def sglang_server(sample_mp4: bytes) -> Iterator[tuple[FakeSglang, str]]:
    fake = FakeSglang(sample_mp4)
    with LoopbackServer(fake.app) as server:
        yield fake, server.base_url


@pytest.fixture(scope="module")
def vllm_server(sample_mp4: bytes) -> Iterator[tuple[FakeVllmOmni, str]]:
    fake = FakeVllmOmni(sample_mp4, api_key=VLLM_KEY)
    with LoopbackServer(fake.app) as server:
        yield fake, server.base_url


@pytest.fixture
def sglang(sglang_server: tuple[FakeSglang, str]) -> FakeSglang:
    """The fake SGLang Diffusion node, reset to a plain successful scenario."""
    fake, _ = sglang_server
    fake.reset(SglangScenario())
    return fake


@pytest.fixture
def vllm(vllm_server: tuple[FakeVllmOmni, str]) -> FakeVllmOmni:
    """The fake vLLM-Omni node, reset to a plain successful scenario."""
    fake, _ = vllm_server
    fake.reset(VllmScenario())
    return fake


@pytest.fixture(autouse=True)
def _fresh_provider_slots() -> Iterator[None]:
    reset_provider_slots()
    yield
    reset_provider_slots()


@pytest.fixture
def xai(xai_server: tuple[FakeXai, str]) -> FakeXai:
    """The fake xAI, reset to a plain successful scenario."""
    fake, _ = xai_server
    fake.reset(XaiScenario())
    return fake


@pytest.fixture
def fake_openai(openai_server: tuple[FakeOpenAIVideos, str]) -> FakeOpenAIVideos:
    """The fake OpenAI video server, reset to a plain successful scenario."""
    fake, _ = openai_server
    fake.reset(OpenAIScenario())
    return fake


@pytest.fixture
def xai_settings(xai_server: tuple[FakeXai, str]) -> Any:
    """A factory of settings pointing the xai engine at the fake."""
    _, base_url = xai_server

    def make(**overrides: Any) -> Settings:
        values = {"xai_api_key": XAI_KEY, "xai_base_url": f"{base_url}/v1", **overrides}
        return fast_settings(**values)

    return make


@pytest.fixture
def openai_settings(openai_server: tuple[FakeOpenAIVideos, str]) -> Any:
    """A factory of settings pointing the openai-videos engine at the fake (OpenAI's values)."""
    _, base_url = openai_server

    def make(**overrides: Any) -> Settings:
        values = {
            "openai_videos_base_url": f"{base_url}/v1",
            "openai_videos_api_key": OPENAI_KEY,
            "openai_videos_model": "sora-2",
            "openai_videos_sizes": {"2:3": "720x1280", "3:2": "1280x720", "1:1": "720x1280"},
            "openai_videos_seconds": [4, 8, 12],
            **overrides,
        }
        return fast_settings(**values)

    return make


@pytest.fixture
def progress() -> ProgressLog:
    return ProgressLog()


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "video.mp4"
