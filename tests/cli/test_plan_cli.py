"""plan/apply/show/output through the CLI without training: bad input and saved plans."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ..support.cli import run_ftctl

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: cli}
providers:
  local: {type: local, baseUrl: 'http://127.0.0.1:9/v1'}
"""

BROKEN_PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: broken}
spec:
  baseModel: local-tiny
  data:
    train: {sources: [{path: data/train.jsonl}]}
  training:
    hyperparameters: {nEpoch: 3}
"""


def ftctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess on workspace `root`, colourless and without a terminal
    (test_plan_fresh_workspace.py runs it too)."""
    return run_ftctl(*args, workspace=root, env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    project = tmp_path / "projects" / "broken"
    (project / "data").mkdir(parents=True)
    (project / "project.yaml").write_text(BROKEN_PROJECT)
    return tmp_path


def test_plan_of_a_broken_project_names_file_line_and_field_and_writes_nothing(
    broken: Path,
) -> None:
    done = ftctl(broken, "--json", "plan")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    located = [d for d in error["diagnostics"] if d["file"].endswith("project.yaml")]
    assert located and located[0]["line"] == 9
    assert "nEpoch" in located[0]["field"] + located[0]["message"]
    assert not (broken / ".ftctl" / "state.db").exists()


def test_apply_of_a_missing_or_foreign_plan_file_is_refused(broken: Path) -> None:
    missing = ftctl(broken, "apply", "nothing.plan")
    assert missing.returncode == 1 and "no such plan file" in missing.stderr
    foreign = broken / "other.plan"
    foreign.write_text(json.dumps({"format_version": 7, "resource_changes": []}))
    refused = ftctl(broken, "apply", str(foreign))
    assert refused.returncode == 1 and "format_version 7" in refused.stderr


def test_output_without_a_promoted_model_exits_1(tmp_path: Path) -> None:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    done = ftctl(tmp_path, "output", "support-bot")
    assert done.returncode == 1
    assert done.stdout == ""
    # No such project in the configuration or the state: said so, not "nothing promoted yet?"
    assert "no project 'support-bot' in the configuration or the state" in done.stderr
    assert "The state is empty" in ftctl(tmp_path, "show").stdout
