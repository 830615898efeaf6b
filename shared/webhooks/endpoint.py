"""Checking a webhook URL and sending to it, connected to the very address that was checked.

The URL is checked at registration and again before every attempt: `https` only, an allowed port (443
unless configured), no userinfo, and every address the name resolves to must pass `address_policy`. The
request then goes to one of those checked addresses, with the original Host and TLS server name, so a
name whose DNS answer changes between check and connect (rebinding) cannot redirect it. Redirects are
not followed, proxies from the environment are not used, and the response body is read up to a cap.
The whole attempt (connect, TLS, request, status line, headers, body) has one deadline: a socket timeout
alone bounds each read, which a receiver trickling its answer a byte at a time never lets expire.

A resolver failure is left to the caller as the OSError it is: registration refuses the URL, while an
attempt counts it as failed and retries, since DNS for a registered host may be briefly broken.

A host name is converted as browsers and the WHATWG URL standard convert it: UTS #46 mapping, non-transitional,
so `ß` and the joiners stay in the name and its A-label is what DNS, TLS and the Host header get. Python's own
"idna" codec (IDNA 2003) would map `straße.de` to `strasse.de`, a name someone else may hold.

Local development may allow loopback receivers (`http` or `https`, any port) through an explicit
setting; it is off by default and refused in Azure by the settings loader.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import idna

from shared.errors import InvalidInput
from shared.webhooks.address_policy import IPAddress, is_loopback, refusal

TIMEOUT_S = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
Resolver = Callable[[str, int], list[IPAddress]]


REQUEST_TARGET = re.compile(r"[\x21-\x7e]*")  # what an HTTP/1.1 request line carries as it is
# urlsplit drops these wherever they are, so the URL called would not be the one registered
LINE_BREAKS = re.compile(r"[\t\n\r]")


class UnsafeWebhookUrl(InvalidInput):
    reason = "webhook_url_refused"


def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


@dataclass(frozen=True)
class EndpointPolicy:
    allowed_ports: frozenset[int] = frozenset({443})
    allow_loopback: bool = False


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IPAddress, ...]


def check(url: str, policy: EndpointPolicy, resolve: Resolver = system_resolver) -> Target:
    """Validate `url` and resolve it; raises UnsafeWebhookUrl with the reason, or the resolver's OSError."""
    parts, host, port = _shape(url)
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeWebhookUrl("webhook host has no addresses")
    all_loopback = all(is_loopback(a) for a in addresses)
    for address in addresses:
        why = refusal(address, allow_loopback=policy.allow_loopback)
        if why:
            raise UnsafeWebhookUrl(f"webhook host resolves to {address}: {why}")
    local = policy.allow_loopback and all_loopback
    if parts.scheme != "https" and not local:
        raise UnsafeWebhookUrl("webhook URLs must use https")
    if port not in policy.allowed_ports and not local:
        raise UnsafeWebhookUrl(f"port {port} is not allowed for webhooks")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def _shape(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, its IDNA host and its port, if its shape may be a webhook's (addresses aside)."""
    if LINE_BREAKS.search(url):
        raise UnsafeWebhookUrl("webhook URL holds a tab, CR or LF")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"not a URL: {exc}") from exc
    if parts.scheme not in ("https", "http"):
        raise UnsafeWebhookUrl("webhook URLs must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("webhook URLs may not carry credentials")
    if not parts.hostname:
        raise UnsafeWebhookUrl("webhook URL has no host")
    if not REQUEST_TARGET.fullmatch(parts.path + parts.query):
        # http.client would refuse a space only when sending, and fail on non-ASCII with a UnicodeError rather
        # than an I/O error: refused here instead, with the reason, at registration and before every attempt.
        raise UnsafeWebhookUrl("webhook URL path and query must be printable ASCII without spaces (percent-encode)")
    return parts, ascii_host(parts), port or (443 if parts.scheme == "https" else 80)


# A label as DNS carries it, lower-cased: `_` and hyphens anywhere included, as in names in use (and as browsers
# take them: the WHATWG URL standard checks no hyphens and no STD3 rules); 63 characters at most.
_ASCII_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_JOINERS = "\u200c\u200d"


def ascii_host(parts: SplitResult) -> str:
    """The host that DNS, TLS and the Host header get: an IP literal as written; a name as the WHATWG URL standard
    converts it (UTS #46 mapping, non-transitional; each label not ASCII as its A-label). UnsafeWebhookUrl for a
    name no browser would convert."""
    hostname = parts.hostname or ""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return hostname
    if not hostname.isascii():
        # The host as written, not `hostname`: str.lower is not UTS #46's mapping (a capital sigma before a hyphen
        # lowers to the final sigma, which UTS #46 maps to the plain one), so it could give another A-label.
        hostname = _a_labels(parts.netloc.rpartition("@")[2].partition(":")[0])
    labels = hostname.removesuffix(".").split(".")
    if len(hostname) > 253 or not all(_ASCII_LABEL.fullmatch(label) for label in labels):
        raise UnsafeWebhookUrl(f"webhook host name is not a valid DNS name: {hostname!r}")
    for label in labels:
        if label.startswith("xn--"):  # an A-label must decode to a label a browser would convert to it
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError as exc:
                raise UnsafeWebhookUrl(f"webhook host name has a label that is no A-label: {label!r}") from exc
            if not decoded or decoded.isascii() or _a_labels(decoded) != label:
                raise UnsafeWebhookUrl(f"webhook host name has a label that is no A-label: {label!r}")
    return hostname


def _a_labels(written: str) -> str:
    """`written` mapped by UTS #46 (non-transitional: `ß` and the joiners stay, so `straße.de` is never
    `strasse.de`, a name someone else may hold), each label that is not ASCII as `xn--` and its Punycode."""
    try:
        mapped = idna.uts46_remap(written, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:  # a code point UTS #46 disallows
        raise UnsafeWebhookUrl(f"webhook host name cannot be converted (UTS #46): {exc}") from exc
    labels = mapped.split(".")
    for n, label in enumerate(labels):
        if not label.isascii():
            if any(c in _JOINERS and not idna.valid_contextj(label, i) for i, c in enumerate(label)):
                raise UnsafeWebhookUrl(f"webhook host name has a joiner its context rule forbids: {label!r}")
            try:  # UTS #46's validity criteria a browser applies: no leading combining mark, the bidi rule
                idna.check_initial_combiner(label)
                idna.check_bidi(label)
            except idna.IDNAError as exc:
                raise UnsafeWebhookUrl(f"webhook host name has a label browsers refuse: {exc}") from exc
            labels[n] = "xn--" + label.encode("punycode").decode("ascii")
    return ".".join(labels)


TIMED_OUT = "timed out"


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP answer (connection failure or timeout)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    @property
    def failure(self) -> str:
        """An attempt that did not deliver as a reason code of a short fixed set (docs/telemetry.md), for queries
        to group by; `error` keeps the text."""
        if self.status is None:
            return "timeout" if self.error == TIMED_OUT else "connection_error"
        return f"http_{self.status // 100}xx" if 3 <= self.status // 100 <= 5 else "http_other"


def _left(deadline: float) -> float:
    """Seconds until `deadline` (time.monotonic()); TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the attempt's deadline passed")
    return left


class _DeadlineSocket(socket.socket):
    """Each send and receive waits at most until the attempt's deadline, not a fresh timeout each."""

    deadline = 0.0

    def sendall(self, *args: Any, **kwargs: Any) -> None:  # one call: its timeout bounds it in all
        self.settimeout(_left(self.deadline))
        super().sendall(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_left(self.deadline))
        return super().recv_into(*args, **kwargs)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """As `_DeadlineSocket`, over TLS (whose `sendall` calls `send` once per record)."""

    deadline = 0.0

    def send(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_left(self.deadline))
        return super().send(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_left(self.deadline))
        return super().recv_into(*args, **kwargs)


def _connect(address: IPAddress, port: int, deadline: float) -> _DeadlineSocket:
    sock = _DeadlineSocket(socket.AF_INET if address.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
    sock.deadline = deadline
    try:
        sock.settimeout(_left(deadline))
        sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: IPAddress, deadline: float) -> None:
        self._tls = ssl.create_default_context()
        self._tls.sslsocket_class = _DeadlineSSLSocket
        super().__init__(target.host, target.port, context=self._tls)
        self._address, self._deadline = address, deadline

    def connect(self) -> None:
        raw = _connect(self._address, self.port, self._deadline)
        sock = self._tls.wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
        assert isinstance(sock, _DeadlineSSLSocket)
        sock.deadline = self._deadline
        self.sock = sock
        sock.settimeout(_left(self._deadline))  # the handshake is one call: its timeout bounds it in all
        sock.do_handshake()


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, address: IPAddress, deadline: float) -> None:
        super().__init__(target.host, target.port)
        self._address, self._deadline = address, deadline

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self._deadline)


def post(target: Target, body: bytes, headers: Mapping[str, str], *, timeout: float = TIMEOUT_S) -> Response:
    """POST `body` to the first checked address that accepts a connection, all of it within `timeout` seconds.
    Never raises for I/O."""
    deadline = time.monotonic() + timeout
    last_error = "no address"
    for address in target.addresses:
        kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
        conn = kind(target, address, deadline)
        try:
            conn.request("POST", target.path, body=body, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            data = response.read(MAX_RESPONSE_BYTES)
            return Response(status=response.status, headers=dict(response.getheaders()), body=data)
        except TimeoutError:
            return Response(status=None, error=TIMED_OUT)  # the receiver may have it: do not try another address
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
    return Response(status=None, error=last_error)
