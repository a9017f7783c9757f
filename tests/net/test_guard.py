"""The outbound-HTTP guard: address policy, connect-time checks, redirects, size cap."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from typing import TYPE_CHECKING

import pytest
import trustme

from grokimagine.net import guard
from grokimagine.net.guard import (
    FetchFailed,
    FetchRefused,
    FetchTooLarge,
    guarded_client,
    guarded_get,
    validate_outbound_url,
)
from grokimagine.net.policy import Allowlist, embedded_ipv4, is_forbidden_address

if TYPE_CHECKING:
    from tests.helpers.servers import LocalServer, ServerFactory

# Every test here runs with connect_log: no connection leaves loopback, even if the guard fails.
pytestmark = pytest.mark.usefixtures("connect_log")

LOOPBACK = ["127.0.0.1"]


def fake_resolver(answers: dict[str, list[str]]):
    """A stand-in for ``guard.resolve_host`` that answers from a table, else as the system does."""
    real = guard.resolve_host

    async def resolve(host: str, port: int) -> list[guard.IPAddress]:
        if host in answers:
            return [ipaddress.ip_address(a) for a in answers[host]]
        return await real(host, port)

    return resolve


# --- address policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",
    ],
)
def test_forbidden_addresses(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


def test_embedded_ipv4_of_6to4_and_mapped() -> None:
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::1")) == [
        ipaddress.IPv4Address("127.0.0.1")
    ]
    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:10.0.0.1")) == [
        ipaddress.IPv4Address("10.0.0.1")
    ]
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1")) == []


def test_allowlist_parses_hosts_wildcards_and_networks() -> None:
    allow = Allowlist.parse([" Intranet.Example. ", "*.corp.example", "10.1.0.0/16", "fd00::1", ""])
    ip = ipaddress.ip_address
    assert allow.permits("intranet.example", ip("10.9.9.9"))
    assert allow.permits("INTRANET.example.", ip("192.168.0.1"))
    assert allow.permits("wiki.corp.example", ip("172.16.0.1"))
    assert not allow.permits("corp.example", ip("172.16.0.1"))
    assert not allow.permits("evilcorp.example", ip("172.16.0.1"))
    assert allow.permits("anything", ip("10.1.200.3"))
    assert not allow.permits("anything", ip("10.2.0.1"))
    assert allow.permits("anything", ip("fd00::1"))
    assert not allow.permits("anything", ip("fd00::2"))
    # An IPv4-mapped IPv6 address is matched against IPv4 ranges.
    assert allow.permits("anything", ip("::ffff:10.1.0.5"))
    # Public addresses never need the list.
    assert Allowlist().permits("example.com", ip("93.184.216.34"))


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://x", "a b", "host:8080", "*."])
def test_allowlist_refuses_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist entry"):
        Allowlist.parse([entry])


# --- fetching ---------------------------------------------------------------------------------


async def test_fetches_from_an_allowlisted_address(
    server: LocalServer, connect_log: list[tuple[str, int]]
) -> None:
    url = server.add("/hello", body=b"hello", headers={"Content-Type": "text/plain"})
    body = await guarded_get(url, allowlist=LOOPBACK, max_bytes=100, timeout=5)
    assert body.content == b"hello"
    assert body.content_type == "text/plain"
    assert body.url == url
    assert connect_log == [("127.0.0.1", server.port)]
    assert server.requests == [("/hello", f"127.0.0.1:{server.port}")]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "169.254.169.254",
        "10.0.0.7",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[::]",
        "100.64.0.1",
        "2130706433",  # 127.0.0.1 written as one decimal number
        "0x7f000001",
        "127.1",
    ],
)
async def test_refuses_forbidden_addresses_before_connecting(
    server: LocalServer, connect_log: list[tuple[str, int]], host: str
) -> None:
    server.add("/secret", body=b"secret")
    with pytest.raises(FetchRefused, match=r"^the address is not allowed$"):
        await guarded_get(
            f"http://{host}:{server.port}/secret", allowlist=[], max_bytes=100, timeout=5
        )
    assert connect_log == []
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)", "x"],
)
async def test_refuses_other_schemes(url: str, connect_log: list[tuple[str, int]]) -> None:
    with pytest.raises(FetchRefused):
        await guarded_get(url, allowlist=LOOPBACK, max_bytes=100, timeout=5)
    assert connect_log == []


async def test_refuses_invalid_url() -> None:
    with pytest.raises(FetchRefused, match="not valid"):
        await guarded_get("http://[::1/", allowlist=[], max_bytes=100, timeout=5)


async def test_redirect_from_allowlisted_host_to_forbidden_address(
    server: LocalServer,
    make_server: ServerFactory,
    connect_log: list[tuple[str, int]],
) -> None:
    second_server = make_server("127.0.0.2")  # loopback is a /8 on Linux
    target = server.add("/secret", body=b"secret")
    start = second_server.add("/go", status=302, headers={"Location": target})
    with pytest.raises(FetchRefused, match="address is not allowed"):
        await guarded_get(start, allowlist=["127.0.0.2"], max_bytes=100, timeout=5)
    assert second_server.requests == [("/go", f"127.0.0.2:{second_server.port}")]
    assert server.requests == []
    assert connect_log == [("127.0.0.2", second_server.port)]


@pytest.mark.parametrize(
    "location",
    ["http://10.0.0.1/x", "http://169.254.169.254/", "http://[::1]:80/"],
)
async def test_redirect_to_private_address_never_connects(
    server: LocalServer, connect_log: list[tuple[str, int]], location: str
) -> None:
    start = server.add("/go", status=301, headers={"Location": location})
    with pytest.raises(FetchRefused, match="address is not allowed"):
        await guarded_get(start, allowlist=LOOPBACK, max_bytes=100, timeout=5)
    assert connect_log == [("127.0.0.1", server.port)]


async def test_redirect_to_other_scheme_is_refused(server: LocalServer) -> None:
    start = server.add("/go", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(FetchRefused, match="only http and https"):
        await guarded_get(start, allowlist=LOOPBACK, max_bytes=100, timeout=5)


async def test_follows_relative_redirects_within_the_limit(server: LocalServer) -> None:
    server.add("/a", status=301, headers={"Location": "/b"})
    server.add("/b", status=307, headers={"Location": "c"})
    server.add("/c", status=308, headers={"Location": server.url("/end")})
    server.add("/end", body=b"done")
    body = await guarded_get(server.url("/a"), allowlist=LOOPBACK, max_bytes=100, timeout=5)
    assert body.content == b"done"
    assert body.url == server.url("/end")
    assert [path for path, _host in server.requests] == ["/a", "/b", "/c", "/end"]


async def test_too_many_redirects(server: LocalServer) -> None:
    for hop in range(10):
        server.add(f"/r{hop}", status=302, headers={"Location": f"/r{hop + 1}"})
    with pytest.raises(FetchRefused, match=r"too many redirects \(more than 3\)"):
        await guarded_get(server.url("/r0"), allowlist=LOOPBACK, max_bytes=100, timeout=5)
    # The first request and three redirects followed; the fourth is not.
    assert [path for path, _host in server.requests] == ["/r0", "/r1", "/r2", "/r3"]
    with pytest.raises(FetchRefused, match="too many redirects"):
        await guarded_get(
            server.url("/r0"), allowlist=LOOPBACK, max_bytes=100, timeout=5, max_redirects=0
        )


async def test_dns_answer_with_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, connect_log: list[tuple[str, int]]
) -> None:
    monkeypatch.setattr(
        guard,
        "resolve_host",
        fake_resolver(
            {"images.example.test": ["10.0.0.1"], "mixed.example.test": ["8.8.8.8", "10.0.0.1"]}
        ),
    )
    for host in ("images.example.test", "mixed.example.test"):
        with pytest.raises(FetchRefused, match="address is not allowed"):
            await guarded_get(f"http://{host}/a.png", allowlist=[], max_bytes=100, timeout=5)
    assert connect_log == []


async def test_allowlisted_hostname_connects_to_resolved_address_with_its_host_header(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, connect_log: list[tuple[str, int]]
) -> None:
    monkeypatch.setattr(
        guard, "resolve_host", fake_resolver({"images.example.test": ["127.0.0.1"]})
    )
    server.add("/a", body=b"via name")
    url = f"http://images.example.test:{server.port}/a"
    body = await guarded_get(url, allowlist=["images.example.test"], max_bytes=100, timeout=5)
    assert body.content == b"via name"
    assert connect_log == [("127.0.0.1", server.port)]
    assert server.requests == [("/a", f"images.example.test:{server.port}")]


async def test_dns_rebinding_after_validation_is_caught_at_connect(
    monkeypatch: pytest.MonkeyPatch, connect_log: list[tuple[str, int]]
) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[guard.IPAddress]:
        return [ipaddress.ip_address(a) for a in next(answers)]

    monkeypatch.setattr(guard, "resolve_host", rebinding)
    url = "http://rebind.example.test/a.png"
    await validate_outbound_url(url, [])  # first answer is public: accepted
    with pytest.raises(FetchRefused, match="address is not allowed"):
        await guarded_get(url, allowlist=[], max_bytes=100, timeout=5)
    assert connect_log == []


async def test_allowlist_by_cidr(server: LocalServer) -> None:
    url = server.add("/a", body=b"cidr")
    body = await guarded_get(url, allowlist=["127.0.0.0/8"], max_bytes=100, timeout=5)
    assert body.content == b"cidr"
    with pytest.raises(FetchRefused):
        await guarded_get(url, allowlist=["127.0.1.0/24"], max_bytes=100, timeout=5)


async def test_body_over_cap_with_content_length_is_refused_from_the_header(
    server: LocalServer,
) -> None:
    # The server declares a huge body and sends none of it: only the header can end this fetch
    # before the timeout.
    url = server.add("/big", body=b"", headers={"Content-Length": str(10**12)})
    with pytest.raises(FetchTooLarge, match="larger than 1 KiB") as caught:
        await guarded_get(url, allowlist=LOOPBACK, max_bytes=1024, timeout=3)
    assert caught.value.limit == 1024


async def test_declared_large_body_sent_forever_is_refused(server: LocalServer) -> None:
    url = server.add(
        "/endless", body=b"x" * 65536, headers={"Content-Length": str(10**12)}, endless=True
    )
    with pytest.raises(FetchTooLarge):
        await guarded_get(url, allowlist=LOOPBACK, max_bytes=100_000, timeout=5)


async def test_endless_chunked_body_is_cut_at_the_cap(server: LocalServer) -> None:
    url = server.add("/stream", chunks=[b"x" * 4096], endless=True)
    with pytest.raises(FetchTooLarge):
        await guarded_get(url, allowlist=LOOPBACK, max_bytes=100_000, timeout=5)


@pytest.mark.parametrize("chunked", [False, True])
async def test_cap_boundary(server: LocalServer, chunked: bool) -> None:
    exact = b"a" * 1000
    if chunked:
        server.add("/exact", chunks=[exact[:300], exact[300:]])
        server.add("/over", chunks=[exact, b"b"])
    else:
        server.add("/exact", body=exact)
        server.add("/over", body=exact + b"b")
    body = await guarded_get(server.url("/exact"), allowlist=LOOPBACK, max_bytes=1000, timeout=5)
    assert body.content == exact
    with pytest.raises(FetchTooLarge):
        await guarded_get(server.url("/over"), allowlist=LOOPBACK, max_bytes=1000, timeout=5)


async def test_lying_short_content_length_is_still_capped(server: LocalServer) -> None:
    # Declares 10 bytes: h11 refuses the extra data rather than reading past the declared length.
    url = server.add("/liar", body=b"y" * 5000, headers={"Content-Length": "10"})
    body = await guarded_get(url, allowlist=LOOPBACK, max_bytes=100, timeout=5)
    assert body.content == b"y" * 10


async def test_http_error_status(server: LocalServer) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404"):
        await guarded_get(server.url("/missing"), allowlist=LOOPBACK, max_bytes=100, timeout=5)


async def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match="the connection failed"):
        await guarded_get(f"http://127.0.0.1:{port}/", allowlist=LOOPBACK, max_bytes=1, timeout=5)


async def test_timeout_bounds_the_whole_fetch(server: LocalServer) -> None:
    release = threading.Event()
    url = server.add("/slow", body=b"late", before=lambda: release.wait(10))
    try:
        with pytest.raises(FetchFailed, match="timed out"):
            await guarded_get(url, allowlist=LOOPBACK, max_bytes=100, timeout=0.2)
    finally:
        release.set()


async def test_validate_outbound_url(monkeypatch: pytest.MonkeyPatch) -> None:
    async def unresolvable(host: str, port: int) -> list[guard.IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    await validate_outbound_url("http://127.0.0.1:9/hook", ["127.0.0.1"])
    with pytest.raises(FetchRefused, match="address is not allowed"):
        await validate_outbound_url("http://127.0.0.1:9/hook", [])
    with pytest.raises(FetchRefused, match="only http and https"):
        await validate_outbound_url("ftp://example.com/", [])
    monkeypatch.setattr(guard, "resolve_host", unresolvable)
    with pytest.raises(FetchFailed, match="could not be resolved"):
        await validate_outbound_url("https://nowhere.example.test/hook", [])


async def test_tls_uses_the_hostname_for_sni_and_verification(
    make_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    connect_log: list[tuple[str, int]],
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("images.example.test").configure_cert(server_context)
    seen_names: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _ctx: seen_names.append(name)
    local = make_server("127.0.0.1", ssl_context=server_context)
    monkeypatch.setattr(
        guard, "resolve_host", fake_resolver({"images.example.test": ["127.0.0.1"]})
    )
    local.add("/a", body=b"over tls")
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    url = f"https://images.example.test:{local.port}/a"
    async with guarded_client(
        ["images.example.test"], timeout=5, ssl_context=client_context
    ) as client:
        body = await guarded_get(url, allowlist=[], max_bytes=100, timeout=5, client=client)
    assert body.content == b"over tls"
    assert seen_names == ["images.example.test"]
    assert connect_log == [("127.0.0.1", local.port)]
    assert local.requests == [("/a", f"images.example.test:{local.port}")]
