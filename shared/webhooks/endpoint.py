"""Checking a webhook URL and sending to it, connected to the very address that was checked.

The URL is checked at registration and again before every attempt: `https` only, an allowed port (443
unless configured), no userinfo, and every address the name resolves to must pass `address_policy`. The
request then goes to one of those checked addresses, with the original Host and TLS server name, so a
name whose DNS answer changes between check and connect (rebinding) cannot redirect it. Redirects are
not followed, proxies from the environment are not used, and the response body is read up to a cap.

Local development may allow loopback receivers (`http` or `https`, any port) through an explicit
setting; it is off by default and refused in Azure by the settings loader.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from shared.errors import InvalidInput
from shared.webhooks.address_policy import IPAddress, is_loopback, refusal

TIMEOUT_S = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
Resolver = Callable[[str, int], list[IPAddress]]


REQUEST_TARGET = re.compile(r"[\x21-\x7e]*")  # what an HTTP/1.1 request line carries as it is


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
    """Validate `url` and resolve it; raises UnsafeWebhookUrl with the reason."""
    parts, host, port = _shape(url)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise UnsafeWebhookUrl(f"webhook host does not resolve: {exc}") from exc
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
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeWebhookUrl("webhook host name is not a valid IDNA name") from exc
    return parts, host, port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP answer (connection failure or timeout)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, address: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)


def post(target: Target, body: bytes, headers: Mapping[str, str], *, timeout: float = TIMEOUT_S) -> Response:
    """POST `body` to the first checked address that accepts a connection. Never raises for I/O."""
    last_error = "no address"
    for address in target.addresses:
        kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
        conn = kind(target, address, timeout)
        try:
            conn.request("POST", target.path, body=body, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            data = response.read(MAX_RESPONSE_BYTES)
            return Response(status=response.status, headers=dict(response.getheaders()), body=data)
        except TimeoutError:
            return Response(status=None, error="timed out")  # the receiver may have it: do not try another address
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
    return Response(status=None, error=last_error)
