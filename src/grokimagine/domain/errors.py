"""Refusals shared by several use cases. Each module keeps the errors only it raises."""

from __future__ import annotations


class InvalidRequestError(ValueError):
    """A request a use case refuses as it stands; the message names the field and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
