"""Shared Key verification, computing the string-to-sign exactly as `azure-batch` 15.x signs it.

`Authorization: SharedKey {account}:{base64 HMAC-SHA256(key, string-to-sign)}`, where the string to sign is
the verb, eleven standard headers (empty when absent; `Content-Length` is `0` on a body-less write), the
`ocp-*` headers sorted, `/{account}{path}`, then each query parameter sorted by name as `\\nname:value`
(values decoded, empty ones left out). As on the service, a request dated more than 15 minutes away
from the server's clock is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from emulators.batch_service.wire import BatchError

SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip
MAX_CLOCK_SKEW = timedelta(minutes=15)


def string_to_sign(method: str, headers: Mapping[str, str], account: str, raw_path: str, raw_query: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items() if v}
    if method not in ("GET", "HEAD"):
        lowered.setdefault("content-length", "0")
    text = method + "\n" + "\n".join(lowered.get(h, "") for h in SIGNED_HEADERS) + "\n"
    for name, value in sorted((k, v) for k, v in lowered.items() if "ocp-" in k):
        text += f"{name}:{value}\n"
    text += f"/{account}{raw_path}"
    query = parse_qs(raw_query)
    for name in sorted(query):
        if query[name][0]:
            text += f"\n{name}:{query[name][0]}"
    return text


def sign(key: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _refuse(reason: str) -> BatchError:
    return BatchError("AuthenticationFailed", values={"AuthenticationErrorDetail": reason})


def check(
    method: str,
    headers: Mapping[str, str],
    *,
    account: str,
    key: str,
    raw_path: str,
    raw_query: str,
    now: datetime,
) -> None:
    """Raise 403 AuthenticationFailed unless the request is signed with this account's key, and recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization.startswith(f"SharedKey {account}:"):
        raise _refuse("The Authorization header is missing or names another account or scheme.")
    date_text = lowered.get("ocp-date") or lowered.get("date")
    try:
        sent = parsedate_to_datetime(date_text) if date_text else None
    except (TypeError, ValueError):
        sent = None
    if sent is None or sent.tzinfo is None:
        raise _refuse("The request has no valid ocp-date or Date header.")
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise _refuse(f"The request time {date_text} is more than 15 minutes away from the server time.")
    given = authorization.split(":", 1)[1]
    try:
        expected = sign(key, string_to_sign(method, headers, account, raw_path, raw_query))
    except (binascii.Error, ValueError) as exc:
        raise _refuse("The account key is not valid base64.") from exc
    if not hmac.compare_digest(given, expected):
        raise _refuse("The MAC signature found in the HTTP request is not the same as any computed signature.")
