"""Opaque pagination cursors: the sort key of the last item of a page, as URL-safe base64."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
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


# The ledger's id is a 32-bit integer on PostgreSQL: a larger one must not reach the query.
MAX_LEDGER_ID = 2**31 - 1
_ID_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def decode_ledger_cursor(cursor: str) -> int:
    """The ledger id a ledger cursor resumes after, in the column's range."""
    (after_id,) = decode_cursor(cursor, int)
    if not 0 < after_id <= MAX_LEDGER_ID:
        raise InvalidCursorError(cursor)
    return after_id


def decode_task_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a task cursor resumes after: an aware UTC time and one of our ids."""
    created, task_id = decode_cursor(cursor, str, str)
    if not _ID_TEXT.match(task_id):
        raise InvalidCursorError(cursor)
    try:
        moment = datetime.fromisoformat(created)
        # Only the form we hand out (fromisoformat also reads other separators, even a NUL).
        if moment.tzinfo is None or moment.isoformat() != created:
            raise InvalidCursorError(cursor)
        # Taking a time at the edge of the calendar to UTC overflows: refuse it here, not in SQL.
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidCursorError(cursor) from exc
    return moment, task_id
