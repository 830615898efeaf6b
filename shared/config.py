"""Typed settings, read once from an explicit environment mapping at the composition root.

Storage, table, upload and webhook settings are here, and the timer schedules (which the host reads) are
checked here; the pipeline's settings are in shared/pipeline_settings.py. Each default is stated once, in code
(the webhook timings where the sweep uses them, shared/webhooks/service.py, the upload SAS lifetime in
shared/uploads/service.py); docs/configuration.md documents every setting, and
tests/unit/infra/test_setting_defaults.py keeps its table and infra/main.bicep's values equal to these defaults.
A value that is malformed or out of bounds is refused here, at start, never left to fail a later use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from shared.adapters.azure_call_bounds import APP_CALLS
from shared.errors import PermanentError
from shared.pipeline_settings import DURATION, POSITIVE, PipelineSettings, flag, number, web_url
from shared.uploads.service import MAX_TTL, MIN_TTL, TTL_SETTING
from shared.webhooks.address_policy import is_loopback
from shared.webhooks.endpoint import TIMEOUT_S
from shared.webhooks.retry import SCHEDULE
from shared.webhooks.service import LOST_MESSAGE_GRACE, STALE_ATTEMPT

STORAGE = "AzureWebJobsStorage"
ALLOW_LOOPBACK = "SITELENS_WEBHOOKS_ALLOW_LOOPBACK"
ALLOWED_PORTS = "SITELENS_WEBHOOKS_ALLOWED_PORTS"
STALE_ATTEMPT_S = "SITELENS_WEBHOOK_STALE_ATTEMPT_S"
TABLE_PREFIX = "SITELENS_TABLE_PREFIX"
LOST_MESSAGE_S = "SITELENS_WEBHOOK_LOST_MESSAGE_S"
RETRY_SCALE = "SITELENS_WEBHOOK_RETRY_SCALE"
RESULTS_RETENTION_DAYS = "SITELENS_RESULTS_RETENTION_DAYS"
RECORDS_RETENTION_DAYS = "SITELENS_RECORDS_RETENTION_DAYS"
# The host reads these (`%NAME%` in function_app.py); the app only checks them.
SCHEDULES = ("SITELENS_RECONCILE_SCHEDULE", "SITELENS_WEBHOOK_SWEEP_SCHEDULE", "SITELENS_RECORDS_EXPIRY_SCHEDULE")
DEFAULT_ALLOWED_PORTS = "443"
# An attempt runs from its start, through Table reads, the write that opens it and the send (up to
# endpoint.TIMEOUT_S), to the write of its outcome. The sweep takes an attempt open longer than the stale bound for
# one whose process died, and sends again: so the bound must outlast a live attempt, with room for one storage try
# that gets no answer (APP_CALLS' connect and read timeouts) before its retry, and 20 s for the rest. Shorter, a slow
# attempt reaches its receiver twice and its own outcome (a 410, a Retry-After) is lost to the sweep's write.
MIN_STALE_ATTEMPT_S = TIMEOUT_S + APP_CALLS.connect_s + APP_CALLS.read_s + 20
MAX_PORT = 65_535
# Above 0 (the chaos run takes 0.05); at most 10, where the schedule's last wait is already ten days.
RETRY_SCALES = (0.0, 10.0)
# From 1 day to the most a storage lifecycle rule accepts (daysAfterModificationGreaterThan).
RETENTION_DAYS = (0.0, 99_999.0)
# Every table the app creates is named SITELENS_TABLE_PREFIX + its name (the adapters'). Azure's table names
# are a letter, then letters and digits, 3 to 63 characters: 63 less the longest, `webhookdeliveryindex`,
# bounds the prefix (a test keeps this equal to the adapters' names, which are not imported here: reading
# settings loads no storage SDK).
MAX_TABLE_NAME = 63
MAX_TABLE_PREFIX = 43
TABLE_PREFIX_FORM = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# A field of an NCRONTAB schedule: numbers, names (`MON`, `jan`), `*`, ranges, lists and steps. Only the shape
# is checked: the host's own parser does not ship with the app, and in Azure a schedule the host cannot read
# disables its timer function without a word (the reconciler's, for one).
SCHEDULE_FIELD = re.compile(r"[0-9*/,\-A-Za-z]+")
# second, minute, hour, day, month, day of week; or five without the second, which the timer extension reads as
# second 0 (CronSchedule.cs: HasSeconds is "not five fields").
SCHEDULE_FIELDS = (5, 6)
# Set by App Service / Functions in Azure; their presence means "not a developer machine".
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")

# Azurite's published development account (public by design; valid only against the emulator).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ConfigError(PermanentError):
    reason = "configuration_error"


def is_loopback_endpoint(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return is_loopback(ipaddress.ip_address(host))
    except ValueError:  # a DNS name: it may resolve anywhere
        return False


def dev_storage_connection_string(host: str = "127.0.0.1", ports: tuple[int, int, int] = (10000, 10001, 10002)) -> str:
    base = f"http://{host}:{{}}/{DEV_ACCOUNT}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={base.format(ports[0])};QueueEndpoint={base.format(ports[1])};"
        f"TableEndpoint={base.format(ports[2])};"
    )


def expand_connection_string(value: str) -> str:
    """`UseDevelopmentStorage=true`, which the Python storage SDKs do not parse, becomes Azurite's string."""
    if value.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        return dev_storage_connection_string()
    return value


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    blob_uri: str | None
    queue_uri: str | None
    table_uri: str | None
    client_id: str | None

    def endpoints(self) -> list[str]:
        """Every storage endpoint the app may use; "" for one the SDK derives from the account name."""
        urls = [u for u in (self.blob_uri, self.queue_uri, self.table_uri) if u]
        if self.connection_string:
            parts = (p.split("=", 1) for p in self.connection_string.split(";") if "=" in p)
            fields = {key.strip().lower(): value.strip() for key, value in parts}
            urls += [fields.get(f"{service}endpoint", "") for service in ("blob", "queue", "table")]
        return urls

    def all_loopback(self) -> bool:
        """True only for a local emulator (Azurite): real Azure storage is never on a loopback address."""
        endpoints = self.endpoints()
        return bool(endpoints) and all(is_loopback_endpoint(u) for u in endpoints)


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    webhooks_allow_loopback: bool
    webhooks_allowed_ports: frozenset[int]
    webhook_stale_attempt_s: float = STALE_ATTEMPT.total_seconds()
    webhook_lost_message_s: float = LOST_MESSAGE_GRACE.total_seconds()
    webhook_retry_scale: float = 1.0
    upload_sas_ttl_s: float = MAX_TTL.total_seconds()
    table_prefix: str = ""
    # infra's resultsRetentionDays: the lifecycle rule deletes results/ this long after they are written,
    # so the app reuses and links only results that are still kept (nothing expires them locally).
    results_retention_days: int = 90
    # Days the tables keep a job and its events, feedback and claims after it was received (record expiry,
    # shared/jobs/record_expiry.py): at least as long as results are kept. Unset, a year, or the results' days if
    # longer, so a deployment that keeps results longer than a year is not refused by an upgrade.
    records_retention_days: int = 365
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)

    @property
    def results_kept(self) -> timedelta:
        return timedelta(days=self.results_retention_days)

    @property
    def records_kept(self) -> timedelta:
        return timedelta(days=self.records_retention_days)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []
        conn = env.get(STORAGE)
        prefix = f"{STORAGE}__"
        storage = StorageSettings(
            connection_string=expand_connection_string(conn) if conn else None,
            blob_uri=web_url(env, f"{prefix}blobServiceUri", problems),
            queue_uri=web_url(env, f"{prefix}queueServiceUri", problems),
            table_uri=web_url(env, f"{prefix}tableServiceUri", problems),
            client_id=env.get(f"{prefix}clientId"),
        )
        if not conn and not (storage.queue_uri and storage.table_uri and storage.blob_uri):
            problems.append(f"{STORAGE} (or {prefix}blobServiceUri, queueServiceUri and tableServiceUri)")
        allow_loopback = flag(env, ALLOW_LOOPBACK, False, problems)
        # The allowance exists for the local stack only: honoured only when every storage endpoint is
        # loopback (Azurite), so no deployment that talks to real storage, wherever it runs, can have it.
        loopback_refused = allow_loopback and (any(env.get(m) for m in AZURE_MARKERS) or not storage.all_loopback())
        if loopback_refused:
            problems.append(f"{ALLOW_LOOPBACK} is allowed only when every storage endpoint is a loopback address")
        ports = _ports(env.get(ALLOWED_PORTS, DEFAULT_ALLOWED_PORTS), problems)
        stale = number(env, STALE_ATTEMPT_S, cls.webhook_stale_attempt_s, problems, DURATION)
        if stale < MIN_STALE_ATTEMPT_S:
            problems.append(f"{STALE_ATTEMPT_S} must be at least {MIN_STALE_ATTEMPT_S:g}, not {stale:g}: a webhook "
                            f"attempt (a send of up to {TIMEOUT_S:g} s and the storage calls around it) still in "
                            "flight past it is sent again, and its receiver gets the event twice")  # fmt: skip
        lost = number(env, LOST_MESSAGE_S, cls.webhook_lost_message_s, problems, DURATION)
        retry_scale = number(env, RETRY_SCALE, cls.webhook_retry_scale, problems, RETRY_SCALES)
        # A positive lifetime outside 60-900 s is clamped, not refused: the maximum is the security bound.
        ttl = number(env, TTL_SETTING, cls.upload_sas_ttl_s, problems, POSITIVE)
        ttl = min(max(ttl, MIN_TTL.total_seconds()), MAX_TTL.total_seconds())
        refused = len(problems)
        results_days = number(env, RESULTS_RETENTION_DAYS, cls.results_retention_days, problems, RETENTION_DAYS)
        default_records = max(cls.records_retention_days, results_days)
        records_days = number(env, RECORDS_RETENTION_DAYS, default_records, problems, RETENTION_DAYS)
        if len(problems) == refused and records_days < results_days:  # a job gone, its result still linked
            problems.append(f"{RECORDS_RETENTION_DAYS} ({records_days}) must be at least {RESULTS_RETENTION_DAYS} "
                            f"({results_days}): a job's record must last as long as its result")  # fmt: skip
        table_prefix = _table_prefix(env.get(TABLE_PREFIX, ""), problems)
        _check_schedules(env, problems)
        pipeline = PipelineSettings.from_env(env, problems)
        if len(problems) == refused:
            _check_records_outlive_the_work(records_days, pipeline.give_up_after_s, retry_scale, problems)
        if problems:
            # A refused allowance is a security decision: its own code, whatever else is wrong.
            reason = "webhooks_allow_loopback_refused" if loopback_refused else None
            raise ConfigError("invalid or missing settings: " + "; ".join(problems), reason=reason)
        return cls(
            storage=storage,
            webhooks_allow_loopback=allow_loopback,
            webhooks_allowed_ports=ports,
            webhook_stale_attempt_s=stale,
            webhook_lost_message_s=lost,
            webhook_retry_scale=retry_scale,
            upload_sas_ttl_s=ttl,
            table_prefix=table_prefix,
            results_retention_days=results_days,
            records_retention_days=records_days,
            pipeline=pipeline,
        )


