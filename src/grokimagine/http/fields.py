"""Strict parsers of the values people type: text, whole numbers, days, moments and choices.

One set of rules for every surface: the admin API's bodies and query parameters (as pydantic
types below) and the console's and ``/admin``'s forms, queries and paths
(``console/forms.py``) parse through these functions, so both databases see exactly the same
accepted values and a refusal always names the field. Each function returns a value the code
behind it can use as is, or raises :class:`FieldError`; nothing else, whatever string arrives.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field

from grokimagine.domain.billing.credits import MAX_CREDITS_PER_CHANGE

# Dates operators may filter and report on. Outside this range a date is a typo (or an attack:
# year 1 with an offset overflows Python's datetime), never a day the service ran.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
FIRST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
END_MOMENT = datetime(2200, 1, 1, tzinfo=UTC)
MAX_DIGITS = 19  # past any bound we check: a longer number is refused unread
_ASCII_DIGITS = re.compile(r"^[0-9]+$")
# Calendar days only: date.fromisoformat would take "20260101" and "2026-W01-1" too.
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Line breaks and tabs, allowed in multi-line fields only (a prompt, a note).
_LAYOUT = frozenset("\t\n\r")


class FieldError(ValueError):
    """A value refused at the edge; ``field`` is the parameter's name, ``why`` the reason."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"The {field} parameter is not valid: {why}")
        self.field = field
        self.why = why


def unstorable_reason(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored as text (a NUL, a control character, a lone surrogate),
    or ``None`` if it may. PostgreSQL refuses NUL; SQLite must not take what PostgreSQL
    refuses; control characters in names and reasons only hide what was written."""
    for char in value:
        category = unicodedata.category(char)
        if char == "\x00":
            return "it holds a NUL character"
        if category == "Cs":
            return "it holds a lone surrogate"
        if category == "Cc" and not (multiline and char in _LAYOUT):
            return "it holds a control character"
    return None


def clean_text(
    value: str,
    field: str,
    *,
    max_chars: int,
    required: bool = False,
    multiline: bool = False,
) -> str:
    """``value`` stripped of surrounding blanks, at most ``max_chars`` characters, storable."""
    reason = unstorable_reason(value, multiline=multiline)
    if reason is not None:
        raise FieldError(field, reason)
    text = value.strip()
    if required and not text:
        raise FieldError(field, "it is required")
    if len(text) > max_chars:
        raise FieldError(field, f"at most {max_chars} characters")
    return text


def parse_whole(text: str, field: str, *, low: int, high: int) -> int:
    """A whole number written in ASCII digits (``"²"`` and ``"١"`` are not), within bounds."""
    value = text.strip()
    if not _ASCII_DIGITS.match(value) or len(value.lstrip("0")) > MAX_DIGITS:
        raise FieldError(field, f"give a whole number from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise FieldError(field, f"give a whole number from {low} to {high}")
    return number


def parse_credits(text: str, field: str = "amount") -> int:
    """Credits to grant or deduct: 1 to the limit the admin API has too."""
    return parse_whole(text, field, low=1, high=MAX_CREDITS_PER_CHANGE)


def parse_day(text: str, field: str) -> date:
    """A day as ``YYYY-MM-DD`` between :data:`FIRST_DAY` and :data:`LAST_DAY`."""
    value = text.strip()
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "give a day as YYYY-MM-DD") from None
    return check_day(day, field)


def check_day(day: date, field: str) -> date:
    """``day`` if within the documented range."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FieldError(field, f"give a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def check_moment(moment: datetime, field: str) -> datetime:
    """``moment`` in UTC: it must carry a time zone and fall within the documented range."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FieldError(field, "give a time zone (Z or +HH:MM)")
    # Compared before converting: year 1 with an offset overflows a conversion.
    if not FIRST_MOMENT <= moment < END_MOMENT:
        raise FieldError(field, f"give a time from {FIRST_DAY} to {LAST_DAY} (UTC)")
    return moment.astimezone(UTC)


def parse_choice(text: str, field: str, choices: Collection[str]) -> str:
    """One of ``choices``, exactly; anything else is refused, never taken for a default."""
    if text not in choices:
        raise FieldError(field, f"one of {', '.join(sorted(choices))}")
    return text


# --- The same rules as pydantic types, for request bodies and query parameters -------------


_Value = TypeVar("_Value")


def _why_only(check: Callable[[_Value], _Value]) -> Callable[[_Value], _Value]:
    """A check raising :class:`FieldError` as a pydantic validator (the loc names the field)."""

    def validate(value: _Value) -> _Value:
        try:
            return check(value)
        except FieldError as exc:
            raise ValueError(exc.why) from None

    return validate


def _storable(value: str) -> str:
    reason = unstorable_reason(value)
    if reason is not None:
        raise FieldError("", reason)
    return value


def _storable_multiline(value: str) -> str:
    reason = unstorable_reason(value, multiline=True)
    if reason is not None:
        raise FieldError("", reason)
    return value


# A field stored as text (names, reasons, plans, filters): no NUL, control character or lone
# surrogate. Length limits stay on each field (Field/Query max_length).
LineText = Annotated[str, AfterValidator(_why_only(_storable))]
# The same for a multi-line field: tabs and line breaks allowed.
MultilineText = Annotated[str, AfterValidator(_why_only(_storable_multiline))]
Moment = Annotated[
    datetime,
    AfterValidator(_why_only(lambda moment: check_moment(moment, ""))),
    Field(description=f"ISO 8601 with a time zone, from {FIRST_DAY} to {LAST_DAY}."),
]


def _day_of(value: object) -> object:
    return parse_day(value, "") if isinstance(value, str) else value


Day = Annotated[
    date,
    BeforeValidator(_why_only(_day_of)),
    AfterValidator(_why_only(lambda day: check_day(day, ""))),
    Field(description=f"YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}."),
]
