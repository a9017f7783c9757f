"""A TCP proxy on loopback that can drop every connection at once: a GPU host that dies.

Stopping a uvicorn server lets it answer requests in flight (with a 500 if forced); a host that
loses power answers nothing: its connections reset. The proxy forwards bytes both ways to the
fake node; :meth:`TcpProxy.kill` closes the listener and resets every connection, and
:meth:`TcpProxy.start` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

from .loopback import LoopbackServer


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``url`` is the node's base URL through it."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # killed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                pump.start()
                self._threads.append(pump)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        """Stop listening and reset every connection, as a dead host would."""
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone does not on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            dropped, self._sockets = self._sockets, []
        for sock in dropped:
            try:
                # SO_LINGER 0: close with a reset, not a polite FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)  # wakes its pump's recv()
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = [thread for thread in self._threads if thread.is_alive()]


class RestartableNode:
    """A fake node behind a TCP proxy: killed like a dead host, started again on its port."""

    def __init__(self, fake: Any):
        self.fake = fake
        self.server = LoopbackServer(fake.app)
        self.server.__enter__()
        self.proxy = TcpProxy(int(self.server.base_url.rsplit(":", 1)[1]))
        self.proxy.start()

    def start(self) -> None:
        self.proxy.start()

    def stop(self) -> None:
        self.proxy.kill()

    def close(self) -> None:
        self.proxy.kill()
        self.server.kill()

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def name(self) -> str:
        return self.proxy.name
