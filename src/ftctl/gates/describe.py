"""Gates as one-liners for plans: what a version must achieve before its alias moves."""

from __future__ import annotations

from ftctl.config.models import EvalGate, Gates, RefusalGrader
from ftctl.gates.results import format_number


def baseline_label(baseline: str) -> str:
    """How a baseline reads in a sentence: `base`, `prod` (for `alias:prod`), or the model id."""
    if baseline.startswith("alias:"):
        return baseline.removeprefix("alias:")
    return baseline


def _describe_evals(evals: EvalGate) -> list[str]:
    lines: list[str] = []
    if evals.pass_.min_pass_rate is not None:
        lines.append(f"{evals.dataset} pass rate >= {format_number(evals.pass_.min_pass_rate)}")
    if evals.pass_.min_win_rate is not None:
        against = baseline_label(evals.baseline) if evals.baseline else "(no baseline)"
        lines.append(f"win rate vs {against} >= {format_number(evals.pass_.min_win_rate)}")
    for grader in evals.graders:
        if isinstance(grader, RefusalGrader):
            lines.append(f"refusal rate <= {format_number(grader.max)}")
    if not lines:
        graders = ", ".join(g.type for g in evals.graders)
        lines.append(f"{evals.dataset} evals ({graders}) reported, no threshold")
    return lines


def describe_gates(gates: Gates) -> list[str]:
    """One line per requirement, in declaration order, e.g. `full_valid_loss <= 1.2`."""
    lines: list[str] = []
    for metric in gates.metrics:
        if metric.min is not None:
            lines.append(f"{metric.metric} >= {format_number(metric.min)}")
        if metric.max is not None:
            lines.append(f"{metric.metric} <= {format_number(metric.max)}")
    if gates.evals is not None:
        lines.extend(_describe_evals(gates.evals))
    return lines
