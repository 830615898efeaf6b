"""The address policy against the whole IANA special-purpose registries and every IPv4-carrying IPv6 form."""

from __future__ import annotations

import ipaddress

import pytest

from shared.webhooks.address_policy import refusal
from shared.webhooks.special_addresses import EXTRA_REFUSED, IPV4_REGISTRY, IPV6_REGISTRY, Entry

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
PUBLIC_V4 = V4("93.184.216.34")
PUBLIC_PREFIX = int(V6("2606:4700::"))  # a public /64 for ISATAP interface identifiers
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
REGISTRY = IPV4_REGISTRY + IPV6_REGISTRY


def name(entry: Entry) -> str:
    return str(entry.block)


def samples(entry: Entry) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """First, middle and last address of the block."""
    block = entry.block
    return sorted({block[0], block[block.num_addresses // 2], block[-1]})


def more_specific_refusing(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: Entry) -> bool:
    return any(
        other.globally_reachable is not True and other.block.prefixlen > entry.block.prefixlen
        for other in REGISTRY
        if other.block.version == entry.block.version and address in other.block
    )


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e.globally_reachable is not True], ids=name)
def test_every_entry_not_marked_globally_reachable_is_refused(entry: Entry):
    for address in samples(entry):
        assert refusal(address) is not None, address


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e.globally_reachable is True], ids=name)
def test_a_globally_reachable_entry_is_allowed_unless_a_more_specific_entry_refuses(entry: Entry):
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
    if entry.block == NAT64:  # its addresses are judged by the IPv4 address they carry
        candidates = [V6(int(NAT64[0]) | int(PUBLIC_V4)), V6(int(NAT64[0]) | int(V4("20.50.2.1")))]
    else:
        candidates = samples(entry)
    for address in candidates:
        expected_refused = more_specific_refusing(address, entry)
        assert (refusal(address) is not None) == expected_refused, address


def test_a_globally_reachable_entry_inside_a_refused_one_wins():
    assert refusal(V4("192.0.0.9")) is None and refusal(V4("192.0.0.10")) is None
    assert refusal(V4("192.0.0.11")) is not None  # the rest of 192.0.0.0/24
    assert refusal(V6("2001:1::3")) is None and refusal(V6("2001:1::4")) is not None  # inside 2001::/23


@pytest.mark.parametrize("address", ["192.0.0.8", "::a9fe:a9fe", "::127.0.0.1", "::ffff:0:7f00:1"])
def test_the_security_reviews_addresses_are_refused(address: str):
    assert refusal(ipaddress.ip_address(address)) is not None
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


def forms(inner: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    v = int(inner)
    return {
        "IPv4-mapped": V6((0xFFFF << 32) | v),
        "IPv4-compatible": V6(v),
        "IPv4-translated": V6((0xFFFF << 48) | v),
        "NAT64": V6(int(V6("64:ff9b::")) | v),
        "local-use NAT64": V6(int(V6("64:ff9b:1::")) | v),
        "6to4": V6(int(V6("2002::")) | (v << 80) | 1),
        "Teredo client": V6(int(V6("2001:0:4136:e378:8000:63bf::")) | (~v & 0xFFFFFFFF)),
        "ISATAP": V6(PUBLIC_PREFIX | (0x00005EFE << 32) | v),
        "ISATAP (universal bit)": V6(PUBLIC_PREFIX | (0x02005EFE << 32) | v),
    }


REFUSED_V4 = [e for e in IPV4_REGISTRY + EXTRA_REFUSED if e.block.version == 4 and e.globally_reachable is not True]


@pytest.mark.parametrize("entry", REFUSED_V4, ids=name)
def test_every_embedding_form_around_every_refused_ipv4_block_is_refused_and_names_it(entry: Entry):
    for inner in samples(entry):
        assert isinstance(inner, V4)
        for form, address in forms(inner).items():
            why = refusal(address, allow_loopback=True)
            assert why is not None, (form, address)
            if int(address) > 1:  # :: and ::1 are registry entries of their own
                assert str(inner) in why, (form, address, why)


def test_around_a_public_ipv4_only_nat64_and_isatap_under_a_public_prefix_pass():
    verdicts = {form: refusal(address) is None for form, address in forms(PUBLIC_V4).items()}
    assert verdicts == {
        "IPv4-mapped": False,  # registry: not globally reachable
        "IPv4-compatible": False,  # deprecated
        "IPv4-translated": False,
        "NAT64": True,  # 64:ff9b::/96 is globally reachable; the carried address decides
        "local-use NAT64": False,
        "6to4": False,  # registry: N/A, refused
        "Teredo client": False,  # registry: N/A, refused
        "ISATAP": True,
        "ISATAP (universal bit)": True,
    }


def test_loopback_passes_only_with_the_allowance_and_never_inside_another_form():
    for address in (V4("127.0.0.1"), V4("127.255.255.254"), V6("::1")):
        assert refusal(address) is not None and refusal(address, allow_loopback=True) is None
    for address in forms(V4("127.0.0.1")).values():
        assert refusal(address, allow_loopback=True) is not None, address


@pytest.mark.parametrize("address", ["ff02::1", "ff0e::1", "224.0.0.1", "239.255.255.250", "fec0::1", "168.63.129.16"])
def test_blocks_outside_the_registries_are_refused(address: str):
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["::1:0:0:0:1", "1000::1", "4000::1", "8000::1", "e000::1", "fe00::1"])
def test_ipv6_outside_global_unicast_is_refused(address: str):
    assert "2000::/3" in (refusal(ipaddress.ip_address(address)) or "")


def test_the_added_blocks_never_overlap_a_globally_reachable_entry():
    """The policy checks the registry before the added blocks; this keeps that order from mattering."""
    for extra in EXTRA_REFUSED:
        for entry in REGISTRY:
            if entry.globally_reachable and entry.block.version == extra.block.version:
                assert not entry.block.overlaps(extra.block), (extra.block, entry.block)


def test_the_table_holds_each_block_once_in_its_own_family():
    blocks = [e.block for e in REGISTRY + EXTRA_REFUSED]
    assert len(blocks) == len(set(blocks))
    assert all(e.block.version == 4 for e in IPV4_REGISTRY) and all(e.block.version == 6 for e in IPV6_REGISTRY)


def test_the_decision_does_not_use_pythons_own_address_classification(monkeypatch: pytest.MonkeyPatch):
    def unavailable(self: object) -> bool:
        raise AssertionError("the policy must not use ipaddress's classification")

    for cls in (V4, V6):
        for attr in ("is_global", "is_private", "is_loopback", "is_reserved", "is_link_local", "is_multicast",
                     "is_unspecified", "is_site_local", "ipv4_mapped", "sixtofour", "teredo"):  # fmt: skip
            if hasattr(cls, attr):
                monkeypatch.setattr(cls, attr, property(unavailable))
    for entry in REGISTRY + EXTRA_REFUSED:
        for address in samples(entry):
            refusal(address)
            refusal(address, allow_loopback=True)
            if isinstance(address, V4):
                for wrapped in forms(address).values():
                    refusal(wrapped, allow_loopback=True)
