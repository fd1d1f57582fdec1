"""`defaults.policy` in ftctl.yaml: a project's effective policy is the workspace's,
overlaid by the keys the project writes (what the dataset engine reads)."""

from __future__ import annotations

from pathlib import Path

from ftctl.config.loader import load_workspace
from ftctl.config.models import Policy

WORKSPACE_DEFAULTS = """\
defaults:
  provider: local
  policy:
    minExamples: 20
    maxRefusalRatio: {value: 0.1, level: error}
    maxDuplicateRatio: 0.05
    emptyAnswers: "off"
    budget: {maxCostUsd: 25}
"""

PROJECT_POLICY = """\
  policy:
    maxRefusalRatio: 0.2
    requireSystemPrompt: consistent
"""


def _with_defaults(workspace: Path) -> None:
    path = workspace / "ftctl.yaml"
    text = path.read_text()
    assert "defaults:\n  provider: local\n" in text
    path.write_text(text.replace("defaults:\n  provider: local\n", WORKSPACE_DEFAULTS))


def _project_policy(workspace: Path, policy: str) -> None:
    path = workspace / "projects/demo/project.yaml"
    text = path.read_text()
    assert PROJECT_POLICY in text
    path.write_text(text.replace(PROJECT_POLICY, policy))


def _policy(workspace: Path) -> Policy:
    return load_workspace(workspace).project("demo").model.spec.policy


def test_project_keys_win_and_the_rest_comes_from_the_workspace(workspace: Path) -> None:
    _with_defaults(workspace)

    policy = _policy(workspace)

    # Written in the project: its check replaces the workspace's whole (what the short
    # form leaves out, the level, is the model's default, not the workspace's).
    assert policy.max_refusal_ratio.value == 0.2
    assert policy.max_refusal_ratio.level == "warn"
    assert policy.require_system_prompt.mode == "consistent"
    # Not written in the project: the workspace's.
    assert policy.min_examples.value == 20
    assert policy.max_duplicate_ratio.value == 0.05
    assert policy.empty_answers.level == "off"
    assert policy.budget is not None and policy.budget.max_cost_usd == 25
    # Written nowhere: the model's default.
    assert policy.max_near_duplicate_ratio.value == 0.05
    assert policy.leakage.level == "error"


def test_project_without_policy_gets_the_workspace_policy(workspace: Path) -> None:
    _with_defaults(workspace)
    _project_policy(workspace, "")

    policy = _policy(workspace)

    assert policy.min_examples.value == 20
    assert policy.max_refusal_ratio.value == 0.1
    assert policy.max_refusal_ratio.level == "error"


def test_project_replaces_a_whole_check_and_can_drop_the_budget(workspace: Path) -> None:
    _with_defaults(workspace)
    _project_policy(
        workspace,
        "  policy:\n"
        "    minExamples: {value: 100, level: error}\n"
        "    emptyAnswers: warn\n"
        "    budget: null\n",
    )

    policy = _policy(workspace)

    assert (policy.min_examples.value, policy.min_examples.level) == (100, "error")
    assert policy.empty_answers.level == "warn"
    assert policy.budget is None  # an explicit null turns the workspace budget off
    assert policy.max_refusal_ratio.value == 0.1


def test_without_workspace_defaults_the_project_policy_is_unchanged(workspace: Path) -> None:
    policy = _policy(workspace)

    assert policy.max_refusal_ratio.value == 0.2
    assert policy.min_examples.value == 50  # the model default
    assert policy.budget is None
