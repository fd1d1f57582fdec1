"""Run a version's gates after training and return the decision to record in state.

Metric gates read the final checkpoint's metrics; the eval gate asks the trained model
(and its baseline) to answer the eval split through `provider.chat`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.config.models import EvalGate, Gates
from ftctl.errors import GateError
from ftctl.events import EventSink, ignore
from ftctl.gates.decide import decide
from ftctl.gates.evals import EvalReport, run_eval_gate
from ftctl.gates.examples import load_eval_examples
from ftctl.providers.base import Provider


@dataclass(frozen=True)
class GateInputs:
    """What the gates of one version look at."""

    gates: Gates
    metrics: Mapping[str, float]  # the final checkpoint's metrics
    model_id: str
    provider: Provider
    project_dir: Path | None
    eval_splits: Mapping[str, Path]  # split name -> built JSONL (test, validation)
    baseline_models: Mapping[str, str]  # `base`, `alias:NAME` -> model id
    seed: int | None = 0
    # The project's `policy.maxRefusalRatio.phrases` (None: the built-in ones), so that
    # "refusal" means the same thing in the training data and in the model's answers.
    refusal_phrases: Sequence[str] | None = None
    # Model id -> the provider that serves it, for baselines served elsewhere than the
    # candidate (a project that moved providers compares with the old provider's `prod`).
    baseline_providers: Mapping[str, Provider] = field(default_factory=dict)


def run_gates(inputs: GateInputs, events: EventSink = ignore) -> dict[str, Any]:
    """The gate decision as a JSON-ready dict (`passed`, `results`, and the eval summary)."""
    report = _run_eval(inputs, inputs.gates.evals, events) if inputs.gates.evals else None
    decision = decide(inputs.gates, inputs.metrics, report).to_dict()
    if report is not None:
        decision["eval"] = {
            "summary": report.summary(),
            "pass_rate": report.pass_rate,
            "win_rate": report.win_rate,
            "baseline": report.baseline,
        }
    return decision


def _run_eval(inputs: GateInputs, gate: EvalGate, events: EventSink) -> EvalReport:
    path = inputs.eval_splits.get(gate.dataset)
    if path is None:
        raise GateError(
            f"spec.gates.evals.dataset: the project has no {gate.dataset} split to evaluate on"
        )
    if inputs.project_dir is None:
        raise GateError("the project directory is unknown: cannot read the graders' files")
    baseline, skipped = _baseline(gate.baseline, inputs.baseline_models)

    def complete(
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str:
        provider = inputs.baseline_providers.get(model, inputs.provider)
        return provider.chat(model, messages, max_tokens, temperature, seed)

    return run_eval_gate(
        gate,
        load_eval_examples(path, gate.limit, source=gate.dataset),
        inputs.project_dir,
        complete,
        inputs.model_id,
        baseline=baseline,
        baseline_skipped=skipped,
        refusal_phrases=inputs.refusal_phrases,
        seed=inputs.seed,
        sink=events,
    )


def _baseline(name: str | None, models: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The baseline's model id, or why it is skipped (an alias not set yet)."""
    if name is None:
        return None, None
    if name in models:
        return models[name], None
    if name.startswith("alias:"):
        return None, f"alias {name.removeprefix('alias:')} is not set yet"
    return name, None  # a model id
