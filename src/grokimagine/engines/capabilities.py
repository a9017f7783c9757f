"""What an engine can render: the durations, resolutions and extras a request may ask for.

Each engine declares its own in its spec (``engines/registry.py``), from the settings alone, so
the API can check a request's options (and show them on ``GET /v1/pricing``) without building an
engine or loading any weights. A task's options must suit every engine of its route, since any
of them may end up serving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from grokimagine.vocabulary import DEFAULT_RESOLUTION, DEFAULT_SECONDS, RATIOS


@dataclass(frozen=True)
class Capabilities:
    """The options an engine accepts; ``seed`` and ``negative_prompt`` say whether it uses them.

    ``max_images`` is how many input images one video may take (the API's own cap applies too).
    ``operations`` are what it does beside ``generate``: ``extend`` (by one of
    ``extend_durations`` seconds, a source of ``extend_source_seconds``) and ``edit`` (a source of
    at most ``edit_max_seconds``); ``None`` limits mean the API's own caps only.
    """

    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    seed: bool
    negative_prompt: bool
    max_images: int | None = None
    operations: tuple[str, ...] = ("generate",)
    extend_durations: tuple[int, ...] = ()
    extend_source_seconds: tuple[float, float] | None = None
    edit_max_seconds: float | None = None
    ratios: tuple[str, ...] = RATIOS  # aspect ratios it renders (vocabulary.SIZES has each size)

    def intersect(self, other: Capabilities) -> Capabilities:
        """What both engines accept."""
        return Capabilities(
            durations=tuple(d for d in self.durations if d in other.durations),
            resolutions=tuple(r for r in self.resolutions if r in other.resolutions),
            seed=self.seed and other.seed,
            negative_prompt=self.negative_prompt and other.negative_prompt,
            max_images=_smaller(self.max_images, other.max_images),
            operations=tuple(o for o in self.operations if o in other.operations),
            extend_durations=tuple(d for d in self.extend_durations if d in other.extend_durations),
            extend_source_seconds=_narrower(
                self.extend_source_seconds, other.extend_source_seconds
            ),
            edit_max_seconds=_smaller(self.edit_max_seconds, other.edit_max_seconds),
            ratios=tuple(r for r in self.ratios if r in other.ratios),
        )

    def offers(self, operation: str) -> bool:
        """Whether every engine behind these capabilities can do ``operation``."""
        return operation in self.operations


def _narrower(
    a: tuple[float, float] | None, b: tuple[float, float] | None
) -> tuple[float, float] | None:
    if a is None:
        return b
    if b is None:
        return a
    return (max(a[0], b[0]), min(a[1], b[1]))


N = TypeVar("N", int, float)


def _smaller(a: N | None, b: N | None) -> N | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# An engine that declares nothing renders the reference page's defaults only.
BASELINE = Capabilities(
    (DEFAULT_SECONDS,), (DEFAULT_RESOLUTION,), seed=False, negative_prompt=False
)
