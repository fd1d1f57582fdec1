from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftctl.config.models import Gates
from ftctl.gates.decide import decide
from ftctl.gates.evals import EvalReport, run_eval_gate
from ftctl.gates.examples import load_eval_examples

Router = Callable[[dict[str, str]], Callable[..., str]]
GOOD = {
    "charged twice": '{"category": "billing", "priority": "urgent"}',
    "tracking": '{"category": "shipping", "priority": "normal"}',
    "refund": '{"category": "refund", "priority": "normal"}',
    "invoice": '{"category": "billing", "priority": "normal"}',
}


def gates(evals: dict[str, Any] | None = None, **extra: Any) -> Gates:
    data: dict[str, Any] = {
        "metrics": [
            {"metric": "full_valid_loss", "max": 1.2},
            {"metric": "valid_mean_token_accuracy", "min": 0.6},
        ],
        **extra,
    }
    if evals is not None:
        data["evals"] = {
            "graders": [
                {"type": "json_schema", "schema": "evals/answer.schema.json"},
                {"type": "json_match", "keys": ["category", "priority"]},
                {"type": "refusal", "max": 0.05},
            ],
            **evals,
        }
    return Gates.model_validate(data)


def report_for(
    spec: Gates, project_dir: Path, complete: Callable[..., str], **kwargs: Any
) -> EvalReport:
    assert spec.evals is not None
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    return run_eval_gate(spec.evals, examples, project_dir, complete, "ft:cand", **kwargs)


METRICS = {"full_valid_loss": 0.84, "valid_mean_token_accuracy": 0.91}


def test_all_gates_pass_and_each_has_a_one_line_summary(project_dir: Path, router: Router) -> None:
    spec = gates({"baseline": "alias:prod", "pass": {"minPassRate": 0.7, "minWinRate": 0.5}})
    baseline = router({"tracking": GOOD["tracking"]})
    candidate = router(GOOD)

    def complete(**kwargs: Any) -> str:
        return (candidate if kwargs["model"] == "ft:cand" else baseline)(**kwargs)

    report = report_for(spec, project_dir, complete, baseline="ft:prod-v3")
    decision = decide(spec, METRICS, report)
    assert decision.passed
    assert decision.summary() == [
        "full_valid_loss 0.84 <= 1.2  pass",
        "valid_mean_token_accuracy 0.91 >= 0.6  pass",
        "test pass rate 0.75 >= 0.7  pass (3/4)",
        "win rate vs prod 0.75 >= 0.5  pass (2 won, 2 tied, 0 lost)",
        "refusal rate 0 <= 0.05  pass (0/4)",
    ]


def test_one_failing_gate_blocks_promotion_and_is_named(project_dir: Path, router: Router) -> None:
    spec = gates({"pass": {"minPassRate": 0.9}})
    decision = decide(spec, METRICS, report_for(spec, project_dir, router(GOOD)))
    assert not decision.passed
    assert [f.message for f in decision.failures] == ["test pass rate 0.75 >= 0.9  fail (3/4)"]


def test_too_many_refusals_fail_the_refusal_gate(project_dir: Path, router: Router) -> None:
    spec = gates({})
    decision = decide(spec, METRICS, report_for(spec, project_dir, router({})))
    assert [f.message for f in decision.failures] == ["refusal rate 1 <= 0.05  fail (4/4)"]
    # Without minPassRate the pass rate is reported, not enforced.
    assert "test pass rate 0 (0/4), no minimum" in decision.summary()


def test_missing_metrics_and_a_missing_eval_fail_without_crashing() -> None:
    spec = gates({"pass": {"minPassRate": 0.9}})
    decision = decide(spec, {"train_loss": 0.3}, None)
    assert not decision.passed
    assert [r.passed for r in decision.results] == [False, False, False]
    assert decision.results[2].message == "test pass rate  fail: the eval did not run"


def test_win_rate_without_a_baseline_run(project_dir: Path, router: Router) -> None:
    spec = gates({"baseline": "alias:prod", "pass": {"minWinRate": 0.5}})
    skipped = report_for(
        spec, project_dir, router(GOOD), baseline_skipped="alias prod is not set yet"
    )
    decision = decide(spec, METRICS, skipped)
    assert decision.passed
    assert "win rate vs prod >= 0.5  skipped: alias prod is not set yet" in decision.summary()

    not_run = report_for(spec, project_dir, router(GOOD))
    failed = decide(spec, METRICS, not_run)
    assert [f.message for f in failed.failures] == [
        "win rate vs prod >= 0.5  fail: the baseline was not evaluated"
    ]


def test_no_gates_pass_trivially_and_the_decision_is_json() -> None:
    decision = decide(Gates(), None, None)
    assert decision.passed and decision.results == []
    spec = gates()
    data = json.loads(json.dumps(decide(spec, METRICS, None).to_dict()))
    assert data["passed"] is True
    assert data["results"][0] == {
        "name": "full_valid_loss",
        "passed": True,
        "observed": 0.84,
        "threshold": 1.2,
        "message": "full_valid_loss 0.84 <= 1.2  pass",
        "op": "<=",
    }
