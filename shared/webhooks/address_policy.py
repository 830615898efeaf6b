"""Which IP addresses a webhook may reach: public unicast only.

`ipaddress.is_global` alone is not enough (it is True for Azure's WireServer 168.63.129.16, for NAT64
and 6to4 forms that embed private IPv4 addresses, and for multicast), so the policy also refuses those
blocks and unwraps every IPv6 form that carries an IPv4 address.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "168.63.129.16/32",  # Azure platform (WireServer): treat like IMDS
        "169.254.0.0/16",  # link-local, including IMDS 169.254.169.254
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "0.0.0.0/8",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo server), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be reached, or None when it may."""
    inner = embedded_ipv4(address)
    if inner is not None:
        why = refusal(inner, allow_loopback=False)
        return f"embeds {inner}: {why}" if why else None
    if address.is_loopback:
        return None if allow_loopback else "loopback address"
    for net in _BLOCKED:
        if address.version == net.version and address in net:
            return f"blocked range {net}"
    if not address.is_global:
        return "not a public address (private, shared or reserved)"
    return None
