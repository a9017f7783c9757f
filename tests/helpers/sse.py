"""A small reader of server-sent events for the tests (written to the WHATWG format)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    event: str = "message"
    data: str = ""
    id: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def read_events(lines: Iterator[str]) -> Iterator[Event]:
    """Events (and comment-only blocks, as events with no data) from a stream's lines."""
    current = Event()
    data: list[str] = []
    touched = False
    for raw in lines:
        line = raw.rstrip("\r")
        if line == "":
            if touched:
                current.data = "\n".join(data)
                yield current
            current, data, touched = Event(), [], False
            continue
        touched = True
        if line.startswith(":"):
            current.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            current.event = value
        elif name == "id":
            current.id = value
    if touched:
        current.data = "\n".join(data)
        yield current
