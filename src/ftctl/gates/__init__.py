"""Eval gates: may a new model version be promoted?

- `metrics.check_metrics`: bounds on the job's final training metrics;
- `graders`: does one answer pass (json_schema, exact_match, json_match, regex, refusal);
- `examples.load_eval_examples` + `evals.run_eval`: run a test set through a model (and a
  baseline) via a `complete` callable and report pass, refusal and win rates;
- `decide.decide`: all of it against the thresholds -> `GateDecision`;
- `describe.describe_gates`: the requirements as one-liners for plans.

Import the modules themselves: this package imports nothing, so that `ftctl data stats`
(which needs only `refusals`) does not load the eval machinery and its pydantic models.
"""
