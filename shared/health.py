"""The health report: `GET /api/health` for load balancers, `GET /api/health/details` for operators.

Each check is a callable that raises when its dependency is unusable; a check that raises makes the report
`degraded` (HTTP 503) and names the dependency and the reason code, never a secret or a connection string.
When the checks cannot even be built because the app's settings are refused, the report is `misconfigured`
(HTTP 503) with the settings' reason code.

Anonymous callers get `summary()`: the status, and the reason code when misconfigured; nothing that maps the
deployment (no version, pool or node counts, timings). `details()` is for callers with a function key.
The anonymous route answers from a `Recent` report (at most a few seconds old), so calling it often, as a load
balancer does or as anyone can, costs the dependencies one round of checks per interval, not one per call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from shared.config import ConfigError
from shared.errors import SitelensError

Check = Callable[[], object]


@dataclass(frozen=True)
class HealthReport:
    status: str  # ok | degraded | misconfigured
    version: str
    checks: dict[str, dict[str, object]] = field(default_factory=dict)
    reason: str | None = None  # misconfigured: the settings' reason code
    detail: str | None = None  # misconfigured: which settings, for keyed callers

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503

    def summary(self) -> dict[str, object]:
        return {"status": self.status, **({"reason": self.reason} if self.reason else {})}

    def details(self) -> dict[str, object]:
        doc: dict[str, object] = {"status": self.status, "version": self.version, "checks": self.checks}
        if self.reason:
            doc |= {"reason": self.reason, "detail": self.detail}
        return doc


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


def assess(build_checks: Callable[[], Mapping[str, Check]]) -> HealthReport:
    """The report, or `misconfigured` when building the checks finds the settings refused."""
    try:
        checks = build_checks()
    except ConfigError as exc:
        return HealthReport(status="misconfigured", version=_version(), reason=exc.reason, detail=str(exc))
    return report(checks)


class Recent:
    """`assess()`'s report, reused while younger than `max_age_s`; one caller refreshes it, the others wait. A report
    is dated when its round ends: dated at its start, a round longer than `max_age_s` (storage retrying for a minute)
    was stale on arrival, and each caller queued behind it ran a round of its own."""

    def __init__(
        self, assess: Callable[[], HealthReport], max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._assess, self._max_age_s, self._clock = assess, max_age_s, clock
        self._lock = threading.Lock()
        self._last: tuple[float, HealthReport] | None = None

    def __call__(self) -> HealthReport:
        with self._lock:
            if self._last is None or self._clock() - self._last[0] >= self._max_age_s:
                report = self._assess()
                self._last = (self._clock(), report)
            return self._last[1]
