"""Blob names for device uploads: server-chosen, from validated ids only (devices never choose paths).

`photos/{site}/{device}/{yyyy}/{mm}/{dd}/{photo_id}.{ext}` with every id matching `ID` (ASCII letters,
digits, `_` and `-`, starting with a letter or digit, at most 64 characters), so a name can never hold a
dot-segment, a separator, a control character or anything else a blob name must not (Azure refuses control
characters and names ending in `.` or `/`; Azurite stores `..\\x` as `../x`, so the rule is enforced here).
"""

from __future__ import annotations

import re
from datetime import date

from shared.errors import InvalidInput

PHOTOS = "photos"
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# The extensions devices may upload, and the media type each one must be sent with.
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
EXT_ALIASES = {"jpg": "jpg", "jpeg": "jpg", "png": "png"}
DEFAULT_EXT = "jpg"


def check_id(value: object, field: str) -> str:
    """The id itself, or InvalidInput with reason `invalid_{field}` (e.g. `invalid_site_id`)."""
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise InvalidInput(
            f"'{field}' must be 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit",
            reason=f"invalid_{field}",
        )
    return value


def media(ext: object, content_type: object) -> tuple[str, str]:
    """(ext, content type) from either or both; defaults to JPEG; they must agree when both are given."""
    if ext is not None and (not isinstance(ext, str) or ext not in EXT_ALIASES):  # as openapi.json spells them
        raise InvalidInput(f"'ext' must be one of {', '.join(sorted(EXT_ALIASES))}", reason="unsupported_type")
    if content_type is not None and (not isinstance(content_type, str) or content_type not in CONTENT_TYPES.values()):
        raise InvalidInput(
            f"'content_type' must be one of {', '.join(sorted(CONTENT_TYPES.values()))}", reason="unsupported_type"
        )
    from_type = {v: k for k, v in CONTENT_TYPES.items()}.get(content_type) if content_type else None
    from_ext = EXT_ALIASES[ext] if isinstance(ext, str) else None
    if from_type and from_ext and from_type != from_ext:
        raise InvalidInput(f"'ext' {ext!r} does not match 'content_type' {content_type!r}", reason="type_mismatch")
    chosen = from_ext or from_type or DEFAULT_EXT
    return chosen, CONTENT_TYPES[chosen]


def format_name(site: str, device: str, day: date, photo_id: str, ext: str) -> str:
    """The name inside the `photos` container (what the blob trigger and the job id see)."""
    for value, field in ((site, "site_id"), (device, "device_id"), (photo_id, "photo_id")):
        check_id(value, field)
    if ext not in CONTENT_TYPES:
        raise InvalidInput(f"unsupported extension {ext!r}", reason="unsupported_type")
    return f"{site}/{device}/{day:%Y}/{day:%m}/{day:%d}/{photo_id}.{ext}"


def qualified(name: str) -> str:
    """`photos/…`: the name as the API reports it, with its container."""
    return f"{PHOTOS}/{name}"
