"""Building sample histories and running formulas against them, for the autoscale tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from autoscale import Evaluation, Formula, Metrics, PoolState
from autoscale.samples import DEFAULT_LAG

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


def series(values: Sequence[float], *, newest_ago: float = 30) -> list[list[float]]:
    """`values` oldest first, one per 30 s, the newest `newest_ago` seconds before NOW (visible at 30 s)."""
    n = len(values)
    return [[newest_ago + 30 * (n - 1 - i), v] for i, v in enumerate(values)]


History = Mapping[str, Sequence[Sequence[float]]]


def run(
    text: str,
    pool: PoolState | None = None,
    *,
    now: datetime = NOW,
    lag: timedelta = DEFAULT_LAG,
    seed: int = 0,
    history: History | None = None,
    **samples: Sequence[Sequence[float]],
) -> Evaluation:
    """Evaluate `text`; metrics are named without their `$`, as keywords (PendingTasks=series(...)) or in
    `history`."""
    named = {**(history or {}), **samples}
    metrics = Metrics.from_offsets(now, {f"${k}": v for k, v in named.items()}, lag=lag)
    return Formula.parse(text).evaluate(pool or PoolState(), metrics, now=now, seed=seed)


def user_results(
    text: str, pool: PoolState | None = None, *, history: History | None = None, **samples: Sequence[Sequence[float]]
) -> str:
    """The results string without the three service variables; fails the test on an evaluation error."""
    evaluation = run(text, pool, history={**(history or {}), **samples})
    assert evaluation.error is None, evaluation.error
    return ";".join(evaluation.results.split(";")[3:])
