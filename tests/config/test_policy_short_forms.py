"""A policy check given only a level (`maxNearDuplicateRatio: off`) keeps its threshold."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from ftctl.config.loader import load_workspace
from ftctl.config.models import FineTuneProject
from ftctl.config.schema import build_schema
from ftctl.errors import ConfigError

SHORT_FORMS = """\
    maxRefusalRatio: warn
    maxDuplicateRatio: error
    maxNearDuplicateRatio: off
    minPromptDiversity: false
    minExamples: off
    maxTokensPerExample: warn
    requireSystemPrompt: error
    leakage: warn
    budget: off
"""


def _write_policy(workspace: Path, policy: str) -> Path:
    path = workspace / "projects/demo/project.yaml"
    text = path.read_text()
    old = "    maxRefusalRatio: 0.2\n    requireSystemPrompt: consistent\n"
    assert old in text
    path.write_text(text.replace(old, policy, 1))
    return path


def test_a_bare_level_turns_a_check_on_or_off_and_keeps_its_default_threshold(
    workspace: Path,
) -> None:
    path = _write_policy(workspace, SHORT_FORMS)
    policy = load_workspace(workspace).project("demo").model.spec.policy
    assert (policy.max_refusal_ratio.level, policy.max_refusal_ratio.value) == ("warn", 0.2)
    assert (policy.max_duplicate_ratio.level, policy.max_duplicate_ratio.value) == ("error", 0.01)
    near = policy.max_near_duplicate_ratio
    assert (near.level, near.value) == ("off", 0.05)
    assert (policy.min_prompt_diversity.level, policy.min_prompt_diversity.value) == ("off", 0.5)
    assert (policy.min_examples.level, policy.min_examples.value) == ("off", 50)
    assert (policy.max_tokens_per_example.level, policy.max_tokens_per_example.value) == (
        "warn",
        "auto",
    )
    assert (policy.require_system_prompt.level, policy.require_system_prompt.mode) == (
        "error",
        "consistent",
    )
    assert policy.leakage.level == "warn" and policy.budget is None
    # Editors validate with the published schema: it accepts the same file.
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, build_schema(FineTuneProject))


def test_a_level_object_without_a_value_keeps_the_default_threshold(workspace: Path) -> None:
    _write_policy(workspace, "    maxNearDuplicateRatio: {level: error}\n")
    policy = load_workspace(workspace).project("demo").model.spec.policy
    assert (policy.max_near_duplicate_ratio.level, policy.max_near_duplicate_ratio.value) == (
        "error",
        0.05,
    )


def test_a_misspelt_level_is_still_an_error_with_its_line(workspace: Path) -> None:
    _write_policy(workspace, "    maxNearDuplicateRatio: of\n")
    with pytest.raises(ConfigError) as raised:
        load_workspace(workspace)
    message = str(raised.value)
    assert "project.yaml:21:" in message and "maxNearDuplicateRatio" in message
