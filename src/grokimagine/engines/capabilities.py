"""What each engine can render: the durations, resolutions and extras a request may ask for.

Declared per engine from the settings alone, so the API can check a request's options (and show
them on ``GET /v1/pricing``) without building an engine or loading any weights. A task's options
must suit every engine of its route, since any of them may end up serving it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grokimagine.domain.catalog import DEFAULT_RESOLUTION, DEFAULT_SECONDS, RESOLUTIONS
from grokimagine.settings import Settings

# Durations in whole seconds. The preview engine draws any length; ten seconds keeps it fast.
PREVIEW_DURATIONS = tuple(range(1, 11))
XAI_DURATIONS = tuple(range(1, 16))


@dataclass(frozen=True)
class Capabilities:
    """The options an engine accepts; ``seed`` and ``negative_prompt`` say whether it uses them."""

    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    seed: bool
    negative_prompt: bool

    def intersect(self, other: Capabilities) -> Capabilities:
        """What both engines accept."""
        return Capabilities(
            durations=tuple(d for d in self.durations if d in other.durations),
            resolutions=tuple(r for r in self.resolutions if r in other.resolutions),
            seed=self.seed and other.seed,
            negative_prompt=self.negative_prompt and other.negative_prompt,
        )


# An engine this table does not know renders the reference page's defaults only.
BASELINE = Capabilities(
    (DEFAULT_SECONDS,), (DEFAULT_RESOLUTION,), seed=False, negative_prompt=False
)


def _preview(settings: Settings) -> Capabilities:
    return Capabilities(PREVIEW_DURATIONS, RESOLUTIONS, seed=True, negative_prompt=True)


def _xai(settings: Settings) -> Capabilities:
    # xAI takes a duration and a resolution but no seed or negative prompt.
    resolutions = (settings.xai.resolution,) if settings.xai.resolution else RESOLUTIONS
    return Capabilities(XAI_DURATIONS, resolutions, seed=False, negative_prompt=False)


def _openai_videos(settings: Settings) -> Capabilities:
    durations = tuple(sorted(set(settings.openai_videos.seconds))) or PREVIEW_DURATIONS
    extras = settings.openai_videos.send_extras
    return Capabilities(durations, RESOLUTIONS, seed=extras, negative_prompt=extras)


def _diffusers(settings: Settings) -> Capabilities:
    largest = int(settings.diffusers.max_resolution.removesuffix("p"))
    tiers = tuple(r for r in RESOLUTIONS if int(r.removesuffix("p")) <= largest)
    return Capabilities(PREVIEW_DURATIONS, tiers, seed=True, negative_prompt=True)


_DECLARATIONS: dict[str, Callable[[Settings], Capabilities]] = {
    "preview": _preview,
    "xai": _xai,
    "openai-videos": _openai_videos,
    "diffusers": _diffusers,
}


def engine_capabilities(settings: Settings, name: str) -> Capabilities:
    """What the engine ``name`` accepts under ``settings``."""
    declare = _DECLARATIONS.get(name)
    return BASELINE if declare is None else declare(settings)


def route_capabilities(settings: Settings, names: Iterable[str]) -> Capabilities:
    """What every engine of a route accepts (an empty route: the baseline)."""
    combined: Capabilities | None = None
    for name in names:
        own = engine_capabilities(settings, name)
        combined = own if combined is None else combined.intersect(own)
    return combined or BASELINE
