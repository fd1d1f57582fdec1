from __future__ import annotations

import json

from ftctl.config.models import MetricGate
from ftctl.gates.metrics import check_metrics


def gate(**kwargs: object) -> MetricGate:
    return MetricGate.model_validate(kwargs)


def test_bounds_are_checked_and_summarised_one_line_each() -> None:
    gates = [
        gate(metric="full_valid_loss", max=1.2),
        gate(metric="valid_mean_token_accuracy", min=0.6),
    ]
    results = check_metrics(gates, {"full_valid_loss": 0.84, "valid_mean_token_accuracy": 0.55})
    assert [r.message for r in results] == [
        "full_valid_loss 0.84 <= 1.2  pass",
        "valid_mean_token_accuracy 0.55 >= 0.6  fail",
    ]
    assert [r.passed for r in results] == [True, False]
    assert results[1].observed == 0.55 and results[1].threshold == 0.6


def test_a_gate_with_min_and_max_gives_one_result_per_bound() -> None:
    results = check_metrics([gate(metric="train_loss", min=0.05, max=2)], {"train_loss": 0.01})
    assert [(r.op, r.passed) for r in results] == [(">=", False), ("<=", True)]


def test_values_on_the_threshold_pass() -> None:
    results = check_metrics([gate(metric="full_valid_loss", max=1.2)], {"full_valid_loss": 1.2})
    assert results[0].passed


def test_a_missing_metric_fails_with_a_message_not_an_exception() -> None:
    results = check_metrics(
        [gate(metric="full_valid_loss", max=1.2)], {"train_loss": 0.4, "step": 30}
    )
    (result,) = results
    assert not result.passed and result.observed is None
    assert "full_valid_loss <= 1.2  fail: the job did not report this metric" in result.message
    assert "validation split" in result.message
    assert "reported: step, train_loss" in result.message


def test_no_metrics_at_all_and_none_values_fail_every_gate() -> None:
    gates = [gate(metric="valid_loss", max=1.0), gate(metric="train_loss", max=1.0)]
    assert not any(r.passed for r in check_metrics(gates, None))
    assert not any(r.passed for r in check_metrics(gates, {"valid_loss": None, "train_loss": None}))


def test_nan_fails_and_serialises_as_null() -> None:
    (result,) = check_metrics([gate(metric="train_loss", max=1.0)], {"train_loss": float("nan")})
    assert not result.passed and "NaN" in result.message
    assert json.loads(json.dumps(result.to_dict()))["passed"] is False
