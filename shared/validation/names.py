"""The blob name shape the upload API issues: `{site}/{device}/{yyyy}/{mm}/{dd}/{photo_id}.{ext}`.

Ids are ASCII letters, digits, `_` and `-`, starting with a letter or digit, at most 64 characters (the
same rule as shared/uploads/naming.py), so a valid name holds no dot-segment, separator or control
character. Anything else is rejected before a byte is read (see shared/uploads/naming.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_NAME = re.compile(
    rf"(?P<site>{_ID})/(?P<device>{_ID})/(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/"
    rf"(?P<photo>{_ID})\.(?P<ext>jpg|jpeg|png)"
)


@dataclass(frozen=True)
class PhotoName:
    site: str
    device: str
    day: date
    photo_id: str
    ext: str


def parse_name(blob_name: str) -> PhotoName | None:
    """The parts of a name inside the `photos` container, or None when it is not a name we issue."""
    match = _NAME.fullmatch(blob_name)
    if match is None:
        return None
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    return PhotoName(match["site"], match["device"], day, match["photo"], match["ext"])
