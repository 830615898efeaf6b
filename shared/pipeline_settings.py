"""The pipeline's typed settings (Batch, tasks, limits), read once from the environment.

Each default is stated once, here (validation's `Limits` take the photo caps from here);
docs/configuration.md documents every setting and a test keeps its table and infra/main.bicep's values
equal to these defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_TASK_COMMAND = (
    '/bin/sh -c "$AZ_BATCH_NODE_SHARED_DIR/sitelens/current/bin/python -m batch_tasks.task {job_id} {input}"'
)
QUALITY_FLAGS = frozenset({"blurry", "under_exposed", "over_exposed", "low_resolution"})


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
        try:
            numbers = {
                "task_max_wall_clock_s": int(env.get("SITELENS_TASK_MAX_WALL_CLOCK_S", d.task_max_wall_clock_s)),
                "task_max_retries": int(env.get("SITELENS_TASK_MAX_RETRIES", d.task_max_retries)),
                "stuck_after_s": float(env.get("SITELENS_STUCK_AFTER_S", d.stuck_after_s)),
                "give_up_after_s": float(env.get("SITELENS_GIVE_UP_AFTER_S", d.give_up_after_s)),
                "max_photo_bytes": int(env.get("SITELENS_MAX_PHOTO_BYTES", d.max_photo_bytes)),
                "max_photo_pixels": int(env.get("SITELENS_MAX_PHOTO_PIXELS", d.max_photo_pixels)),
            }
        except ValueError as exc:
            problems.append(f"a numeric SITELENS_* setting is not a number ({exc})")
            numbers = {}
        if not 0 <= numbers.get("task_max_retries", 0) <= 10:  # -1 would be Batch's "retry forever"
            problems.append("SITELENS_TASK_MAX_RETRIES must be between 0 and 10")
        if any(value <= 0 for name, value in numbers.items() if name != "task_max_retries"):
            problems.append("SITELENS_* durations and caps must be positive")
        task_env = _json_object(env, "SITELENS_TASK_ENV", problems)
        quality = _json_object(env, "SITELENS_QUALITY_REJECT", problems)
        reject: dict[str, frozenset[str]] = {}
        for site, flags in quality.items():
            chosen = frozenset(flags) if isinstance(flags, list) else frozenset({"?"})
            if not chosen <= QUALITY_FLAGS:
                problems.append(f"SITELENS_QUALITY_REJECT[{site}] must list some of {sorted(QUALITY_FLAGS)}")
            reject[site] = chosen & QUALITY_FLAGS
        return cls(
            batch_url=env.get("SITELENS_BATCH_URL"),
            batch_account=env.get("SITELENS_BATCH_ACCOUNT"),
            batch_key=env.get("SITELENS_BATCH_KEY"),
            pool_id=env.get("SITELENS_BATCH_POOL_ID", d.pool_id),
            task_command=env.get("SITELENS_TASK_COMMAND", d.task_command),
            task_env={str(k): str(v) for k, v in task_env.items()},
            node_identity_id=env.get("SITELENS_NODE_IDENTITY_ID"),
            default_model=env.get("SITELENS_DEFAULT_MODEL", d.default_model),
            quality_reject=reject,
            **numbers,  # type: ignore[arg-type]
        )


def _json_object(env: Mapping[str, str], name: str, problems: list[str]) -> dict[str, object]:
    try:
        value = json.loads(env.get(name) or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        problems.append(f"{name} must be a JSON object")
        return {}
    return value
