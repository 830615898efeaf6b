"""Shared Key verification, computing the string-to-sign exactly as `azure-batch` 15.x signs it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

SIGNED_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)  # fmt: skip


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


def verify(
    authorization: str | None,
    method: str,
    headers: Mapping[str, str],
    *,
    account: str,
    key: str,
    raw_path: str,
    raw_query: str,
) -> bool:
    if not authorization or not authorization.startswith(f"SharedKey {account}:"):
        return False
    given = authorization.split(":", 1)[1]
    expected = sign(key, string_to_sign(method, headers, account, raw_path, raw_query))
    return hmac.compare_digest(given, expected)
