"""Messages as a user reads them: no doubled quotes, no contradictory hints, warnings on
stderr only, Terraform's words for destroy, "price unknown" where ftctl has no price."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..support.cli import run_ftctl

ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {"NO_COLOR": "1"}


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    run_ftctl("init", "demo", workspace=tmp_path, check=0)
    return tmp_path


def test_the_api_key_hint_names_the_provider_plainly(starter: Path) -> None:
    workspace = starter / "ftctl.yaml"
    workspace.write_text(
        workspace.read_text().replace(
            "providers:\n", "providers:\n  openai: {type: openai, apiKeyEnv: OPENAI_API_KEY}\n", 1
        )
    )
    project = starter / "projects/demo/project.yaml"
    project.write_text(
        project.read_text()
        .replace("provider: local", "provider: openai")
        .replace("baseModel: local-tiny", "baseModel: gpt-4o-mini-2024-07-18")
    )
    done = run_ftctl("validate", workspace=starter, env=ENV)
    output = done.stdout + done.stderr
    assert "export OPENAI_API_KEY with the API key of provider 'openai'" in output
    assert "''s" not in output


def test_too_few_examples_does_not_recommend_the_minimum_itself(starter: Path) -> None:
    train = starter / "projects/demo/data/train.jsonl"
    train.write_text("".join(train.read_text().splitlines(True)[:5]))
    done = run_ftctl("validate", workspace=starter, env=ENV)
    assert done.returncode == 1
    assert "fine-tuning needs at least 10" in done.stdout
    assert "recommended: 10" not in done.stdout


def test_a_model_without_a_token_price_says_price_unknown(starter: Path) -> None:
    train = starter / "projects/demo/data/train.jsonl"
    done = run_ftctl("data", "stats", str(train), "--model", "o4-mini-2025-04-16", env=ENV)
    assert "price unknown" in done.stdout
    assert "not billed per token" not in done.stdout + done.stderr


def test_plan_warnings_go_to_stderr_only_and_once(starter: Path) -> None:
    done = run_ftctl("plan", "--target", "alias.demo.staging", workspace=starter, env=ENV)
    assert done.returncode == 0, done.stderr
    warning = "Warning: Target alias.demo.staging matches no planned change."
    assert done.stderr.count(warning) == 1
    assert "Warning" not in done.stdout
    as_json = run_ftctl("plan", "--json", "--target", "alias.demo.staging", workspace=starter)
    assert (
        "Target alias.demo.staging matches no planned change."
        in json.loads(as_json.stdout)["warnings"]
    )
