"""Hostile values for the operator surfaces' property tests (issue 21), and an oracle of what the
edge must accept, written apart from the parsers it checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

# Characters that broke something once, or could: NUL, C0 and C1 controls, DEL, layout,
# combining marks, zero-width and bidi characters, unicode digits, astral characters.
TRICKY = [
    "\x00", "\x01", "\x08", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\t", "\n", "\r",
    "\u0301", "\u0336", "\u200b", "\u202e", "\ufeff", "²", "٣", "١", "۵", "é", "\U0001f600",
]  # fmt: skip

hostile_text = st.lists(
    st.sampled_from(TRICKY) | st.characters(exclude_categories=("Cs",)), max_size=24
).map("".join)
# Mostly clean text, so that the accepting side is exercised too.
mixed_text = st.one_of(
    st.text(st.characters(categories=("L", "N", "Zs", "Mn", "P")), max_size=24), hostile_text
)
# Numbers as people (and attackers) type them.
number_text = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.text(alphabet="0123456789²٣١۵ +-_.e", max_size=26),
    st.sampled_from(["", "0", "1", "1000000000000", "1000000000001", "9" * 40, "1e3", "0x10"]),
)
_offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
)
moment_text = st.one_of(
    st.builds(
        lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
        st.datetimes(),
        _offsets,
    ),
    st.datetimes().map(datetime.isoformat),
    st.sampled_from(
        ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-01-01T00:00:00Z", "x"]
    ),
)
day_text = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "2026-1-1", "٢٠٢٦-٠١-٠١", ""]),
)


def storable(value: str, *, multiline: bool = False) -> bool:
    """Whether the edge must take ``value`` as text: no NUL, no C0/C1 control or DEL (tabs
    and line breaks in multi-line fields only), no lone surrogate."""
    for char in value:
        code = ord(char)
        if multiline and char in "\t\n\r":
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            return False
    return True


def whole_in(text: str, low: int, high: int) -> bool:
    """Whether ``text`` is ASCII digits (blanks around allowed) for a number in [low, high]."""
    digits = text.strip()
    return digits.isascii() and digits.isdigit() and len(digits) < 30 and low <= int(digits) <= high


FIRST, LAST = date(2000, 1, 1), date(2199, 12, 31)
