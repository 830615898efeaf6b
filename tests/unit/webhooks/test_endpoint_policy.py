"""SSRF: every blocked address class, in several spellings, refused by the URL check."""

from __future__ import annotations

import ipaddress

import pytest

from shared.webhooks.address_policy import refusal
from shared.webhooks.endpoint import EndpointPolicy, UnsafeWebhookUrl, check, system_resolver

STRICT = EndpointPolicy()


def fixed(*addresses: str):
    return lambda _host, _port: [ipaddress.ip_address(a) for a in addresses]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "::1",  # loopback
        "10.0.0.1", "172.16.5.4", "192.168.1.1", "fd00::1",  # private / unique local
        "100.64.0.1",  # shared (CGNAT)
        "169.254.169.254", "fe80::1",  # link-local, IMDS
        "168.63.129.16",  # Azure WireServer
        "0.0.0.0", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",  # unspecified, multicast, reserved
        "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",  # NAT64 around IMDS and 10.0.0.1
        "2002:a9fe:a9fe::1", "2002:7f00:1::1",  # 6to4 around IMDS and loopback
        "192.0.2.1", "198.51.100.7", "2001:db8::1",  # documentation (not global)
        "192.0.0.8", "::a9fe:a9fe", "::127.0.0.1", "::ffff:0:7f00:1",  # dummy, IPv4-compatible, IPv4-translated
        "2001:0:4136:e378:8000:63bf:f5ff:fffe", "2a00:1450::200:5efe:a9fe:a9fe",  # Teredo, ISATAP
    ],
)  # fmt: skip
def test_blocked_addresses(address):
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "20.50.2.1", "2606:4700::6810:84e5"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # not https
        "https://user:pw@hooks.example/x",  # userinfo
        "https://hooks.example:8443/x",  # port not allowed
        "ftp://hooks.example/x",
        "https:///nohost",
        "https://hooks.example/in box",  # http.client sends no request line with a space (InvalidURL) ...
        "https://hooks.example/in?token=a b",
        "https://hooks.example/\u00e4",  # ... nor one with non-ASCII (a UnicodeEncodeError, not an I/O error)
        "https://hooks.example/x?q=\u00e4",
        "https://hooks.example/x\x7f",
        "https://hooks.ex\tample/x",  # urlsplit drops tab, CR and LF: the URL called would not be the one given
        "https://hooks.example/ho\nok",
        "https://hooks.example/x\r\nX-Injected:1",
    ],
)
def test_url_shape_rules(url):
    with pytest.raises(UnsafeWebhookUrl):
        check(url, STRICT, fixed("93.184.216.34"))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x", "https://2130706433/x", "https://0x7f000001/x", "https://0177.0.0.1/x",
        "https://127.1/x", "https://[::1]/x", "https://[::ffff:127.0.0.1]/x", "https://localhost/x",
        "https://169.254.169.254/metadata", "https://[::ffff:a9fe:a9fe]/x", "https://0/x",
        "https://192.0.0.8/x", "https://[::a9fe:a9fe]/x", "https://[::127.0.0.1]/x", "https://[::ffff:0:7f00:1]/x",
    ],
)  # fmt: skip
def test_literal_spellings_of_forbidden_hosts_are_refused_with_the_real_resolver(url):
    with pytest.raises(UnsafeWebhookUrl, match=r"resolves to|does not resolve"):
        check(url, STRICT, system_resolver)


def test_any_forbidden_answer_among_several_refuses():
    with pytest.raises(UnsafeWebhookUrl, match=r"10\.0\.0\.1"):
        check("https://hooks.example/x", STRICT, fixed("93.184.216.34", "10.0.0.1"))


def test_a_percent_encoded_path_is_accepted_as_written():
    target = check("https://hooks.example/%C3%A4/in?q=a%20b&r=~", STRICT, fixed("93.184.216.34"))
    assert target.path == "/%C3%A4/in?q=a%20b&r=~"


def test_public_https_url_is_accepted_with_its_addresses():
    target = check("https://Hooks.Example/path?q=1", STRICT, fixed("93.184.216.34"))
    assert (target.host, target.port, target.path) == ("hooks.example", 443, "/path?q=1")
    assert [str(a) for a in target.addresses] == ["93.184.216.34"]


def test_loopback_needs_the_explicit_local_setting():
    local = EndpointPolicy(allow_loopback=True)
    with pytest.raises(UnsafeWebhookUrl):
        check("http://127.0.0.1:8123/hook", STRICT, system_resolver)
    target = check("http://127.0.0.1:8123/hook", local, system_resolver)
    assert target.port == 8123
    # the local setting opens loopback only, not private ranges or plain http elsewhere
    with pytest.raises(UnsafeWebhookUrl):
        check("http://10.0.0.1:8123/hook", local, fixed("10.0.0.1"))
    with pytest.raises(UnsafeWebhookUrl):
        check("http://hooks.example/hook", local, fixed("93.184.216.34"))
    # nor loopback carried inside another form, nor a name that also resolves elsewhere
    for wrapped in ("::ffff:127.0.0.1", "::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1"):
        with pytest.raises(UnsafeWebhookUrl, match=r"embeds 127\.0\.0\.1"):
            check("http://hooks.example:8123/hook", local, fixed(wrapped))
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):
        check("http://hooks.example:8123/hook", local, fixed("127.0.0.1", "93.184.216.34"))
