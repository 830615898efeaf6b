"""`benchmarks.autoscale_pool.meets_bars`: the bars hold only for a run that served every photo.

The cost and wait bars are read over the finished photos, and the p95 of no photos is 0, so a formula
that never starts a node would pass both unless unfinished and failed photos count against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoscale import Formula
from autoscale.report import oracle_for, summary
from autoscale.simulation import Settings, simulate
from benchmarks.autoscale_pool import meets_bars

DEPLOYED = Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula"
NEVER_SCALES = "$TargetDedicatedNodes = 0;\n$NodeDeallocationOption = taskcompletion;"
# A burst of 40 photos within two minutes, then quiet: the shape the bars are set for.
BURST = [1000.0 + 3.0 * i for i in range(40)]


def simulated(formula_text: str, kick: bool) -> dict[str, Any]:
    settings = Settings(kick=kick)
    run = simulate(Formula.parse(formula_text), BURST, settings)
    return summary(BURST, run, oracle_for(BURST, settings), settings)


def test_a_formula_that_never_starts_a_node_misses_the_bars() -> None:
    for kick in (False, True):
        result = simulated(NEVER_SCALES, kick)
        assert result["photos_finished"] < result["photos"]  # the premise: photos were left waiting
        assert meets_bars(result) is False


def test_the_deployed_formula_meets_the_bars_on_a_burst() -> None:
    for kick in (False, True):
        result = simulated(DEPLOYED.read_text(encoding="utf-8"), kick)
        assert result["photos_finished"] == result["photos"] and result["photos_failed"] == 0
        assert meets_bars(result) is True


def test_a_failed_photo_misses_the_bars_even_with_cost_and_wait_within_them() -> None:
    result = simulated(DEPLOYED.read_text(encoding="utf-8"), kick=True)
    assert meets_bars(result) is True
    assert meets_bars({**result, "photos_failed": 1}) is False
    assert meets_bars({**result, "photos_finished": result["photos"] - 1}) is False
