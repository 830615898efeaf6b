"""The repository's `local.settings.json`: created from the example on first use, with fresh keys."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

EXAMPLE = "local.settings.json.example"
FILE = "local.settings.json"


def ensure(repo: Path) -> dict[str, Any]:
    """Return the settings, creating the file (ignored by git) or filling empty keys as needed."""
    path = repo / FILE
    example: dict[str, Any] = json.loads((repo / EXAMPLE).read_text())
    settings: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else example
    changed = not path.is_file()
    # Settings that a newer example introduced join an older file; values already there are kept.
    values = settings.setdefault("Values", {})
    for name, value in example.get("Values", {}).items():
        if name not in values:
            values[name] = value
            changed = True
    keys = settings.setdefault("Keys", {})
    if not keys.get("master"):
        keys["master"] = secrets.token_urlsafe(32)
        changed = True
    host_keys = keys.setdefault("host", {})
    if not host_keys.get("default"):
        host_keys["default"] = secrets.token_urlsafe(32)
        changed = True
    if changed:
        path.write_text(json.dumps(settings, indent=2) + "\n")
        path.chmod(0o600)
    return settings
