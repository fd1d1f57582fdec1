"""Eval gates: may a new model version be promoted?

- `metrics.check_metrics`: bounds on the job's final training metrics;
- `graders`: does one answer pass (json_schema, exact_match, json_match, regex, refusal);
- `examples.load_eval_examples` + `evals.run_eval`: run a test set through a model (and a
  baseline) via a `complete` callable and report pass, refusal and win rates;
- `decide.decide`: all of it against the thresholds -> `GateDecision`;
- `describe.describe_gates`: the requirements as one-liners for plans.
"""

from ftctl.gates.decide import decide
from ftctl.gates.describe import baseline_label, describe_gates
from ftctl.gates.evals import CompleteFn, EvalReport, run_eval, run_eval_gate
from ftctl.gates.examples import EvalExample, examples_from_rows, load_eval_examples
from ftctl.gates.graders import Grade, Grader, build_graders
from ftctl.gates.metrics import check_metrics
from ftctl.gates.refusals import DEFAULT_REFUSAL_PHRASES, is_refusal
from ftctl.gates.results import GateDecision, GateResult

__all__ = [
    "DEFAULT_REFUSAL_PHRASES",
    "CompleteFn",
    "EvalExample",
    "EvalReport",
    "GateDecision",
    "GateResult",
    "Grade",
    "Grader",
    "baseline_label",
    "build_graders",
    "check_metrics",
    "decide",
    "describe_gates",
    "examples_from_rows",
    "is_refusal",
    "load_eval_examples",
    "run_eval",
    "run_eval_gate",
]
