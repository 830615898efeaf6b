"""The pipeline's typed settings (Batch, tasks, limits), read once from the environment.

Each default is stated once, here (validation's `Limits` take the photo caps from here);
docs/configuration.md documents every setting and a test keeps its table and infra/main.bicep's values
equal to these defaults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

DEFAULT_TASK_COMMAND = (
    '/bin/sh -c "$AZ_BATCH_NODE_SHARED_DIR/sitelens/current/bin/python -m batch_tasks.task {job_id} {input}"'
)
QUALITY_FLAGS = frozenset({"blurry", "under_exposed", "over_exposed", "low_resolution"})
# The longest wait any duration setting may name: far past any useful one, and far inside what `timedelta`
# and the clock arithmetic on it hold (a larger value would raise there, long after the start was accepted).
MAX_DURATION_S = 30 * 86_400
# (above, at most): the bounds `number` takes.
DURATION = (0.0, float(MAX_DURATION_S))
POSITIVE = (0.0, math.inf)
RETRIES = (-1.0, 10.0)  # from 0: Batch reads -1 as "retry forever"
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class PipelineSettings:
    batch_url: str | None = None
    batch_account: str | None = None
    batch_key: str | None = None
    pool_id: str = "sitelens-gpu"
    task_command: str = DEFAULT_TASK_COMMAND
    task_env: Mapping[str, str] = field(default_factory=dict)
    node_identity_id: str | None = None
    task_max_wall_clock_s: int = 600
    task_max_retries: int = 2
    default_model: str = "ocr/ppocrv4"
    stuck_after_s: float = 900.0
    give_up_after_s: float = 86_400.0
    max_photo_bytes: int = 40 * 1024 * 1024  # above any phone JPEG; validation's Limits take these defaults
    max_photo_pixels: int = 50_000_000  # 50 MP: above any phone camera in the field, far below a bomb
    quality_reject: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def rejecting_flags(self, site: str) -> frozenset[str]:
        return self.quality_reject.get(site, self.quality_reject.get("*", frozenset()))

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> PipelineSettings:
        d = cls()
        batch_url = web_url(env, "SITELENS_BATCH_URL", problems)
        wall_clock = number(env, "SITELENS_TASK_MAX_WALL_CLOCK_S", d.task_max_wall_clock_s, problems, DURATION)
        retries = number(env, "SITELENS_TASK_MAX_RETRIES", d.task_max_retries, problems, RETRIES)
        stuck = number(env, "SITELENS_STUCK_AFTER_S", d.stuck_after_s, problems, DURATION)
        give_up = number(env, "SITELENS_GIVE_UP_AFTER_S", d.give_up_after_s, problems, DURATION)
        max_bytes = number(env, "SITELENS_MAX_PHOTO_BYTES", d.max_photo_bytes, problems, POSITIVE)
        max_pixels = number(env, "SITELENS_MAX_PHOTO_PIXELS", d.max_photo_pixels, problems, POSITIVE)
        task_env = _json_object(env, "SITELENS_TASK_ENV", problems)
        quality = _json_object(env, "SITELENS_QUALITY_REJECT", problems)
        reject: dict[str, frozenset[str]] = {}
        for site, flags in quality.items():
            chosen = frozenset(flags) if isinstance(flags, list) else frozenset({"?"})
            if not chosen <= QUALITY_FLAGS:
                problems.append(f"SITELENS_QUALITY_REJECT[{site}] must list some of {sorted(QUALITY_FLAGS)}")
            reject[site] = chosen & QUALITY_FLAGS
        return cls(
            batch_url=batch_url,
            batch_account=env.get("SITELENS_BATCH_ACCOUNT"),
            batch_key=env.get("SITELENS_BATCH_KEY"),
            pool_id=env.get("SITELENS_BATCH_POOL_ID", d.pool_id),
            task_command=env.get("SITELENS_TASK_COMMAND", d.task_command),
            task_env={str(k): str(v) for k, v in task_env.items()},
            node_identity_id=env.get("SITELENS_NODE_IDENTITY_ID"),
            default_model=env.get("SITELENS_DEFAULT_MODEL", d.default_model),
            quality_reject=reject,
            task_max_wall_clock_s=wall_clock,
            task_max_retries=retries,
            stuck_after_s=stuck,
            give_up_after_s=give_up,
            max_photo_bytes=max_bytes,
            max_photo_pixels=max_pixels,
        )


def number(
    env: Mapping[str, str], name: str, default: Number, problems: list[str], bounds: tuple[float, float]
) -> Number:
    """The setting as a number of the default's type, above `bounds[0]` and at most `bounds[1]`; absent, the
    default. Anything else (`15m`, `nan`, `inf`, out of bounds) is a problem named here: the start is refused,
    rather than a `timedelta` raising later, while a service is built, where no one reads the reason."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = type(default)(text)
        # isfinite itself overflows on an int past a float's range (a 400-digit number): out of bounds too.
        within = math.isfinite(value) and bounds[0] < value <= bounds[1]
    except (ValueError, OverflowError):  # not a number; or over int()'s 4,300 digits
        value, within = None, False
    above, most = bounds
    if value is None or not within:
        problems.append(f"{name} must be {_bounds_text(default, above, most)}, not {text[:40]!r}")
        return default
    return value


def _bounds_text(default: float, above: float, most: float) -> str:
    low = f"a whole number of at least {int(above) + 1}" if isinstance(default, int) else f"a number above {above:g}"
    return f"{low} and at most {most:.15g}" if math.isfinite(most) else low


def web_url(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    """The setting as an http(s) URL with a host; None when absent or empty. Without its scheme (as the portal
    shows an endpoint) the SDK would fail every call as unreachable, which reads as an outage that passes."""
    url = env.get(name, "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port past 65535 or a broken IPv6 literal
        valid = False
    if not valid:
        problems.append(f"{name} must be an http(s) URL with a host, its scheme included")
    return url


def _json_object(env: Mapping[str, str], name: str, problems: list[str]) -> dict[str, object]:
    try:
        value = json.loads(env.get(name) or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        problems.append(f"{name} must be a JSON object")
        return {}
    return value
