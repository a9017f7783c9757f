"""The SSRF guard for synchronous httpx clients (the relay engines run in worker threads).

Same policy as :mod:`grokimagine.net.guard`: the host is resolved here and every address is
checked at connect time, so a redirect or a DNS answer that changes cannot reach a private
address unless the allow-list names it.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Iterator

import httpcore
import httpx

from grokimagine.net.guard import (
    USER_AGENT,
    FetchRefused,
    _as_httpx_errors,
    _default_ssl_context,
    _refuse_unless_permitted,
    core_request_of,
)
from grokimagine.net.policy import Allowlist, IPAddress

__all__ = ["GuardedSyncNetworkBackend", "GuardedSyncTransport", "guarded_sync_client"]


def resolve_host_sync(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, without duplicates."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class GuardedSyncNetworkBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses forbidden addresses, connects to a validated IP."""

    def __init__(self, allowlist: Allowlist, inner: httpcore.NetworkBackend | None = None):
        self._allowlist = allowlist
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_host_sync(host, port)
        except OSError as exc:
            raise httpcore.ConnectError("name resolution failed") from exc
        _refuse_unless_permitted(self._allowlist, host, addresses)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise FetchRefused("the address is not allowed")


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]):
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class GuardedSyncTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that connects through the guarded backend.

    No proxies: a proxy would connect on our behalf, past the address check.
    """

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 10,
    ):
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or _default_ssl_context(),
            max_connections=max_connections,
            http1=True,
            http2=False,
            network_backend=GuardedSyncNetworkBackend(allowlist),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise FetchRefused("only http and https URLs are allowed")
        core_request = core_request_of(request)
        with _as_httpx_errors():
            core_response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_sync_client(
    allowlist: Allowlist | Iterable[str],
    *,
    timeout: httpx.Timeout | float,
    follow_redirects: bool = True,
    max_connections: int = 10,
) -> httpx.Client:
    """An ``httpx.Client`` whose every connection, redirects included, passes the address check."""
    return httpx.Client(
        transport=GuardedSyncTransport(
            Allowlist.coerce(allowlist), max_connections=max_connections
        ),
        timeout=timeout,
        follow_redirects=follow_redirects,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
