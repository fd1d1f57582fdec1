"""`ftctl init` then `ftctl validate`, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from ftctl.config.loader import load_workspace
from ftctl.scaffold.starter import init_project

from ..support.cli import run_ftctl

pytestmark = pytest.mark.e2e

MODELINE = "# yaml-language-server: $schema=../../schemas/project.schema.json"


def ftctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ftctl("--no-color", *args, cwd=cwd, env=_env())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTCTL_")}
    env["COLUMNS"] = "200"  # keep diagnostics on one line each
    return env


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh directory after `ftctl init support-bot`."""
    root = tmp_path_factory.mktemp("fresh")
    result = ftctl(root, "init", "support-bot")
    assert result.returncode == 0, result.stderr
    assert "projects/support-bot/project.yaml" in result.stdout
    return root


def test_init_creates_a_workspace_and_a_valid_project(initialised: Path) -> None:
    root = initialised
    project_text = (root / "projects/support-bot/project.yaml").read_text()
    assert project_text.splitlines()[0] == MODELINE
    project = yaml.safe_load(project_text)
    assert project["spec"]["baseModel"] == "local-tiny"
    assert project["spec"]["provider"] == "local"
    workspace = yaml.safe_load((root / "ftctl.yaml").read_text())
    assert workspace["defaults"]["provider"] == "local"
    assert workspace["providers"]["local"]["type"] == "local"
    assert workspace["state"]["backend"] == "sqlite"
    assert ".ftctl/" in (root / ".gitignore").read_text().splitlines()

    train = (root / "projects/support-bot/data/train.jsonl").read_text().splitlines()
    test = (root / "projects/support-bot/data/test.jsonl").read_text().splitlines()
    assert len(train) >= 12 and len(test) >= 1
    assert all(json.loads(line)["messages"][-1]["role"] == "assistant" for line in train + test)

    # The schemas written next to the project accept it (what an editor will check).
    schema = json.loads((root / "schemas/project.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(project)) == []


def test_validate_passes_right_after_init(initialised: Path) -> None:
    result = ftctl(initialised, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid: ftctl.yaml and 1 project(s): support-bot." in result.stdout

    as_json = ftctl(initialised, "validate", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {
        "valid": True,
        "diagnostics": [],
        "projects": [
            {
                "name": "support-bot",
                "path": "projects/support-bot/project.yaml",
                "provider": "local",
                "valid": True,
            }
        ],
    }


def test_init_refuses_to_overwrite_and_checks_the_name(initialised: Path) -> None:
    before = (initialised / "projects/support-bot/project.yaml").read_text()

    again = ftctl(initialised, "init", "support-bot")
    assert again.returncode == 1
    assert "project 'support-bot' already exists" in again.stderr
    assert (initialised / "projects/support-bot/project.yaml").read_text() == before

    bad = ftctl(initialised, "init", "Support_Bot")
    assert bad.returncode == 1
    assert "invalid project name 'Support_Bot'" in bad.stderr
    assert not (initialised / "projects/Support_Bot").exists()


def test_broken_project_is_reported_with_file_line_and_exit_1(tmp_path: Path) -> None:
    init_project(tmp_path, "good")
    init_project(tmp_path, "bad")
    bad = tmp_path / "projects/bad/project.yaml"
    lines = bad.read_text().splitlines()
    line_no = lines.index("  baseModel: local-tiny") + 1
    lines[line_no - 1] = "  baseModel: [local-tiny"  # unclosed flow sequence
    bad.write_text("\n".join(lines) + "\n")

    result = ftctl(tmp_path, "validate")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("projects/bad/project.yaml:")
    assert ": error: YAML syntax error:" in first
    assert f"started on line {line_no}" in first
    assert "Invalid: 1 error(s) in 1 file(s); 1 of 2 project(s) valid." in result.stdout

    as_json = json.loads(ftctl(tmp_path, "--json", "validate").stdout)
    assert as_json["valid"] is False
    (diagnostic,) = as_json["diagnostics"]
    assert diagnostic["file"] == "projects/bad/project.yaml"
    assert diagnostic["severity"] == "error"
    assert [(p["path"], p["valid"]) for p in as_json["projects"]] == [
        ("projects/bad/project.yaml", False),
        ("projects/good/project.yaml", True),
    ]

    # Naming the good project validates only it.
    only_good = ftctl(tmp_path, "validate", "projects/good")
    assert only_good.returncode == 0, only_good.stdout


def test_schema_error_names_file_line_column_and_field(tmp_path: Path) -> None:
    init_project(tmp_path, "demo")
    project = tmp_path / "projects/demo/project.yaml"
    text = project.read_text().replace("nEpochs: 3", "nEpochs: 0")
    project.write_text(text)
    line_no = text.splitlines().index(
        "    hyperparameters: {nEpochs: 0, batchSize: auto, learningRateMultiplier: auto}"
    )

    result = ftctl(tmp_path, "validate")

    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"projects/demo/project.yaml:{line_no + 1}:32: error: "
        "spec.training.hyperparameters.nEpochs: nEpochs must be between 1 and 50, or auto"
    )


def test_validate_outside_a_workspace_suggests_init(tmp_path: Path) -> None:
    result = ftctl(tmp_path, "validate")
    assert result.returncode == 1
    assert f"{tmp_path.resolve()} is not an ftctl workspace" in result.stdout
    assert "ftctl init" in result.stdout


def test_init_in_an_existing_workspace_keeps_its_files(tmp_path: Path) -> None:
    root = tmp_path / "My Repo"
    root.mkdir()
    workspace_text = (
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: mine}\n"
        "providers:\n  cloud: {type: openai}\n"
    )
    (root / "ftctl.yaml").write_text(workspace_text)
    (root / ".gitignore").write_text("*.pyc")

    result = init_project(root, "bot")

    assert not result.workspace_created
    assert (root / "ftctl.yaml").read_text() == workspace_text
    assert (
        root / ".gitignore"
    ).read_text() == "*.pyc\n# ftctl: local state, dataset cache and local server data\n.ftctl/\n"
    assert (root / "schemas/project.schema.json").is_file()
    # The starter project names the `local` provider, which this workspace lacks: say so.
    assert [(d.file, d.field) for d in result.problems] == [
        ("projects/bot/project.yaml", "spec.provider")
    ]
    assert "unknown provider 'local'" in result.problems[0].message


def test_init_names_a_new_workspace_after_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "My Repo"
    result = init_project(root, "bot")

    assert result.workspace_created and result.problems == ()
    loaded = load_workspace(root)
    assert loaded.model.metadata.name == "my-repo"
    assert loaded.project("bot").provider_name == "local"
