"""A response's head and body leave in one socket write, in order, and nothing held is lost:
not at the end of the loop iteration (a streamed body or a HEAD), not on close, and an abort
drops it."""

from __future__ import annotations

import asyncio
from typing import Any

from grokimagine.http.edge.coalesce import CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    """What a connection's transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False
        self.extra = {"peername": ("127.0.0.1", 5555)}

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


async def test_head_and_body_leave_in_one_write() -> None:
    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    assert below.calls == []
    assert transport.get_write_buffer_size() == len(HEAD) + 7
    transport.write(b"{}")
    assert below.calls == [("write", HEAD + b"{}")]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert below.calls == [("write", HEAD + b"{}")]


async def test_a_head_alone_leaves_at_the_end_of_the_iteration() -> None:
    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)  # a HEAD response, or a streamed one whose body comes later
    await asyncio.sleep(0)
    assert below.calls == [("write", HEAD)]
    transport.write(b"chunk")  # later bytes are not held
    assert below.calls == [("write", HEAD), ("write", b"chunk")]


async def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.close()
    assert below.calls == [("write", HEAD), ("close", None)]
    await asyncio.sleep(0)
    assert below.calls == [("write", HEAD), ("close", None)]

    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.abort()
    await asyncio.sleep(0)
    assert below.calls == [("abort", None)]

    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    transport.write_eof()
    assert below.calls == [("write", HEAD), ("write_eof", None)]


async def test_a_connection_lost_meanwhile_gets_nothing_and_the_rest_is_the_transports() -> None:
    below = RecordingTransport()
    transport = CoalescingTransport(below, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEAD)
    below.closing = True  # the peer went away before the end of the iteration
    await asyncio.sleep(0)
    assert below.calls == []
    assert transport.is_closing()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5555)
    transport.writelines([b"a", b"b"])
    assert below.calls == [("write", b"a"), ("write", b"b")]
