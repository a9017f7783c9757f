"""What an engine can render: the durations, resolutions and extras a request may ask for.

Each engine declares its own in its spec (``engines/registry.py``), from the settings alone, so
the API can check a request's options (and show them on ``GET /v1/pricing``) without building an
engine or loading any weights. A task's options must suit every engine of its route, since any
of them may end up serving it.
"""

from __future__ import annotations

from dataclasses import dataclass

from grokimagine.domain.catalog import DEFAULT_RESOLUTION, DEFAULT_SECONDS


@dataclass(frozen=True)
class Capabilities:
    """The options an engine accepts; ``seed`` and ``negative_prompt`` say whether it uses them.

    ``max_images`` is how many input images one video may take (the API's own cap applies too).
    """

    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    seed: bool
    negative_prompt: bool
    max_images: int | None = None

    def intersect(self, other: Capabilities) -> Capabilities:
        """What both engines accept."""
        return Capabilities(
            durations=tuple(d for d in self.durations if d in other.durations),
            resolutions=tuple(r for r in self.resolutions if r in other.resolutions),
            seed=self.seed and other.seed,
            negative_prompt=self.negative_prompt and other.negative_prompt,
            max_images=_smaller(self.max_images, other.max_images),
        )


def _smaller(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# An engine that declares nothing renders the reference page's defaults only.
BASELINE = Capabilities(
    (DEFAULT_SECONDS,), (DEFAULT_RESOLUTION,), seed=False, negative_prompt=False
)
