"""Runs an ASGI app with uvicorn in a background thread on 127.0.0.1, on a free port."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn


class LoopbackServer:
    """Context manager serving ``app`` over real HTTP on loopback; ``base_url`` is its address."""

    def __init__(self, app: object, *, port: int = 0):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))  # 0: a free port; a given one: restart there
        host, port = self._socket.getsockname()
        self.base_url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def kill(self) -> None:
        """Stop at once, dropping connections in flight (a host that dies mid-request)."""
        self._server.force_exit = True
        self.__exit__(None, None, None)


def closed_port_url() -> str:
    """An http:// URL on loopback where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    return f"http://{host}:{port}"
