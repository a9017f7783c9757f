"""Start ``grokimagine serve`` for a benchmark, optionally slowed down on purpose.

    python bench/serve_api.py [--delay-us N] SERVE_ARGUMENTS...

``--delay-us N`` busy-waits N microseconds in every HTTP request before the app sees it: a
deliberate slowdown, to show that the CI guard (``bench/guard.py``) fails when the hot path
gets slower. Without it this is exactly ``grokimagine serve SERVE_ARGUMENTS...``.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def slowed(factory: Any, delay_us: int) -> Any:
    """``factory`` whose app burns ``delay_us`` of CPU per HTTP request first."""

    def build() -> Any:
        app = factory()

        async def slow_app(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                until = time.perf_counter() + delay_us / 1e6
                while time.perf_counter() < until:
                    pass
            await app(scope, receive, send)

        return slow_app

    return build


def main(argv: list[str]) -> int:
    """Patch the app factory if asked, then run the CLI's ``serve``."""
    if argv[:1] == ["--delay-us"]:
        delay_us, argv = int(argv[1]), argv[2:]
        import grokimagine.console.app as console_app

        console_app.create_app_from_env = slowed(console_app.create_app_from_env, delay_us)
    from grokimagine.cli import main as cli_main

    return cli_main(["serve", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
