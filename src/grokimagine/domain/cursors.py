"""Opaque pagination cursors: the sort key of the last item of a page, as URL-safe base64."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


class InvalidCursorError(ValueError):
    """A cursor that this service did not hand out."""


def encode_cursor(*parts: str | int) -> str:
    """A cursor carrying ``parts``."""
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> list[Any]:
    """The parts of ``cursor``, checked against ``types``; :class:`InvalidCursorError` if not."""
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidCursorError(cursor) from exc
    if (
        not isinstance(parts, list)
        or len(parts) != len(types)
        or not all(type(part) is kind for part, kind in zip(parts, types, strict=True))
    ):
        raise InvalidCursorError(cursor)
    return parts
