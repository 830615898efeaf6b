"""The IANA special-purpose address registries, vendored as data, and the blocks the webhook policy adds.

Transcribed from the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890), both as last
updated 2025-10-09: every record, with its "Globally Reachable" column. `globally_reachable` is True or
False as the registry says, and None where it says "N/A" (Teredo, 6to4) or leaves the cell empty (the
terminated 192.88.99.0/24 and 2001:10::/28); the policy treats None like False. One record lists two
blocks (192.0.0.170/32 and 192.0.0.171/32) and is one entry per block here. The source is
https://www.iana.org/assignments/iana-ipv4-special-registry/ and .../iana-ipv6-special-registry/;
refresh this table by hand when IANA changes them, and the registry tests follow.

Vendored rather than taken from `ipaddress.is_global`, whose tables differ between Python versions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Entry:
    block: Network
    name: str
    rfc: str
    globally_reachable: bool | None  # None: "N/A" or empty in the registry


def _entry(block: str, name: str, rfc: str, reachable: bool | None) -> Entry:
    return Entry(ipaddress.ip_network(block), name, rfc, reachable)  # strict: a typo in a block fails at import


REGISTRY_DATE = "2025-10-09"

IPV4_REGISTRY: tuple[Entry, ...] = (
    _entry("0.0.0.0/8", '"This network"', "RFC 791, Section 3.2", False),
    _entry("0.0.0.0/32", '"This host on this network"', "RFC 1122, Section 3.2.1.3", False),
    _entry("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    _entry("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    _entry("127.0.0.0/8", "Loopback", "RFC 1122, Section 3.2.1.3", False),
    _entry("169.254.0.0/16", "Link Local", "RFC 3927", False),
    _entry("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    _entry("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, Section 2.1", False),
    _entry("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    _entry("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    _entry("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    _entry("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _entry("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 Section 2.2", False),
    _entry("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 Section 2.2", False),
    _entry("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    _entry("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    _entry("192.52.193.0/24", "AMT", "RFC 7450", True),
    _entry("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", None),
    _entry("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", False),
    _entry("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    _entry("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    _entry("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    _entry("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    _entry("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    _entry("240.0.0.0/4", "Reserved", "RFC 1112, Section 4", False),
    _entry("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 Section 7", False),
)

IPV6_REGISTRY: tuple[Entry, ...] = (
    _entry("::1/128", "Loopback Address", "RFC 4291", False),
    _entry("::/128", "Unspecified Address", "RFC 4291", False),
    _entry("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    _entry("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    _entry("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", False),
    _entry("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    _entry("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    _entry("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    _entry("2001::/32", "TEREDO", "RFC 4380, RFC 8190", None),
    _entry("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    _entry("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _entry("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    _entry("2001:2::/48", "Benchmarking", "RFC 5180", False),
    _entry("2001:3::/32", "AMT", "RFC 7450", True),
    _entry("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    _entry("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", None),
    _entry("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    _entry("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    _entry("2001:db8::/32", "Documentation", "RFC 3849", False),
    _entry("2002::/16", "6to4", "RFC 3056", None),
    _entry("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    _entry("3fff::/20", "Documentation", "RFC 9637", False),
    _entry("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    _entry("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", False),
    _entry("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
)

# Refused although the special-purpose registries do not list them (or list them only in part).
EXTRA_REFUSED: tuple[Entry, ...] = (
    _entry("224.0.0.0/4", "Multicast", "RFC 5771", False),
    _entry("168.63.129.16/32", "Azure platform address (WireServer)", "Azure", False),
    _entry("ff00::/8", "Multicast", "RFC 4291", False),
    _entry("::/96", "IPv4-compatible (deprecated)", "RFC 4291, Section 2.5.5.1", False),
    _entry("::ffff:0:0:0/96", "IPv4-translated", "RFC 2765, Section 2.1", False),
    _entry("fec0::/10", "Site-local (deprecated)", "RFC 3879", False),
)

# IANA allocates IPv6 global unicast only from 2000::/3 (IPv6 Address Space registry); outside it, only a
# registry entry marked globally reachable (the NAT64 well-known prefix) may be reached.
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def most_specific(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Entry | None:
    """The registry entry with the longest prefix that contains `address`, if any."""
    table = IPV4_REGISTRY if address.version == 4 else IPV6_REGISTRY
    containing = [e for e in table if address in e.block]
    return max(containing, key=lambda e: e.block.prefixlen, default=None)


def extra_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Entry | None:
    return next((e for e in EXTRA_REFUSED if e.block.version == address.version and address in e.block), None)
