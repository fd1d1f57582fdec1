"""The promotion decision: every metric gate and eval threshold, each with its verdict.

A version passes when every result passes. An eval threshold whose value was not
measured fails, with one exception: a win rate whose baseline could not be run for a
stated reason (the eval report's `baseline_skipped`, e.g. "alias prod is not set yet"
on a project's first version) passes as skipped, since there is nothing to lose to.
"""

from __future__ import annotations

from collections.abc import Mapping

from ftctl.config.models import EvalGate, Gates, RefusalGrader
from ftctl.gates.describe import baseline_label
from ftctl.gates.evals import EvalReport
from ftctl.gates.metrics import check_metrics
from ftctl.gates.results import GateDecision, GateResult, compared, format_number, unmeasured


def _eval_results(evals: EvalGate, report: EvalReport | None) -> list[GateResult]:
    pass_name = f"{evals.dataset} pass rate"
    if report is None:
        return [unmeasured(pass_name, None, None, "the eval did not run")]
    counts = report.counts
    results: list[GateResult] = []

    minimum = evals.pass_.min_pass_rate
    detail = f"{counts.passed}/{counts.examples}"
    if minimum is not None:
        results.append(compared(pass_name, report.pass_rate, ">=", minimum, detail))
    else:
        message = f"{pass_name} {format_number(report.pass_rate)} ({detail}), no minimum"
        results.append(GateResult(pass_name, True, report.pass_rate, None, message))

    min_win = evals.pass_.min_win_rate
    if min_win is not None:
        label = baseline_label(evals.baseline) if evals.baseline else "baseline"
        name = f"win rate vs {label}"
        if report.win_rate is not None:
            detail = f"{counts.wins} won, {counts.ties} tied, {counts.losses} lost"
            results.append(compared(name, report.win_rate, ">=", min_win, detail))
        elif report.baseline_skipped:
            message = f"{name} >= {format_number(min_win)}  skipped: {report.baseline_skipped}"
            results.append(GateResult(name, True, None, min_win, message, ">="))
        elif evals.baseline is None:
            results.append(unmeasured(name, ">=", min_win, "minWinRate needs a baseline"))
        else:
            results.append(unmeasured(name, ">=", min_win, "the baseline was not evaluated"))

    for grader in evals.graders:
        if isinstance(grader, RefusalGrader):
            detail = f"{counts.refusals}/{counts.examples}"
            results.append(compared("refusal rate", report.refusal_rate, "<=", grader.max, detail))
    return results


def decide(
    gates: Gates,
    metrics: Mapping[str, float | int | None] | None,
    report: EvalReport | None,
) -> GateDecision:
    """Check `gates` against the job's final metrics and the eval report (if evals are declared)."""
    results = check_metrics(gates.metrics, metrics)
    if gates.evals is not None:
        results.extend(_eval_results(gates.evals, report))
    return GateDecision(passed=all(r.passed for r in results), results=results)
