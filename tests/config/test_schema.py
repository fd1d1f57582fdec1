"""The JSON Schemas: in sync with the models, and accepting what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from ftctl.cli.main import cli
from ftctl.config.loader import load_workspace
from ftctl.config.models import FineTuneProject
from ftctl.config.schema import main, packaged_schema, render_all, stale_files
from ftctl.config.yaml_marks import MarkedLoader

from .conftest import PROJECT_YAML

PROJECT_MODELINE = "# yaml-language-server: $schema=../../schemas/project.schema.json"
WORKSPACE_MODELINE = "# yaml-language-server: $schema=schemas/workspace.schema.json"


def _validator(repo_root: Path, name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((repo_root / "schemas" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=MarkedLoader)  # a SafeLoader subclass


@pytest.mark.parametrize("directory", ["schemas", "src/ftctl/schemas"])
def test_checked_in_schemas_are_up_to_date(repo_root: Path, directory: str) -> None:
    stale = stale_files(repo_root / directory)
    assert stale == [], f"{directory}/{stale} out of date: run `python -m ftctl.config.schema`"


def test_the_installed_package_ships_the_schemas() -> None:
    for name, text in render_all().items():
        assert packaged_schema(name) == text


def test_regenerate_command_writes_and_checks(tmp_path: Path) -> None:
    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    text = (tmp_path / "project.schema.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert '"baseModel"' in text and '"base_model"' not in text


@pytest.mark.parametrize("workspace", [".", "examples/openai", "examples/open-weights"])
def test_example_projects_match_the_schema_and_load(repo_root: Path, workspace: str) -> None:
    root = repo_root / workspace
    up = "../" * len(Path(workspace).parts) if workspace != "." else ""
    projects = sorted(root.glob("projects/*/project.yaml"))
    assert projects, f"no example project under {workspace}/projects/*/project.yaml"
    validator = _validator(repo_root, "project.schema.json")
    modeline = PROJECT_MODELINE.replace("=../../", f"=../../{up}")
    for path in projects:
        text = path.read_text()
        assert text.splitlines()[0] == modeline, f"{path}: modeline missing"
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(_yaml(text))]
        assert errors == [], path

    workspace_text = (root / "ftctl.yaml").read_text()
    assert workspace_text.splitlines()[0] == WORKSPACE_MODELINE.replace("=schemas", f"={up}schemas")
    workspace_validator = _validator(repo_root, "workspace.schema.json")
    assert list(workspace_validator.iter_errors(_yaml(workspace_text))) == []
    # The loader agrees with the schema about the examples.
    loaded = load_workspace(root)
    assert len(loaded.projects) == len(projects)


SHORT_FORMS = """\
  policy:
    minExamples: 10
    maxTokensPerExample: 4096
    maxRefusalRatio: 0.1
    maxDuplicateRatio: {value: 0.02, level: error}
    requireSystemPrompt: required
    leakage: off
    secrets: true
    budget: {maxCostUsd: 5}
"""


def test_schema_and_models_accept_the_same_short_forms(repo_root: Path) -> None:
    text = PROJECT_YAML.replace(
        "  policy:\n    maxRefusalRatio: 0.2\n    requireSystemPrompt: consistent\n", SHORT_FORMS
    )
    data = _yaml(text)
    validator = _validator(repo_root, "project.schema.json")

    assert list(validator.iter_errors(data)) == []
    policy = FineTuneProject.model_validate(data, by_alias=True, by_name=False).spec.policy
    assert (policy.min_examples.value, policy.max_tokens_per_example.value) == (10, 4096)
    assert policy.leakage.level == "off" and policy.secrets.level == "error"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("maxRefusalRatio: 0.2", "maxRefusalRatio: lots"),
        ("requireSystemPrompt: consistent", "requireSystemPrompt: sometimes"),
        ("baseModel: local-tiny", "baseModle: local-tiny"),
        ("nEpochs: 3", "n_epochs: 3"),
    ],
)
def test_schema_and_models_reject_the_same_mistakes(repo_root: Path, old: str, new: str) -> None:
    data = _yaml(PROJECT_YAML.replace(old, new))
    assert list(_validator(repo_root, "project.schema.json").iter_errors(data))
    with pytest.raises(ValueError):
        FineTuneProject.model_validate(data, by_alias=True, by_name=False)


def test_schema_command_prints_and_writes(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["--workspace", str(tmp_path), "schema", "project"])
    assert printed.exit_code == 0
    assert printed.output == render_all()["project.schema.json"]

    both = runner.invoke(cli, ["--workspace", str(tmp_path), "schema"])
    assert sorted(json.loads(both.output)) == ["project.schema.json", "workspace.schema.json"]

    written = runner.invoke(cli, ["--workspace", str(tmp_path), "schema", "--write"])
    assert written.exit_code == 0
    assert stale_files(tmp_path / "schemas") == []
