"""Which IP addresses a webhook may reach: globally reachable unicast, as the IANA registries define it.

An address is refused, in this order, when
1. it carries an IPv4 address that is refused (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 well-known
   and local-use, 6to4, a Teredo client, an ISATAP interface identifier): checked first so the reason names
   the inner address, and the only check that can refuse a NAT64 or ISATAP address under a public prefix;
2. the most specific IANA special-purpose entry containing it is not marked globally reachable (False, "N/A"
   or empty: a more specific True entry, such as 192.0.0.9 inside 192.0.0.0/24, wins over its parent);
3. it lies in a block the policy adds to the registries (`special_addresses.EXTRA_REFUSED`: multicast,
   Azure's platform address, the deprecated IPv4-compatible, IPv4-translated and site-local forms);
4. it is IPv6 outside global unicast 2000::/3 and no globally reachable entry covers it.

Loopback (127.0.0.0/8, ::1) passes only with the local-stack allowance, and never when embedded. None of
`ipaddress`'s `is_global`/`is_private`/`is_loopback` properties is used: they change between Python versions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from shared.webhooks.special_addresses import IPV6_GLOBAL_UNICAST, Entry, extra_refusal, most_specific

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Extract = Callable[[ipaddress.IPv6Address], ipaddress.IPv4Address | None]

_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
_LOW32 = 0xFFFFFFFF


def _low32(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & _LOW32)


def _compatible(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    return _low32(address) if int(address) > 1 else None  # :: and ::1 are their own registry entries


def _sixtofour(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address((int(address) >> 80) & _LOW32)  # 2002:AABB:CCDD::/48


def _teredo_client(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(~int(address) & _LOW32)  # RFC 4380: the client address is obfuscated (NOT)


def _isatap(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # RFC 5214: interface identifier 0000:5efe:a.b.c.d (0200:5efe with the universal bit); the u/g bits
    # are masked so that no variant slips by. A host with an ISATAP interface tunnels such an address
    # straight to the IPv4 address, whatever the prefix.
    high = (int(address) >> 32) & _LOW32
    return _low32(address) if high & 0xFCFFFFFF == 0x00005EFE else None


_EMBEDDINGS: tuple[tuple[ipaddress.IPv6Network, str, Extract], ...] = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), "IPv4-mapped", _low32),
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), "IPv4-translated", _low32),
    (ipaddress.IPv6Network("::/96"), "IPv4-compatible", _compatible),
    (ipaddress.IPv6Network("64:ff9b::/96"), "NAT64", _low32),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "local-use NAT64", _low32),
    (ipaddress.IPv6Network("2002::/16"), "6to4", _sixtofour),
    (ipaddress.IPv6Network("2001::/32"), "Teredo client", _teredo_client),
    (ipaddress.IPv6Network("::/0"), "ISATAP", _isatap),
)


def is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == _LOOPBACK_V6


def embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """The form and IPv4 address that an IPv6 address carries, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    for network, form, extract in _EMBEDDINGS:
        if address in network and (inner := extract(address)) is not None:
            return form, inner
    return None


def _describe(entry: Entry, verdict: str = "is not globally reachable") -> str:
    return f"{entry.name} ({entry.block}, {entry.rfc}) {verdict}"


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be reached, or None when it may."""
    if allow_loopback and is_loopback(address):
        return None
    embedded = embedded_ipv4(address)
    if embedded is not None:
        form, inner = embedded
        why = refusal(inner)
        if why:
            return f"embeds {inner} ({form}): {why}"
    entry = most_specific(address)
    if entry is not None and entry.globally_reachable is not True:
        return _describe(entry)
    extra = extra_refusal(address)
    if extra is not None:
        return _describe(extra, "is never a webhook destination")
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST and entry is None:
        return f"outside IPv6 global unicast {IPV6_GLOBAL_UNICAST}"
    return None
