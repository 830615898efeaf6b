"""The Azure Batch autoscale formula language: parse once, evaluate many times, print as Azure does.

    formula = Formula.parse(text)                       # FormulaError on syntax or limit errors
    run = formula.evaluate(pool, metrics, now=..., seed=...)
    run.results          # Azure's autoScaleRun.results string
    run.error            # None, or a FormulaError (e.g. InsufficientSampleData): targets unchanged
    run.applied          # AppliedTargets: truncated toward zero, never negative

See docs/autoscale.md for the language as implemented and the choices made where Azure is undocumented.
"""

from autoscale.errors import FormulaError
from autoscale.evaluator import AppliedTargets, Evaluation, Formula, PoolState
from autoscale.samples import METRICS, MetricHistory, Metrics

__all__ = [
    "METRICS",
    "AppliedTargets",
    "Evaluation",
    "Formula",
    "FormulaError",
    "MetricHistory",
    "Metrics",
    "PoolState",
]
