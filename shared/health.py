"""The health report served at `GET /api/health`: the build, and whether each dependency answers.

Each check is a callable that raises when its dependency is unusable; a check that raises makes the report
`degraded` (HTTP 503) and names the dependency and the reason code, never a secret or a connection string.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata

from shared.errors import SitelensError

Check = Callable[[], object]


@dataclass(frozen=True)
class HealthReport:
    status: str
    version: str
    checks: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _version() -> str:
    try:
        return metadata.version("sitelens")
    except metadata.PackageNotFoundError:  # deployed as a zip, not installed as a package
        return "unknown"


def report(checks: Mapping[str, Check] | None = None) -> HealthReport:
    results: dict[str, dict[str, object]] = {}
    for name, check in (checks or {}).items():
        started = time.perf_counter()
        try:
            detail = check()
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
            if detail is not None:
                results[name]["detail"] = detail
        except SitelensError as exc:
            results[name] = {"ok": False, "reason": exc.reason}
        except Exception as exc:  # noqa: BLE001 (health must report, not raise; the type says enough)
            results[name] = {"ok": False, "reason": type(exc).__name__}
    status = "ok" if all(r["ok"] for r in results.values()) else "degraded"
    return HealthReport(status=status, version=_version(), checks=results)
