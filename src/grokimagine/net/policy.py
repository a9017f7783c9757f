"""Which addresses outbound requests may reach: public ones, plus what the operator allowlisted.

The allowlist (``GROKIMAGINE_FETCH_ALLOWLIST``) holds hostnames (``intranet.example``),
subdomain wildcards (``*.corp.example``), single addresses and CIDR ranges (``10.1.0.0/16``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not always covered by ``is_private``/``is_global`` depending on the Python patch release.
_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
# A NAT64 gateway translates these to the IPv4 address in the low 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_-]+)*$")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that an IPv6 address stands for: mapped, 6to4, Teredo and NAT64 forms."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_forbidden_address(address: IPAddress) -> bool:
    """True for any address that is not plainly public unicast.

    Loopback, private, link-local, multicast, reserved, unspecified and carrier-grade NAT
    addresses are forbidden, and so is an IPv6 address that wraps a forbidden IPv4 one.
    IPv4-compatible IPv6 (``::a.b.c.d``) lies in the reserved ``::/8`` and is refused with it.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reaches the IPv4 address itself: judge that one.
        return is_forbidden_address(address.ipv4_mapped)
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return True
    if isinstance(address, ipaddress.IPv4Address):
        return address in _CARRIER_GRADE_NAT
    return any(is_forbidden_address(inner) for inner in embedded_ipv4(address))


def _normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


@dataclass(frozen=True)
class Allowlist:
    """Hosts and networks that outbound requests may reach although their address is private."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # from "*.corp.example": ".corp.example"
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Build from setting strings; raises ``ValueError`` naming an entry that is neither a
        hostname, a ``*.`` wildcard, an address nor a CIDR range."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = _normalise_host(raw)
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*.") and _HOSTNAME.match(entry[2:]):
                suffixes.append(entry[1:])
            elif _HOSTNAME.match(entry):
                hosts.add(entry)
            else:
                raise ValueError(f"fetch allowlist entry {raw!r} is not a host, address or CIDR")
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    @classmethod
    def coerce(cls, value: Allowlist | Iterable[str]) -> Allowlist:
        """Accept either a parsed allowlist or the raw setting strings."""
        return value if isinstance(value, Allowlist) else cls.parse(value)

    def allows_host(self, host: str) -> bool:
        """True if the hostname itself is listed, exactly or under a ``*.`` wildcard."""
        name = _normalise_host(host)
        return name in self.hosts or any(name.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        """True if the address lies in a listed network (IPv4-mapped IPv6 counts as IPv4)."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.networks
        )

    def permits(self, host: str, address: IPAddress) -> bool:
        """Whether a connection to ``address``, reached through the name ``host``, may be made."""
        return (
            not is_forbidden_address(address)
            or self.allows_host(host)
            or self.allows_address(address)
        )
