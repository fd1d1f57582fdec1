"""Metric gates: bounds on the training metrics a finished job reports.

The metrics are those of OpenAI's fine-tuning checkpoints (`full_valid_loss`,
`valid_mean_token_accuracy`, ...), taken from the job's final step. A gate with both
`min` and `max` yields two results, one per bound, so each line says one thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ftctl.config.models import MetricGate
from ftctl.gates.results import Comparison, GateResult, compared, unmeasured


def _why_missing(metric: str, available: Sequence[str]) -> str:
    why = "the job did not report this metric"
    if "valid" in metric:
        why += " (validation metrics need a validation split)"
    if available:
        why += f"; reported: {', '.join(sorted(available))}"
    return why


def check_metrics(
    gates: Sequence[MetricGate], metrics: Mapping[str, float | int | None] | None
) -> list[GateResult]:
    """One result per bound of each gate; a missing or non-numeric metric fails, never raises."""
    observed_metrics = metrics or {}
    available = [k for k, v in observed_metrics.items() if isinstance(v, int | float)]
    results: list[GateResult] = []
    for gate in gates:
        bounds: list[tuple[Comparison, float | None]] = [(">=", gate.min), ("<=", gate.max)]
        value = observed_metrics.get(gate.metric)
        for op, threshold in bounds:
            if threshold is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                results.append(
                    unmeasured(gate.metric, op, threshold, _why_missing(gate.metric, available))
                )
            elif math.isnan(value):
                results.append(
                    unmeasured(
                        gate.metric, op, threshold, "the job reported NaN (training diverged?)"
                    )
                )
            else:
                results.append(compared(gate.metric, float(value), op, threshold))
    return results
