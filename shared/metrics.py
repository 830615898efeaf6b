"""The Functions app's metrics, in one place: each a function so the call sites read as what happened.

Names and units are documented in docs/telemetry.md#metrics; the instruments come from
`batch_tasks.telemetry`, no-ops when the process exports nothing.
"""

from __future__ import annotations

import threading

from batch_tasks import telemetry

# The OpenTelemetry SDK keeps every distinct attribute set an instrument has seen for the life of the process
# (about 5 KB per site across these metrics), and a site id is whatever an upload key holder sends: a key binds
# no request to a site (docs/uploads.md). So a process reports at most this many sites by name, the first it
# sees; a real fleet has far fewer, and 1,000 sites hold about 5 MB per process.
MAX_SITES_REPORTED = 1000
# What every later site is reported as: `~` is never in a site id (shared/uploads/naming.py), so no real site
# reads as this one.
OTHER_SITES = "~other"


class SiteBound:
    """The first `limit` distinct sites pass through as themselves; every later one becomes `OTHER_SITES`.

    Thread-safe: the Functions worker runs invocations on a thread pool."""

    def __init__(self, limit: int = MAX_SITES_REPORTED) -> None:
        self._limit = limit
        self._named: set[str] = set()
        self._lock = threading.Lock()

    def reported(self, site: str) -> str:
        if site in self._named:  # the common case, without the lock: the set only grows
            return site
        with self._lock:
            if site in self._named or len(self._named) < self._limit:
                self._named.add(site)
                return site
        return OTHER_SITES


_sites = SiteBound()


def photo_received(site: str) -> None:
    telemetry.counter("sitelens.photos.received", "{photo}", "Photos ingestion recorded a job for").add(
        1, {"site": _sites.reported(site)}
    )


def photo_finished(site: str, state: str, reason: str | None, model: str | None, seconds: float | None) -> None:
    """A job reached `state` (SUCCEEDED, FAILED, REJECTED); time to result for the first two. Each by `model`, so
    a rollout's versions compare; `none` for a job that ended before routing chose one (every REJECTED one)."""
    site, model = _sites.reported(site), model or "none"
    attrs = {"site": site, "model": model} | ({"reason": reason} if reason and state != "SUCCEEDED" else {})
    name = {"SUCCEEDED": "succeeded", "FAILED": "failed", "REJECTED": "rejected"}[state]
    telemetry.counter(f"sitelens.photos.{name}", "{photo}", f"Jobs that ended {state}").add(1, attrs)
    if seconds is not None and state != "REJECTED":
        telemetry.histogram("sitelens.photo.time_to_result", "s", "Receipt to terminal state").record(
            seconds, {"site": site, "model": model, "state": state}
        )


def validation_time(site: str, seconds: float, verdict: str) -> None:
    telemetry.histogram("sitelens.validation.duration", "s", "Validating one photo").record(
        seconds, {"site": _sites.reported(site), "verdict": verdict}
    )


def completion_refused(site: str, refusal: str) -> None:
    """A completion message dropped unapplied: its task token `missing` or a `mismatch` with the job's."""
    telemetry.counter("sitelens.completions.refused", "{message}", "Completion messages not from the job's task").add(
        1, {"site": _sites.reported(site), "refusal": refusal}
    )


def task_submitted(model: str) -> None:
    """Batch created a task (`Ingestion.send`, every submission's one path); one already there is not counted."""
    telemetry.counter("sitelens.tasks.submitted", "{task}", "Batch tasks created").add(1, {"model": model})


def webhook_delivery(outcome: str, lag_s: float) -> None:
    """One attempt's outcome (delivered, retry, failed, refused) and its lag from the event to this attempt."""
    telemetry.counter("sitelens.webhook.deliveries", "{attempt}", "Webhook delivery attempts").add(
        1, {"outcome": outcome}
    )
    telemetry.histogram("sitelens.webhook.lag", "s", "Event created to delivery attempt").record(
        lag_s, {"outcome": outcome}
    )


def reconciler_action(kind: str) -> None:
    """One per job the reconciler acted on or checked in Batch; the kinds are listed in docs/telemetry.md."""
    telemetry.counter("sitelens.reconciler.actions", "{action}", "What the reconciler did to open jobs").add(
        1, {"kind": kind}
    )


def record_expired(outcome: str) -> None:
    """One per job record expiry looked at: `expired`, `unsettled` (kept), `gone` (already), `error` (retried)."""
    telemetry.counter("sitelens.records.expired", "{job}", "Jobs whose table records expiry looked at").add(
        1, {"outcome": outcome}
    )
