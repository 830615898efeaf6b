"""The health report over dependencies whose connections are accepted and never answered: `degraded` within the
health checks' own bounds, each check naming a transient failure, rather than holding `/api/health`'s callers (who
queue for one round, shared/health.py's `Recent`) for as long as the app's own calls may retry."""

from __future__ import annotations

import pytest

from shared import composition, health
from shared.adapters.azure_call_bounds import HEALTH_CHECK_CALLS
from tests.support.black_hole import BlackHole, app_at, outcomes

pytestmark = pytest.mark.integration
# Generous over a round's worst case (three checks of one short try: 45 s), and under what one round took over the
# app's clients (two retries a call: about 4 minutes) or the SDKs' defaults (about 45 minutes).
DEADLINE_S = 90.0


def test_a_round_over_stalled_dependencies_is_degraded_within_the_health_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reports: list[health.HealthReport] = []
    with BlackHole() as hole, app_at(hole, monkeypatch):
        ended = outcomes({"round": lambda: reports.append(health.assess(composition.health_checks))}, DEADLINE_S)
        assert ended == {"round": "returned"}
        [report] = reports
        transient = {"ok": False, "reason": "transient"}
        assert (report.status, report.checks) == (
            "degraded", {"storage": transient, "batch": transient, "model_registry": transient})  # fmt: skip
        assert len(hole.accepted) == 3 * (HEALTH_CHECK_CALLS.retries + 1)  # one try each, every one waited out
