"""Parsers of what clients send outside the JSON body: ids, cursors, numbers and header values.

Each one either returns a value the code behind it can use without a second thought, or refuses
(``ApiError`` 400, or ``None`` where the caller decides, as ``/files`` does with 403/404). None of
them raises anything else, whatever string arrives: the hypothesis tests hold them to that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query

from grokimagine.http.errors import ApiError, invalid_request

# Our ids are a prefix and URL-safe base64 (domain/ids.py); 64 leaves room without letting a
# client hand the database kilobytes of anything.
MAX_ID_CHARS = 64
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
# A cursor is URL-safe base64 of a short JSON array (domain/cursors.py).
MAX_CURSOR_CHARS = 512
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"
MAX_WAIT_SECONDS = 60
# Ten digits reach past the year 2286: an expiry longer than that is not one we signed.
MAX_EXPIRES_DIGITS = 10
SIGNATURE_CHARS = 64

# The same rules, for FastAPI to check and to write into the OpenAPI document.
TaskIdPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description="A task id."),
]
# Any other id in a path (accounts, keys), by the same rule.
IdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description="An id.")
]
CursorQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        pattern=CURSOR_PATTERN,
        description="next_cursor of the previous page.",
    ),
]
ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": ID_PATTERN}

_ID = re.compile(ID_PATTERN)
_CURSOR = re.compile(CURSOR_PATTERN)
_ASCII_DIGITS = re.compile(r"^[0-9]+$")
_HEX_SIGNATURE = re.compile(rf"^[0-9a-f]{{{SIGNATURE_CHARS}}}$")
# NUL and lone surrogates: PostgreSQL text cannot hold them, and SQLite must not get what
# PostgreSQL would refuse (one behaviour on both databases).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> bool:
    """Whether ``value`` can be stored as text on every database we run on."""
    return _UNSTORABLE.search(value) is None


def parse_id(value: str | None, name: str = "task_id") -> str:
    """An id as the client gave it: 1 to 64 URL-safe characters; 400 otherwise."""
    if not value:
        raise invalid_request(f"The {name} parameter is required")
    if len(value) > MAX_ID_CHARS or not _ID.match(value):
        raise invalid_request(f"The {name} parameter is not valid")
    return value


def parse_cursor(value: str | None) -> str | None:
    """A pagination cursor's text (decoded by the domain), ``None`` when absent; 400 if not ours."""
    if value is None:
        return None
    if not value or len(value) > MAX_CURSOR_CHARS or not _CURSOR.match(value):
        raise invalid_request("The cursor parameter is not valid")
    return value


def _ascii_int(value: str, max_digits: int) -> int | None:
    """The number in ``value`` if it is ASCII digits only (``"²"`` is not), capped in length."""
    if not _ASCII_DIGITS.match(value):
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > max_digits:
        return None
    return int(digits)


def parse_prefer_wait(header: str | None, longest: int = MAX_WAIT_SECONDS) -> int | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240), at most ``longest``; ``None`` without a
    usable one.

    A preference the server cannot use is ignored, as RFC 7240 asks; a number too long to read
    is simply more than the longest wait.
    """
    if not header:
        return None
    for preference in header.split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if not _ASCII_DIGITS.match(value):
            continue
        seconds = _ascii_int(value, 3)
        return longest if seconds is None else min(seconds, longest)
    return None


def parse_expires(value: str | None) -> int | None:
    """The ``expires`` of a signed URL as Unix seconds, or ``None`` if it is not one."""
    if not value:
        return None
    return _ascii_int(value, MAX_EXPIRES_DIGITS)


def parse_signature(value: str | None) -> str | None:
    """The ``signature`` of a signed URL (64 lowercase hex digits), or ``None`` if not one."""
    if not value or not _HEX_SIGNATURE.match(value):
        return None
    return value


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range inside a file."""

    start: int
    end: int


class RangeNotSatisfiable(ApiError):
    """A byte range wholly past the end of the file: 416 with ``Content-Range: bytes */SIZE``."""

    def __init__(self, size: int) -> None:
        super().__init__(
            416,
            "Range not satisfiable: the range starts past the end of the file",
            "RANGE_NOT_SATISFIABLE",
            {"Content-Range": f"bytes */{size}"},
        )


_RANGE_SPEC = re.compile(r"^(?:([0-9]+)-([0-9]*)|-([0-9]+))$")


def parse_byte_range(header: str | None, size: int) -> ByteRange | None:
    """The one range of a ``Range`` header on a file of ``size`` bytes (RFC 9110 section 14).

    ``None`` means the whole file (200): no header, another unit, a syntax we do not read, an
    end before its start, or several ranges (which the RFC lets a server answer whole). A range
    wholly past the end raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _RANGE_SPEC.match(specs.strip())
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = _ascii_int(suffix, 20)
        if length is None or length == 0:
            # bytes=-0 asks for nothing: unsatisfiable per RFC 9110.
            raise RangeNotSatisfiable(size)
        if size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(size - length, 0), size - 1)
    start = _ascii_int(first, 20)
    if start is None:
        # A number too long to read starts past any file we hold.
        raise RangeNotSatisfiable(size)
    # An end too long to read is past the end of the file: the range runs to the end.
    end = _ascii_int(last, 20) if last else None
    if end is not None and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, size - 1 if end is None else min(end, size - 1))


def require_storable(value: str, name: str) -> str:
    """``value`` if it is storable text; 400 naming the parameter otherwise."""
    if not storable_text(value):
        raise invalid_request(f"The {name} parameter is not valid: it holds a NUL or a surrogate")
    return value
