"""The outcome of one gate and of all of a version's gates: values, JSON-ready."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Comparison = Literal[">=", "<="]


def format_number(value: float) -> str:
    """A number as people read it in a summary: `0.84`, `1.2`, `0.8413`, `nan`."""
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def holds(observed: float, op: Comparison, threshold: float) -> bool:
    """Whether `observed op threshold`; NaN never holds."""
    if math.isnan(observed):
        return False
    return observed >= threshold if op == ">=" else observed <= threshold


@dataclass(frozen=True)
class GateResult:
    """One gate checked: what was required, what was observed, and the one-line verdict.

    `observed` is None when the value could not be measured (a metric the job did not
    report, an eval that did not run); such a gate fails and `message` says why.
    """

    name: str
    passed: bool
    observed: float | None
    threshold: float | None
    message: str
    op: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.observed, float) and math.isnan(self.observed):
            data["observed"] = None  # JSON has no NaN
        return data


def compared(
    name: str, observed: float, op: Comparison, threshold: float, detail: str = ""
) -> GateResult:
    """The result of requiring `observed op threshold`, e.g. `full_valid_loss 0.84 <= 1.2  pass`.

    `detail` (such as `46/50`) is appended in parentheses.
    """
    passed = holds(observed, op, threshold)
    verdict = "pass" if passed else "fail"
    message = f"{name} {format_number(observed)} {op} {format_number(threshold)}  {verdict}"
    if detail:
        message += f" ({detail})"
    return GateResult(name, passed, observed, threshold, message, op)


def unmeasured(name: str, op: Comparison | None, threshold: float | None, why: str) -> GateResult:
    """A gate that fails because its value is missing; `why` tells the user what to do."""
    required = f" {op} {format_number(threshold)}" if op and threshold is not None else ""
    return GateResult(name, False, None, threshold, f"{name}{required}  fail: {why}", op)


@dataclass(frozen=True)
class GateDecision:
    """All gates of a version: it may be promoted only when `passed`."""

    passed: bool
    results: list[GateResult] = field(default_factory=list)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> list[str]:
        """One line per gate, in the order the gates are declared."""
        return [r.message for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [r.to_dict() for r in self.results]}
