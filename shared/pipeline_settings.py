"""The pipeline's typed settings (Batch, tasks, limits), read once from the environment.

Each default is stated once, here (validation's `Limits` take the photo caps from here; the pixel cap is
OpenCV's own, batch_tasks/ocr/opencv.py); docs/configuration.md documents every setting and a test keeps its
table and infra/main.bicep's values equal to these defaults.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Formatter
from typing import TypeVar
from urllib.parse import urlsplit

from batch_tasks.artifacts import MODEL_ID

# OpenCV's own decode cap (batch_tasks/ocr/opencv.py sets it before OpenCV loads; a test keeps the two equal):
# stated here too so that reading settings never loads OpenCV.
MAX_PIXELS = 50_000_000
# The task's contract, filled in by the submitter (shared/adapters/azure_batch_submitter.py): the input's file
# name beside the task, and the variable batch_tasks/task.py reads its wait for the node server from.
INPUT_FILE = "input.jpg"
TASK_TIMEOUT = "SITELENS_TASK_TIMEOUT_S"
TASK_COMMAND = "SITELENS_TASK_COMMAND"
POOL_ID_FORM = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Batch's rule for a pool id
# A user-assigned identity's resource id, the form Batch's identity references take.
IDENTITY_ID_FORM = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+",
    re.IGNORECASE,
)
TASK_COMMAND_FIELDS = frozenset({"job_id", "input"})  # what the submitter fills in
TASK_ENV = "SITELENS_TASK_ENV"
WALL_CLOCK_S = "SITELENS_TASK_MAX_WALL_CLOCK_S"
INSTANCE_MEMORY_MB = "SITELENS_INSTANCE_MEMORY_MB"
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
# OpenCV refuses to decode more pixels than its cap (batch_tasks/ocr/opencv.py): a photo above it but within a
# larger setting would pass the header check, then fail decoding as `corrupt_image`.
PHOTO_PIXELS = (0.0, float(MAX_PIXELS))
# The Microsoft Entra token scope of each Azure cloud's Batch service (its resource id and `/.default`), by
# the host suffix of the cloud's Batch account endpoints, `NAME.REGION.<suffix>`: azure-batch asks for the
# public cloud's unless told, and Batch in another cloud refuses that token on every call.
BATCH_TOKEN_SCOPES = {
    "batch.azure.com": "https://batch.core.windows.net//.default",
    "batch.usgovcloudapi.net": "https://batch.core.usgovcloudapi.net//.default",
    "batch.chinacloudapi.cn": "https://batch.chinacloudapi.cn//.default",
}
# The spellings of a yes or no setting, any case.
TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")
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
    # OpenCV's own cap: above a phone's default 12-50 MP, far below a bomb; its 108 and 200 MP modes are refused
    max_photo_pixels: int = MAX_PIXELS
    quality_reject: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The memory of the instance the app runs on (infra/modules/functions.bicep passes `instanceMemoryMB`); half of
    # it is validation's decode budget (shared/validation/validator.py). The default: the template's, for the local
    # stack.
    instance_memory_mb: int = 2048

    def rejecting_flags(self, site: str) -> frozenset[str]:
        return self.quality_reject.get(site, self.quality_reject.get("*", frozenset()))

    @property
    def batch_token_scopes(self) -> list[str]:
        """The Batch client's `credential_scopes` when the managed identity signs (`batch_token_scopes_for`)."""
        return batch_token_scopes_for(self.batch_url or "")

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> PipelineSettings:
        d = cls()
        refused_before = len(problems)
        batch_url = web_url(env, "SITELENS_BATCH_URL", problems)
        signs_with_key = bool(env.get("SITELENS_BATCH_ACCOUNT") and env.get("SITELENS_BATCH_KEY"))
        if batch_url and len(problems) == refused_before and not signs_with_key:
            _check_batch_cloud(batch_url, problems)
        wall_clock = number(env, WALL_CLOCK_S, d.task_max_wall_clock_s, problems, DURATION)
        retries = number(env, "SITELENS_TASK_MAX_RETRIES", d.task_max_retries, problems, RETRIES)
        stuck = number(env, "SITELENS_STUCK_AFTER_S", d.stuck_after_s, problems, DURATION)
        give_up = number(env, "SITELENS_GIVE_UP_AFTER_S", d.give_up_after_s, problems, DURATION)
        max_bytes = number(env, "SITELENS_MAX_PHOTO_BYTES", d.max_photo_bytes, problems, POSITIVE)
        max_pixels = number(env, "SITELENS_MAX_PHOTO_PIXELS", d.max_photo_pixels, problems, PHOTO_PIXELS)
        instance_memory = number(env, INSTANCE_MEMORY_MB, d.instance_memory_mb, problems, POSITIVE)
        task_env = {str(k): str(v) for k, v in _json_object(env, TASK_ENV, problems).items()}
        _check_task_timeout(task_env, wall_clock, problems)
        quality = _json_object(env, "SITELENS_QUALITY_REJECT", problems)
        reject: dict[str, frozenset[str]] = {}
        for site, flags in quality.items():
            # Anything but a list of names (`[["blurry"]]`, a number) is a problem, as an unknown name is.
            chosen = frozenset({"?"})
            if isinstance(flags, list) and all(isinstance(name, str) for name in flags):
                chosen = frozenset(flags)
            if not chosen <= QUALITY_FLAGS:
                problems.append(f"SITELENS_QUALITY_REJECT[{site}] must list some of {sorted(QUALITY_FLAGS)}")
            reject[site] = chosen & QUALITY_FLAGS
        return cls(
            batch_url=batch_url,
            batch_account=env.get("SITELENS_BATCH_ACCOUNT"),
            batch_key=env.get("SITELENS_BATCH_KEY"),
            pool_id=_matching(env, "SITELENS_BATCH_POOL_ID", d.pool_id, POOL_ID_FORM, problems),
            task_command=_task_command(env.get(TASK_COMMAND, d.task_command), problems),
            task_env=task_env,
            node_identity_id=(  # empty: none, as unset
                _matching(env, "SITELENS_NODE_IDENTITY_ID", "", IDENTITY_ID_FORM, problems)
                if env.get("SITELENS_NODE_IDENTITY_ID")
                else None
            ),
            default_model=_matching(env, "SITELENS_DEFAULT_MODEL", d.default_model, MODEL_ID, problems),
            quality_reject=reject,
            task_max_wall_clock_s=wall_clock,
            task_max_retries=retries,
            stuck_after_s=stuck,
            give_up_after_s=give_up,
            max_photo_bytes=max_bytes,
            max_photo_pixels=max_pixels,
            instance_memory_mb=instance_memory,
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


def _matching(env: Mapping[str, str], name: str, default: str, form: re.Pattern[str], problems: list[str]) -> str:
    """The setting if it has the form the service will accept (absent: the default); a problem otherwise, named
    here rather than by Batch or the model registry on every photo."""
    value = env.get(name)
    if value is None:
        return default
    if not form.fullmatch(value):
        problems.append(f"{name} must match {form.pattern}, not {value[:80]!r}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    """The setting as a yes or no: `true` or `false` (`1`/`0`, `yes`/`no`), any case; absent or empty, the
    default. Anything else (`on`, `ture`) is a problem: read as "no", a typo would quietly turn a setting off."""
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text not in TRUE + FALSE:
        problems.append(f"{name} must be true or false, not {text[:40]!r}")
        return default
    return text in TRUE


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


def batch_token_scopes_for(url: str) -> list[str]:
    """The token scope of the cloud whose Batch account endpoint `url` is, chosen by its host's suffix, as the
    client's `credential_scopes`; none for a host in no known cloud (or a malformed URL), which the settings
    refuse over https, and over plain http azure-core asks for no token at all."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")  # a fully qualified name may end in a dot
    except ValueError:
        return []
    return [scope for suffix, scope in BATCH_TOKEN_SCOPES.items() if host.endswith("." + suffix)]


def _check_batch_cloud(url: str, problems: list[str]) -> None:
    """An https Batch endpoint reached with the managed identity needs a token for its own cloud: a host in no
    known cloud is refused here rather than failing every Batch call as unauthorised. Plain http is the local
    stand-ins' (signed with Shared Key): azure-core never sends a token over it, so there is nothing to choose."""
    if urlsplit(url).scheme == "https" and not batch_token_scopes_for(url):
        suffixes = ", ".join(f"NAME.REGION.{suffix}" for suffix in BATCH_TOKEN_SCOPES)
        problems.append(
            f"SITELENS_BATCH_URL must be a Batch account endpoint of a known Azure cloud ({suffixes}) to be "
            "reached with the managed identity; another host needs SITELENS_BATCH_ACCOUNT and SITELENS_BATCH_KEY, "
            f"not {url[:80]!r}"
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


def _task_command(command: str, problems: list[str]) -> str:
    """The task command line, which the submitter fills in with `str.format(job_id=..., input=...)`: any other
    brace (`${VAR}`, `{jobid}`, a JSON argument) would raise there on every submit, never as a refusal a job
    records, and every photo would wait for the reconciler to give up on it. Filled in once here instead."""
    if not command.strip():
        problems.append(f"{TASK_COMMAND} must be a command line, not empty")
        return command
    try:
        fields = {name for _, name, _, _ in Formatter().parse(command) if name is not None}
        command.format(job_id="job", input=INPUT_FILE)  # as the submitter does: a bad conversion or spec raises
        # What formats without raising but still fills in something else (`{job_id.upper}`, a method's repr).
        wrong = ", ".join(f"{{{name}}}" for name in sorted(fields - TASK_COMMAND_FIELDS))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        wrong = f"{type(exc).__name__}: {exc}"
    if wrong:
        problems.append(
            f"{TASK_COMMAND} may name only {{job_id}} and {{input}} in braces; double every other brace, "
            f"as in ${{{{VAR}}}} ({wrong})"
        )
    return command


def _check_task_timeout(task_env: Mapping[str, str], wall_clock: float, problems: list[str]) -> None:
    """A task wait that the task environment sets in place of the submitter's (90 % of the wall clock): the
    task reads it as a positive number of seconds, and one at or past the wall clock leaves the task no time
    to report before Batch ends it (`MaxWallClockTimeExpiry`, a retry spent with nothing said)."""
    if TASK_TIMEOUT not in task_env:
        return
    name = f"{TASK_ENV}[{TASK_TIMEOUT}]"
    refused_before = len(problems)
    timeout = number({name: task_env[TASK_TIMEOUT]}, name, 0.0, problems, POSITIVE)
    if len(problems) == refused_before and timeout >= wall_clock:
        problems.append(f"{name} must be below {WALL_CLOCK_S} ({wall_clock:g} s), not {timeout:g}")
