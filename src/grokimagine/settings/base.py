"""What every settings group shares: its environment prefix, and how a list is read."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def _split_comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsGroup(BaseSettings):
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
