"""The Azure Batch autoscale formula language: parse once, evaluate many times, print as Azure does.

    formula = Formula.parse(text)                       # FormulaError on syntax or limit errors
    metrics = Metrics()                                 # one MetricHistory per metric, appended to
    metrics.of("$PendingTasks").record(at, 12)          # ... every 30 s by whoever samples the pool
    run = formula.evaluate(pool, metrics, now=now, seed=0)
    run.results          # Azure's autoScaleRun.results string
    run.error            # None, or a FormulaError (e.g. InsufficientSampleData): targets unchanged
    run.applied          # AppliedTargets: truncated toward zero, never negative; None on error

See docs/autoscale.md for the language as implemented, and `assumptions` for the choices made where
Azure is undocumented.
"""

from autoscale.errors import FormulaError
from autoscale.evaluator import AppliedTargets, Evaluation, Formula, PoolState
from autoscale.lint import Finding
from autoscale.names import METRICS
from autoscale.samples import SAMPLE_PERIOD, MetricHistory, Metrics

__all__ = [
    "METRICS",
    "SAMPLE_PERIOD",
    "AppliedTargets",
    "Evaluation",
    "Finding",
    "Formula",
    "FormulaError",
    "MetricHistory",
    "Metrics",
    "PoolState",
]
