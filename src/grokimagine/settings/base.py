"""What every settings group shares: its environment prefix, and how a list is read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Set while settings are copied from settings (Settings.replace): every value is given, so the
# environment, read field by field, would only cost time (most of a copy's ~9 ms).
_copying: ContextVar[bool] = ContextVar("copying_settings", default=False)


@contextmanager
def copying_settings() -> Iterator[None]:
    """Build settings from the values given alone, without reading the environment."""
    token = _copying.set(True)
    try:
        yield
    finally:
        _copying.reset(token)


class EnvironmentSettings(BaseSettings):
    """Settings read from the environment, except while copied (``copying_settings``)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _copying.get():
            return (init_settings,)
        return (init_settings, env_settings, dotenv_settings, file_secret_settings)


def _split_comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsGroup(EnvironmentSettings):
    """A group of settings whose variables are ``GROKIMAGINE_`` + ``flat_prefix`` + field."""

    flat_prefix: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        prefix = f"GROKIMAGINE_{cls.flat_prefix.upper()}"
        cls.model_config = SettingsConfigDict(env_prefix=prefix, extra="ignore")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # Name the variable an operator sets, not the field inside the group.
            culprits = "; ".join(
                f"GROKIMAGINE_{(self.flat_prefix + str(error['loc'][0])).upper()}: "
                + "".join(f"{part}: " for part in error["loc"][1:])
                + str(error["msg"]).removeprefix("Value error, ")
                for error in exc.errors()
            )
            raise ValueError(f"invalid settings: {culprits}") from None
