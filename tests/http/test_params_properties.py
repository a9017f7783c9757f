"""Property tests: the edge parsers and the request schema accept or refuse any input, and never
raise anything else."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from grokimagine.domain.cursors import (
    MAX_LEDGER_ID,
    InvalidCursorError,
    decode_ledger_cursor,
    decode_task_cursor,
    encode_cursor,
)
from grokimagine.http.errors import ApiError
from grokimagine.http.params import (
    MAX_WAIT_SECONDS,
    RangeNotSatisfiable,
    parse_byte_range,
    parse_cursor,
    parse_expires,
    parse_id,
    parse_prefer_wait,
    parse_signature,
    storable_text,
)
from grokimagine.http.v1.schemas import GenerateRequest

# Text as it may arrive: any code point (surrogates included, as Starlette's decoding can give).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)
digits = st.text("0123456789", min_size=1, max_size=6000)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=10,
)


def refused_with_400(call, *args: object) -> object:
    try:
        return call(*args)
    except ApiError as exc:
        assert exc.status == 400 and exc.error == "INVALID_REQUEST"
        return None


@given(any_text)
@example("\x00")
@example("task_\x00")
@example("a" * 65)
def test_parse_id_returns_a_storable_id_or_refuses(value: str) -> None:
    parsed = refused_with_400(parse_id, value)
    if parsed is not None:
        assert parsed == value and 1 <= len(parsed) <= 64 and storable_text(parsed)
        assert parsed.isascii()


@given(any_text | st.none())
def test_parse_cursor_returns_the_cursor_or_refuses(value: str | None) -> None:
    parsed = refused_with_400(parse_cursor, value)
    if parsed is not None:
        assert parsed == value and parsed.isascii() and len(parsed) <= 512


@given(any_text | st.none() | digits.map(lambda d: f"wait={d}"))
@example("wait=" + "9" * 5000)
@example("wait=²")
@example("wait=٣")
def test_parse_prefer_wait_is_none_or_at_most_sixty(header: str | None) -> None:
    wait = parse_prefer_wait(header)
    assert wait is None or 0 <= wait <= MAX_WAIT_SECONDS


@given(st.integers(0, 10**200), st.integers(0, 5000))
def test_every_number_waits_for_itself_up_to_sixty(number: int, zeros: int) -> None:
    assert parse_prefer_wait(f"wait={'0' * zeros}{number}") == min(number, MAX_WAIT_SECONDS)
    assert parse_prefer_wait(f'foo, WAIT = "{number}"; x') == min(number, MAX_WAIT_SECONDS)


@given(any_text | st.none() | digits)
@example("9" * 5000)
@example("²")
def test_parse_expires_is_a_bounded_int_or_none(value: str | None) -> None:
    expires = parse_expires(value)
    assert expires is None or 0 <= expires < 10**10


@given(any_text | st.none() | st.text("0123456789abcdef", min_size=64, max_size=64))
@example("é")
def test_parse_signature_is_ascii_hex_or_none(value: str | None) -> None:
    signature = parse_signature(value)
    assert signature is None or (len(signature) == 64 and signature.isascii())


@given(any_text | st.none(), st.integers(0, 10**12))
@example("items=0-1", 100)
@example("bytes=100-50", 100)
@example("bytes=99999999-", 100)
@example("bytes=-0", 100)
@example("bytes=0-", 0)
def test_parse_byte_range_is_inside_the_file_whole_or_416(header: str | None, size: int) -> None:
    try:
        byte_range = parse_byte_range(header, size)
    except RangeNotSatisfiable as exc:
        assert exc.status == 416 and exc.headers == {"Content-Range": f"bytes */{size}"}
        return
    if byte_range is not None:
        assert 0 <= byte_range.start <= byte_range.end < size


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_parse_byte_range_takes_every_valid_single_range(a: int, b: int, size: int) -> None:
    start, end = min(a, b), max(a, b)
    if start >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_byte_range(f"bytes={start}-{end}", size)
        return
    byte_range = parse_byte_range(f"bytes={start}-{end}", size)
    assert byte_range is not None
    assert (byte_range.start, byte_range.end) == (start, min(end, size - 1))


def cursor_text(parts: object) -> str:
    # The standard library's JSON writes what orjson will not: huge ints, lone surrogates.
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@given(any_text | json_values.map(cursor_text) | st.integers().map(lambda n: cursor_text([n])))
@example(cursor_text([2**63]))
@example(cursor_text([2**31]))
def test_ledger_cursors_decode_to_an_int4_id_or_are_refused(cursor: str) -> None:
    try:
        after_id = decode_ledger_cursor(cursor)
    except InvalidCursorError:
        return
    assert 0 < after_id <= MAX_LEDGER_ID


@given(
    any_text
    | json_values.map(cursor_text)
    | st.tuples(any_text, any_text).map(lambda parts: cursor_text(list(parts)))
    | st.tuples(st.datetimes(timezones=st.timezones()), any_text).map(
        lambda parts: cursor_text([parts[0].isoformat(), parts[1]])
    )
)
@example(cursor_text(["0001-01-01T00:00:00+01:00", "task_a"]))
@example(cursor_text(["9999-12-31T23:59:59-01:00", "task_a"]))
@example(cursor_text(["2026-01-01T00:00:00+00:00", "task_\x00"]))
@settings(max_examples=300)
def test_task_cursors_decode_to_aware_utc_and_a_clean_id_or_are_refused(cursor: str) -> None:
    try:
        moment, task_id = decode_task_cursor(cursor)
    except InvalidCursorError:
        return
    assert moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0
    assert parse_id(task_id) == task_id


@given(st.datetimes(timezones=st.just(UTC)), st.from_regex(r"\Atask_[A-Za-z0-9_-]{24}\Z"))
def test_every_cursor_we_hand_out_decodes_back(moment: datetime, task_id: str) -> None:
    assert decode_task_cursor(encode_cursor(moment.isoformat(), task_id)) == (moment, task_id)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                *("mode", "prompt", "images", "ratio", "n", "duration", "resolution", "seed"),
                *("negative_prompt", "callback_url", "other"),
            ]
        ),
        json_values,
    )
)
@example({"prompt": "a kite\x00"})
@example({"prompt": "ok", "negative_prompt": "\ud800"})
@example({"prompt": "ok", "images": ["\x00"]})
@settings(max_examples=500)
def test_the_request_schema_validates_or_refuses_any_body(body: dict) -> None:
    try:
        request = GenerateRequest.model_validate(body)
    except ValidationError:
        return
    texts = [request.prompt, request.negative_prompt, request.callback_url, *(request.images or [])]
    assert all(storable_text(text) for text in texts if text is not None)
    assert request.prompt.strip()
