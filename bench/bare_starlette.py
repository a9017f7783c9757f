"""The yardstick: a bare Starlette app that answers every GET with fixed JSON bytes.

python bench/bare_starlette.py BODY_FILE PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(body: bytes) -> Starlette:
    async def answer(_: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/", answer)])


if __name__ == "__main__":
    payload = Path(sys.argv[1]).read_bytes()
    uvicorn.run(build(payload), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
