from __future__ import annotations

from ftctl.config.models import Gates
from ftctl.gates.describe import describe_gates


def test_plan_one_liners_for_every_kind_of_gate() -> None:
    gates = Gates.model_validate(
        {
            "metrics": [
                {"metric": "full_valid_loss", "max": 1.2},
                {"metric": "valid_mean_token_accuracy", "min": 0.6, "max": 0.99},
            ],
            "evals": {
                "dataset": "validation",
                "baseline": "alias:prod",
                "graders": [{"type": "exact_match"}, {"type": "refusal", "max": 0.05}],
                "pass": {"minPassRate": 0.9, "minWinRate": 0.5},
            },
        }
    )
    assert describe_gates(gates) == [
        "full_valid_loss <= 1.2",
        "valid_mean_token_accuracy >= 0.6",
        "valid_mean_token_accuracy <= 0.99",
        "validation pass rate >= 0.9",
        "win rate vs prod >= 0.5",
        "refusal rate <= 0.05",
    ]


def test_baselines_and_evals_without_thresholds() -> None:
    base = Gates.model_validate(
        {
            "evals": {
                "baseline": "base",
                "graders": [{"type": "regex", "pattern": "x"}],
                "pass": {"minWinRate": 0.6},
            }
        }
    )
    assert describe_gates(base) == ["win rate vs base >= 0.6"]
    model = Gates.model_validate(
        {
            "evals": {
                "baseline": "ft:gpt-4o-mini:acme::abc",
                "graders": [{"type": "exact_match"}],
                "pass": {"minWinRate": 0.5},
            }
        }
    )
    assert describe_gates(model) == ["win rate vs ft:gpt-4o-mini:acme::abc >= 0.5"]
    report_only = Gates.model_validate({"evals": {"graders": [{"type": "exact_match"}]}})
    assert describe_gates(report_only) == ["test evals (exact_match) reported, no threshold"]
    assert describe_gates(Gates()) == []
