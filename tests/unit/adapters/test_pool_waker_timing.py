"""BatchPoolWaker's timing rules over a scripted Batch client and claims table (the real SDK's exceptions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from shared.adapters.azure_pool_waker import BatchPoolWaker

ZERO = "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion"
ONE = "$TargetDedicatedNodes=1.00999;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedBatch:
    def __init__(self, clock: Clock, runs: list[str], target: int = 0, enable_error: Exception | None = None) -> None:
        self.clock, self.runs, self.target, self.enable_error = clock, runs, target, enable_error
        self.evaluated_at: list[datetime] = []
        self.enabled: list[Any] = []

    def get_pool(self, pool_id: str, **_: Any) -> Any:
        return SimpleNamespace(
            enable_auto_scale=True,
            auto_scale_formula="f",
            target_dedicated_nodes=self.target,
            target_low_priority_nodes=0,
            auto_scale_evaluation_interval=timedelta(minutes=5),
        )

    def evaluate_pool_auto_scale(self, pool_id: str, options: Any) -> Any:
        self.evaluated_at.append(self.clock())
        return SimpleNamespace(error=None, results=self.runs.pop(0) if len(self.runs) > 1 else self.runs[0])

    def enable_pool_auto_scale(self, pool_id: str, options: Any, **kwargs: Any) -> None:
        assert kwargs.get("retry_total") == 0 and options.auto_scale_formula is None
        if self.enable_error is not None:
            raise self.enable_error
        self.enabled.append(options.auto_scale_evaluation_interval)


class Claims:
    """A table with no row yet; a second insert conflicts, as the service's does."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get_entity(self, partition: str, row: str) -> Any:
        if row not in self.rows:
            raise ResourceNotFoundError("no row")
        return SimpleNamespace(get=self.rows[row].get, metadata={"etag": "e"})

    def create_entity(self, entity: dict[str, Any]) -> None:
        if entity["RowKey"] in self.rows:
            raise ResourceExistsError("exists")
        self.rows[entity["RowKey"]] = entity


def _waker(batch: ScriptedBatch, clock: Clock, claims: Claims | None = None) -> BatchPoolWaker:
    run: Callable[[Callable[[], None]], None] = lambda work: work()  # noqa: E731 (inline background)
    return BatchPoolWaker(batch, "gpu", claims or Claims(), clock=clock, sleep=clock.sleep, background=run)  # type: ignore[arg-type]


def test_polls_at_once_then_back_off_from_1_s_doubling_to_10_s_until_the_formula_asks_for_a_node():
    clock = Clock()
    start = clock.now
    batch = ScriptedBatch(clock, [ZERO] * 6 + [ONE])
    _waker(batch, clock).wake()
    offsets = [(t - start).total_seconds() for t in batch.evaluated_at]
    assert offsets == [0, 1, 3, 7, 15, 25, 35]
    assert batch.enabled == [timedelta(minutes=5)]  # the pool's own interval, no formula: the schedule restarts


def test_gives_up_after_90_s_without_enabling():
    clock = Clock()
    batch = ScriptedBatch(clock, [ZERO])
    _waker(batch, clock).wake()
    assert batch.enabled == [] and (batch.evaluated_at[-1] - batch.evaluated_at[0]).total_seconds() <= 90


def test_a_pool_with_a_target_is_left_alone():
    clock = Clock()
    batch = ScriptedBatch(clock, [ONE], target=1)
    waker = _waker(batch, clock)
    waker.wake()
    assert (waker.looks, batch.evaluated_at, batch.enabled) == (1, [], [])


def test_one_look_per_30_s_per_instance_and_one_claim_per_pool_across_instances():
    clock = Clock()
    claims = Claims()
    batch = ScriptedBatch(clock, [ONE])
    first, second = _waker(batch, clock, claims), _waker(batch, clock, claims)
    first.wake()
    first.wake()
    second.wake()
    assert (first.looks, second.looks, first.kicks, second.kicks) == (1, 1, 1, 0)
    assert (first.evaluations, second.evaluations) == (1, 0)


def _refusal(status: int, code: str) -> HttpResponseError:
    error = HttpResponseError(f"HTTP {status}")
    error.status_code, error.error = status, SimpleNamespace(code=code)  # type: ignore[assignment]
    return error


def test_too_many_enable_requests_counts_as_done_and_other_refusals_are_swallowed():
    clock = Clock()
    too_soon = ScriptedBatch(clock, [ONE], enable_error=_refusal(503, "TooManyEnableAutoScaleRequests"))
    waker = _waker(too_soon, clock)
    waker.wake()
    assert waker.kicks == 0  # another caller just enabled it
    forbidden = ScriptedBatch(clock, [ONE], enable_error=_refusal(403, "AuthorizationFailure"))
    _waker(forbidden, clock).wake()  # logged, never raised: the pool keeps its schedule


def test_the_claim_row_names_the_pool():
    clock = Clock()
    claims = Claims()
    _waker(ScriptedBatch(clock, [ONE]), clock, claims).wake()
    assert list(claims.rows) == ["gpu"] and claims.rows["gpu"]["PartitionKey"] == "poolwake"
