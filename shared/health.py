"""The health report served at `GET /api/health`: liveness and the build the app runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import metadata


@dataclass(frozen=True)
class HealthReport:
    status: str
    version: str

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def report() -> HealthReport:
    """Liveness only for now; dependency checks join as the pipeline's adapters arrive."""
    try:
        version = metadata.version("sitelens")
    except metadata.PackageNotFoundError:  # deployed as a zip, not installed as a package
        version = "unknown"
    return HealthReport(status="ok", version=version)
