"""What the console's and ``/admin``'s pages receive, parsed by the API's own rules.

Every page router checks its address first (:func:`check_address`, a router dependency): each
path id is id-shaped and each query value storable text. Every form is read with
:func:`read_form`, which refuses a field holding a NUL, a control character or a lone surrogate,
and its values are taken with the typed readers below. A refusal is a
:class:`~grokimagine.http.fields.FieldError` naming the field, which ``console/app.py`` shows as
a 400 page: the same values are accepted on SQLite and PostgreSQL, and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date

from starlette.datastructures import FormData
from starlette.requests import Request

from grokimagine.http.fields import (
    FieldError,
    clean_text,
    parse_choice,
    parse_credits,
    parse_day,
    unstorable_reason,
)
from grokimagine.http.params import ID_PATTERN, MAX_ID_CHARS

MAX_QUERY_CHARS = 2000
_ID = re.compile(ID_PATTERN)


async def check_address(request: Request) -> None:
    """Refuse a path id that is not id-shaped, or a query value that is not storable text."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (len(value) > MAX_ID_CHARS or not _ID.match(value)):
            raise FieldError(name, "not an id")
    for name, value in request.query_params.multi_items():
        reason = unstorable_reason(value)
        if reason is not None:
            raise FieldError(name, reason)
        if len(value) > MAX_QUERY_CHARS:
            raise FieldError(name, f"at most {MAX_QUERY_CHARS} characters")


async def read_form(request: Request) -> FormData:
    """The POSTed form, each of its fields storable text (tabs and line breaks allowed)."""
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str):
            reason = unstorable_reason(value, multiline=True)
            if reason is not None:
                raise FieldError(name, reason)
    return form


def _raw(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_text(
    form: FormData, name: str, *, max_chars: int, required: bool = False, multiline: bool = False
) -> str:
    """A text field, stripped; refused if too long, or empty when ``required``."""
    return clean_text(
        _raw(form, name), name, max_chars=max_chars, required=required, multiline=multiline
    )


def form_choice(
    form: FormData, name: str, choices: Collection[str], *, default: str | None = None
) -> str:
    """One of ``choices``; ``default`` only when the field is absent, never for a wrong value."""
    value = form.get(name)
    if value is None and default is not None:
        return default
    return parse_choice(value if isinstance(value, str) else "", name, choices)


def form_credits(form: FormData, name: str = "amount") -> int:
    """Credits to grant or deduct, in ASCII digits, within the admin API's bounds."""
    return parse_credits(_raw(form, name), name)


def form_typed_credits(form: FormData, name: str, *, max_digits: int = 12) -> int | None:
    """A number of credits as a customer types it (thousands commas allowed, at most
    ``max_digits`` digits); ``None`` when the field holds no such number."""
    text = _raw(form, name).strip().replace(",", "")
    # ASCII digits only: "²".isdigit() is true and int("²") raises.
    if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
        return None
    return int(text)


def query_text(request: Request, name: str, *, max_chars: int = 200) -> str:
    """A query parameter as text ("" when absent), within ``max_chars``."""
    return clean_text(request.query_params.get(name, ""), name, max_chars=max_chars)


def query_choice(request: Request, name: str, choices: Collection[str]) -> str | None:
    """A filter that is one of ``choices``; ``None`` when absent or empty, refused otherwise."""
    value = request.query_params.get(name, "")
    return parse_choice(value, name, choices) if value else None


def query_day(request: Request, name: str, default: date) -> date:
    """A day (YYYY-MM-DD, within the documented range); ``default`` when absent or empty."""
    value = request.query_params.get(name, "")
    return parse_day(value, name) if value else default
