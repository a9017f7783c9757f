"""One socket write per response instead of two.

uvicorn writes a response's status line and headers with one ``transport.write`` and its body
with another; each is a ``send`` system call, and on loopback or a busy host the first costs as
much as the rest of a status poll's Python (bench/RESULTS.md, issue 20: the header write alone
was 17 % of a poll's samples). This transport holds the head of a response back until the next
write (the body, in the same step of the event loop for every ordinary response) and sends both
together. Whatever is held is sent at the end of the current loop iteration at the latest (a
streamed response's body comes later; a HEAD response has none), and before the connection is
closed, so bytes leave in the same order, no later than the end of the step that wrote them.
"""

from __future__ import annotations

import asyncio
from typing import Any

# What uvicorn's every response head starts with (httptools and h11 alike).
_HEAD = b"HTTP/1."


class CoalescingTransport:
    """Wraps a connection's transport; holds a response head until the body joins it."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``, with any head held before it; hold ``data`` if it is a head."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif data[:7] == _HEAD:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send what is held (the end of the loop iteration that held it, or a close)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, chunks: Any) -> None:
        """As ``write``, for each chunk in turn."""
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        """Close once what is held is on its way."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Half-close once what is held is on its way."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop the connection and whatever is unsent, held here or buffered below."""
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """The bytes not yet sent, held ones included."""
        held = len(self._held) if self._held is not None else 0
        return held + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (extra info, reading, flow-control limits, set_protocol, ...) is the
        # wrapped transport's own.
        return getattr(self._transport, name)
