"""Errors in the shape Azure reports them: `code`, `message`, `values` ([{name, value}]).

`values` holds one `Message` entry, `Line L, Col C: <detail>`, with 1-based line and column (a tab
counts as one column). Only the InsufficientSampleData message text is Azure's own; the
details of syntax and evaluation errors are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscale import assumptions

SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
TOO_LONG = "AutoScalingFormulaTooLong"
INSUFFICIENT_SAMPLES = "InsufficientSampleData"
EVALUATION_ERROR = assumptions.EVALUATION_ERROR_CODE

MESSAGES = {
    SYNTAX_ERROR: "The specified autoscale formula has a syntax error",
    TOO_LONG: "The specified autoscale formula is too long",
    INSUFFICIENT_SAMPLES: "Autoscale evaluation failed due to insufficient sample data",
    EVALUATION_ERROR: "Autoscale evaluation failed",
}


@dataclass(frozen=True)
class Position:
    line: int
    col: int

    def __str__(self) -> str:
        return f"Line {self.line}, Col {self.col}"


class FormulaError(Exception):
    def __init__(self, code: str, detail: str, position: Position | None = None) -> None:
        self.code = code
        self.message = MESSAGES[code]
        self.detail = detail
        self.position = position
        super().__init__(self.value)

    @property
    def value(self) -> str:
        return f"{self.position}: {self.detail}" if self.position else self.detail

    @property
    def values(self) -> list[dict[str, str]]:
        return [{"name": "Message", "value": self.value}]

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "values": self.values}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}\n{self.value}"

    def __eq__(self, other: object) -> bool:  # two runs that fail the same way compare equal
        if not isinstance(other, FormulaError):
            return NotImplemented
        return (self.code, self.detail, self.position) == (other.code, other.detail, other.position)

    def __hash__(self) -> int:
        return hash((self.code, self.detail, self.position))


class Fault(ValueError):
    """A run-time failure found inside an operator, function or method; the evaluator adds the position."""


def syntax(detail: str, position: Position | None) -> FormulaError:
    return FormulaError(SYNTAX_ERROR, detail, position)


def evaluation(detail: str, position: Position | None) -> FormulaError:
    return FormulaError(EVALUATION_ERROR, detail, position)
