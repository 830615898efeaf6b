"""A listing's pages, as every listing of the API reads them: `limit` (how many per page) and `continuation`.

A store answers a page with its own position of the next one (a key, or a query's continuation); the API hands
it out as `continuation`, base64url without padding, so clients treat it as opaque. A value this API could not
have written is refused (`bad_query`), never read as "from the start", which would answer the first page again.
"""

from __future__ import annotations

import base64
import binascii

from shared.errors import InvalidInput

MAX_LIMIT = 100
# openapi.json's maxLength: a position is one RowKey of about 60 characters, or a query's continuation (a
# subscription id and two encoded keys) of about 300.
MAX_TOKEN_CHARS = 512


def limit(text: str | None, default: int) -> int:
    """`limit` as the query gave it (None when absent): a whole number from 1 to MAX_LIMIT, else bad_query."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_LIMIT):
        raise InvalidInput(f"'limit' must be a whole number from 1 to {MAX_LIMIT}", reason="bad_query")
    return int(text)


def token(position: str | None) -> str | None:
    """The `continuation` of a store's position (None on the last page)."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=") if position else None


def position(continuation: str | None) -> str | None:
    """The store's position inside a `continuation` (None when absent); bad_query for one this API did not give."""
    if continuation is None:
        return None
    if not continuation or len(continuation) > MAX_TOKEN_CHARS:
        raise not_given()
    try:
        # validate=True: characters outside the URL-safe alphabet are an error, not skipped.
        raw = base64.b64decode(continuation + "=" * (-len(continuation) % 4), altchars=b"-_", validate=True)
        found = raw.decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise not_given() from exc
    if not found or token(found) != continuation:  # one spelling per position: no padding, no alternate encodings
        raise not_given()
    return found


def not_given() -> InvalidInput:
    """The error for a continuation this API did not give; stores raise it too, for a position not theirs."""
    return InvalidInput("'continuation' is not a token this API gave", reason="bad_query")
