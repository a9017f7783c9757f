"""Outbound HTTP that cannot be turned against our own network (SSRF guard).

The address check runs inside an httpcore network backend, at connect time, on the addresses
actually connected to: a DNS answer that changes between a check and the connection (rebinding)
cannot slip through, and neither can a redirect. TLS and the ``Host`` header still use the
hostname, since httpcore hands the origin's name to ``start_tls`` and httpx builds the header.

Policy when a name resolves to several addresses: the connection is refused if *any* of them is
forbidden. A public name that also answers with a private address is suspect, and with the
"all" reading the connection order would decide where the request goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import anyio
import httpcore
import httpx

from grokimagine.net.policy import Allowlist, IPAddress

__all__ = [
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "FetchTooLarge",
    "FetchedBody",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "guarded_client",
    "guarded_get",
    "resolve_host",
    "validate_outbound_url",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})
USER_AGENT = "grokimagine-fetch/1"


class FetchError(Exception):
    """Base of the guard's errors; the message is safe to show to the requester."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FetchRefused(FetchError):
    """The URL or an address it leads to is not allowed (scheme, address, redirects)."""


class FetchTooLarge(FetchError):
    """The body is larger than the cap."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class FetchFailed(FetchError):
    """The fetch was allowed but did not succeed (network error, timeout, HTTP error status)."""


@dataclass(frozen=True)
class FetchedBody:
    """A fetched response body, read in full and within the cap."""

    url: str  # the final URL, after redirects
    content: bytes
    content_type: str | None


def describe_size(size: int) -> str:
    """A byte count for messages: ``8 MiB`` or ``512 KiB`` when exact, else ``1141 bytes``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, without duplicates."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _refuse_unless_permitted(allowlist: Allowlist, host: str, addresses: list[IPAddress]) -> None:
    """Refuse unless every address is permitted (see the module's note on the policy)."""
    if not addresses or not all(allowlist.permits(host, address) for address in addresses):
        raise FetchRefused("the address is not allowed")


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses forbidden addresses, connects to a validated IP."""

    def __init__(self, allowlist: Allowlist, inner: httpcore.AsyncNetworkBackend | None = None):
        self._allowlist = allowlist
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve_host(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("name resolution timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError("name resolution failed") from exc
        _refuse_unless_permitted(self._allowlist, host, addresses)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
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

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("the address is not allowed")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~15 ms; a client-side context can be shared.
    return httpx.create_ssl_context(trust_env=False)


# Subclasses before their bases: the first match wins.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


def core_request_of(request: httpx.Request) -> httpcore.Request:
    """The httpcore request for an httpx one (both guarded transports hand it to their pool)."""
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """Present httpcore's exceptions as httpx's, as httpx's own transport does."""
    try:
        yield
    except Exception as exc:
        for core_type, httpx_type in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, core_type):
                raise httpx_type(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]):
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _as_httpx_errors():
                await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through the guarded backend.

    httpx 0.28 has no argument to give its own transport a network backend, so this maps
    requests and responses around ``httpcore.AsyncConnectionPool(network_backend=...)``.
    No proxies are used: a proxy would connect on our behalf, past the address check.
    """

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 10,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ):
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or _default_ssl_context(),
            max_connections=max_connections,
            http1=True,
            http2=False,
            network_backend=GuardedNetworkBackend(allowlist, network_backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = core_request_of(request)
        with _as_httpx_errors():
            core_response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def guarded_client(
    allowlist: Allowlist | Iterable[str],
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    max_connections: int = 10,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection passes the address check.

    Redirects are not followed by the client; :func:`guarded_get` follows them itself.
    """
    transport = GuardedTransport(
        Allowlist.coerce(allowlist), ssl_context=ssl_context, max_connections=max_connections
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        # Identity keeps the size cap honest: no decompression of a small body into a huge one.
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def _checked_url(url: str | httpx.URL) -> httpx.URL:
    """Parse ``url`` and refuse other schemes and URLs without a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRefused("the URL is not valid") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise FetchRefused("only http and https URLs are allowed")
    if not parsed.host:
        raise FetchRefused("the URL has no host")
    return parsed


async def validate_outbound_url(url: str, allowlist: Allowlist | Iterable[str]) -> None:
    """Check at submission time that ``url`` could be requested (scheme, resolved addresses).

    Raises :class:`FetchRefused`, or :class:`FetchFailed` when the name does not resolve. The
    connection itself is checked again when made, since DNS answers may change.
    """
    parsed = _checked_url(url)
    policy = Allowlist.coerce(allowlist)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolve_host(parsed.host, port)
    except OSError as exc:
        raise FetchFailed("the host name could not be resolved") from exc
    _refuse_unless_permitted(policy, parsed.host, addresses)


async def guarded_get(
    url: str,
    *,
    allowlist: Allowlist | Iterable[str],
    max_bytes: int,
    timeout: float,
    max_redirects: int = 3,
    client: httpx.AsyncClient | None = None,
) -> FetchedBody:
    """GET ``url`` with the address guard, following at most ``max_redirects`` redirects.

    ``timeout`` bounds the whole fetch. Raises :class:`FetchRefused`, :class:`FetchTooLarge`
    (body over ``max_bytes``) or :class:`FetchFailed`. ``client`` must come from
    :func:`guarded_client`; without one a client is made for this call.
    """
    first = _checked_url(url)
    try:
        async with asyncio.timeout(timeout):
            if client is not None:
                return await _follow(client, first, max_bytes, max_redirects)
            async with guarded_client(allowlist, timeout=timeout) as own_client:
                return await _follow(own_client, first, max_bytes, max_redirects)
    except TimeoutError as exc:
        raise FetchFailed("the fetch timed out") from exc


async def _follow(
    client: httpx.AsyncClient, url: httpx.URL, max_bytes: int, max_redirects: int
) -> FetchedBody:
    for _hop in range(max_redirects + 1):
        try:
            response = await client.send(client.build_request("GET", url), stream=True)
        except httpx.HTTPError as exc:
            raise FetchFailed(_describe_transport_error(exc)) from exc
        try:
            if response.is_redirect:
                url = _redirect_target(response)
                continue
            if not response.is_success:
                raise FetchFailed(f"the server answered HTTP {response.status_code}")
            content = await _read_capped(response, max_bytes)
            return FetchedBody(str(response.url), content, response.headers.get("content-type"))
        finally:
            await response.aclose()
    raise FetchRefused(f"too many redirects (more than {max_redirects})")


def _redirect_target(response: httpx.Response) -> httpx.URL:
    """The checked absolute URL a redirect points to."""
    try:
        target = response.url.join(response.headers["location"])
    except httpx.InvalidURL as exc:
        raise FetchRefused("the redirect location is not valid") from exc
    return _checked_url(target)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, stopping as soon as it passes ``max_bytes``."""
    too_large = FetchTooLarge(f"the body is larger than {describe_size(max_bytes)}", max_bytes)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    except httpx.HTTPError as exc:
        raise FetchFailed(_describe_transport_error(exc)) from exc
    return bytes(body)


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "the fetch timed out"
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed"
    return "the fetch failed"
