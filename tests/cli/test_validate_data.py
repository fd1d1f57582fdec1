"""`ftctl validate --json`: a project whose data fails its policy is not listed as valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftctl.scaffold.starter import init_project

pytestmark = pytest.mark.e2e


def test_a_project_whose_data_fails_its_policy_is_invalid_in_json(tmp_path: Path) -> None:
    init_project(tmp_path, "good")
    init_project(tmp_path, "broken")
    train = tmp_path / "projects/broken/data/train.jsonl"
    empty_answer = {
        "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": ""}]
    }
    with train.open("a") as handle:  # policy.emptyAnswers is an error by default
        handle.write(json.dumps(empty_answer) + "\n")

    result = subprocess.run(
        [sys.executable, "-m", "ftctl", "--no-color", "--json", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("FTCTL_")},
    )

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is False
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert errors and all(d["file"].startswith("projects/broken/data/") for d in errors)
    assert [(p["name"], p["valid"]) for p in report["projects"]] == [
        ("broken", False),
        ("good", True),
    ]
