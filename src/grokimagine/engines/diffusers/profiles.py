"""Model family profiles and style presets, read from a JSON data file.

The shipped file is ``presets.json`` beside this module; an operator may point
``GROKIMAGINE_DIFFUSERS_PRESETS_FILE`` at a copy with their own sizes, prompts and guidance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

_TIER_NAME = re.compile(r"^(\d+)p$")

PositiveInt = Annotated[int, Field(gt=0)]


class PresetsError(ValueError):
    """The presets file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class FamilyProfile:
    """What a model family renders best: native fps, longest clip, steps and sizes per tier."""

    label: str
    fps: PositiveInt
    max_frames: PositiveInt
    steps: PositiveInt
    sizes: dict[str, dict[str, tuple[PositiveInt, PositiveInt]]]  # tier -> ratio -> (w, h)
    fp32_components: tuple[str, ...] = ()

    def tiers(self) -> list[tuple[int, str]]:
        """The size tiers as (nominal short side, name), smallest first: [(480, "480p"), ...]."""
        return sorted((tier_short_side(name), name) for name in self.sizes)


@dataclass(frozen=True)
class StylePreset:
    """What a mode adds to a request: prompt words, a negative prompt and guidance per family."""

    negative_prompt: str
    guidance: dict[str, Annotated[float, Field(ge=0)]]
    prompt_prefix: str = ""
    prompt_suffix: str = ""

    def styled_prompt(self, prompt: str) -> str:
        """The user's prompt with this preset's prefix and suffix around it."""
        parts = [self.prompt_prefix.strip(), prompt.strip(), self.prompt_suffix.strip()]
        return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class Presets:
    """All families and modes of one presets file."""

    families: dict[str, FamilyProfile]
    modes: dict[str, StylePreset] = field(default_factory=dict)

    def family(self, name: str) -> FamilyProfile:
        """The profile of family ``name``; a :class:`PresetsError` names the known ones."""
        try:
            return self.families[name]
        except KeyError:
            raise PresetsError(
                f"presets have no family {name!r}; known: {', '.join(sorted(self.families))}"
            ) from None

    def mode(self, name: str) -> StylePreset:
        """The style preset of mode ``name``; unknown modes fall back to ``normal``."""
        return self.modes.get(name) or self.modes["normal"]


def tier_short_side(name: str) -> int:
    """The nominal short side of a tier name: ``"480p"`` -> 480."""
    match = _TIER_NAME.match(name)
    if not match:
        raise PresetsError(f"size tier {name!r} is not of the form <short side>p, e.g. 480p")
    return int(match.group(1))


_ADAPTER = TypeAdapter(Presets)


def parse_presets(text: str | bytes, source: str = "presets") -> Presets:
    """Validate presets JSON text; every mode must give a guidance for every family."""
    try:
        presets = _ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise PresetsError(f"{source} is invalid: {exc}") from exc
    if "normal" not in presets.modes:
        raise PresetsError(f"{source} has no 'normal' mode, the fallback for unknown modes")
    for family_name, family in presets.families.items():
        if not family.sizes:
            raise PresetsError(f"{source}: family {family_name!r} has no sizes")
        for tier in family.sizes:
            tier_short_side(tier)
    for mode_name, mode in presets.modes.items():
        missing = sorted(set(presets.families) - set(mode.guidance))
        if missing:
            raise PresetsError(f"{source}: mode {mode_name!r} has no guidance for {missing}")
    return presets


def load_presets(path: Path | None = None) -> Presets:
    """Read the presets file at ``path``, or the one shipped with the package."""
    if path is None:
        text = resources.files(__package__).joinpath("presets.json").read_text(encoding="utf-8")
        return parse_presets(text, "shipped presets.json")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetsError(f"cannot read presets file {path}: {exc}") from exc
    return parse_presets(text, str(path))
