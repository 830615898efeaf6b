"""Standard Webhooks v1 signatures (HMAC-SHA256), for sending and for receivers to verify.

Signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the header `webhook-signature` is a
space-separated list of `v1,<base64>` entries, so a rotating endpoint can carry two signatures. Receivers
can use `verify()` directly: it needs only the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
SECRET_BYTES = 32  # the spec asks for at least 24
TOLERANCE_S = 5 * 60


class WebhookVerificationError(ValueError):
    """The signature headers are missing, stale, malformed, or match no secret."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` entry."""
    if "." in msg_id:
        raise ValueError("a webhook id may not contain '.'")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers for one attempt, signed with every active secret (rotation → two entries)."""
    if not secrets_:
        raise ValueError("at least one secret is needed")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
    """Raise WebhookVerificationError unless `headers` carry a valid, fresh v1 signature of `body`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        stamp = lowered["webhook-timestamp"]
        given = lowered["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from exc
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_S:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, msg_id, timestamp, body).encode()
    for entry in given.split(" "):
        version, _, _ = entry.partition(",")
        if version == "v1" and hmac.compare_digest(entry.encode(), expected):
            return
    raise WebhookVerificationError("no matching v1 signature")
