"""The typed plan contract: closed actions, reason codes, and what a plan file may say."""

from __future__ import annotations

from typing import Any

import plan_factories as f
import pytest

from ftctl.errors import PlanError
from ftctl.plan.changes import Plan
from ftctl.plan.reasons import Reason, ReasonCode


def _plan_dict() -> dict[str, Any]:
    return f.plan([f.project()], f.state(serial=0)).to_dict()


def _version_change(data: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in data["resource_changes"] if c["address"].startswith("version."))


def test_every_reason_code_has_display_text() -> None:
    for code in ReasonCode:
        text = Reason.of(
            code, version=3, job_id="ftjob-1", keep=2, model_id="m", name="bot-prod"
        ).text
        assert text and "None" not in text, code


def test_a_plan_file_with_an_unknown_action_is_refused() -> None:
    data = _plan_dict()
    _version_change(data)["actions"] = ["create", "teleport"]
    with pytest.raises(PlanError, match="unknown action"):
        Plan.from_dict(data)


def test_a_plan_file_with_an_unknown_reason_code_is_refused() -> None:
    data = _plan_dict()
    _version_change(data)["reason_code"] = "because"
    with pytest.raises(PlanError, match="unknown reason code 'because'"):
        Plan.from_dict(data)


def test_actions_that_do_not_match_the_change_are_refused() -> None:
    # The version's gates are configured: a plan file that drops `gate` but keeps
    # `run_gates` says two things at once.
    data = _plan_dict()
    _version_change(data)["actions"] = ["create", "wait"]
    with pytest.raises(PlanError, match="do not match its fields"):
        Plan.from_dict(data)


def test_invalid_gates_in_a_plan_file_are_refused_when_read_not_when_applied() -> None:
    data = _plan_dict()
    _version_change(data)["after"]["gates_config"] = {"metrics": [{"metric": "nonsense"}]}
    with pytest.raises(PlanError, match="invalid gates"):
        Plan.from_dict(data)