def _check_records_outlive_the_work(days: int, give_up_after_s: float, retry_scale: float, problems: list[str]) -> None:
    """Record expiry deletes a job's deliveries with it: a job must be kept past the longest it can stay open and
    then still have webhook retries due (the give-up bound, then the retry schedule at its scale)."""
    busy = timedelta(seconds=give_up_after_s) + sum(SCHEDULE, timedelta()) * retry_scale
    if timedelta(days=days) <= busy:
        problems.append(f"{RECORDS_RETENTION_DAYS} ({days}) must be more than a job can still be worked on: "
                        f"SITELENS_GIVE_UP_AFTER_S and the webhook retries at {RETRY_SCALE} take up to "
                        f"{busy.total_seconds() / 86_400:.1f} days")  # fmt: skip


def _ports(text: str, problems: list[str]) -> frozenset[int]:
    ports = {p.strip() for p in text.split(",") if p.strip()}
    if not all(p.isascii() and p.isdigit() and len(p) <= 5 and 0 < int(p) <= MAX_PORT for p in ports):
        problems.append(f"{ALLOWED_PORTS} must be a comma-separated list of ports from 1 to {MAX_PORT}")
        return frozenset()
    if not ports:  # "", " " or ",": every webhook URL would be refused, every delivery failed for good
        problems.append(f"{ALLOWED_PORTS} must name at least one port")
    return frozenset(int(p) for p in ports)


def _table_prefix(prefix: str, problems: list[str]) -> str:
    """Empty, or a prefix that makes every table name valid: otherwise each request that opens a table is
    refused by the service (`service_refused`), long after a start that looked fine."""
    if prefix and not (TABLE_PREFIX_FORM.fullmatch(prefix) and len(prefix) <= MAX_TABLE_PREFIX):
        problems.append(
            f"{TABLE_PREFIX} must be empty or a letter followed by letters and digits, at most {MAX_TABLE_PREFIX} "
            f"characters (Azure's table names), not {prefix[:70]!r}"
        )
    return prefix


def _check_schedules(env: Mapping[str, str], problems: list[str]) -> None:
    for name in SCHEDULES:
        schedule = env.get(name)
        if schedule is None:
            continue  # absent, the host itself refuses to index the function
        fields = schedule.split()
        if len(fields) not in SCHEDULE_FIELDS or not all(SCHEDULE_FIELD.fullmatch(f) for f in fields):
            problems.append(
                f"{name} must be an NCRONTAB schedule of six fields, second minute hour day month day-of-week "
                f"(`0 */5 * * * *`), or five without the second, not {schedule[:40]!r}"
            )
