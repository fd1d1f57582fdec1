"""Projects on open-weights (`hf:`) base models: what validate and the data build say when the
model or the `train` extra is missing, and where adapter settings are allowed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftctl.catalog import hf
from ftctl.config.loader import load_workspace
from ftctl.datasets.build import build_project
from ftctl.datasets.validation import validate_project_data

from ..support.cli import run_ftctl
from ..support.hf_tiny import write_workspace


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    return tmp_path / "empty-cache"


def _project(root: Path) -> tuple[object, object]:
    workspace = load_workspace(root)
    return workspace.projects[0], workspace


def test_a_model_not_downloaded_fails_validate_and_warns_in_the_build(
    tmp_path: Path, offline_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf, "missing_train_packages", lambda: [])
    root = write_workspace(tmp_path / "ws", "hf:acme/tiny-chat@v2")
    project, workspace = _project(root)

    found = validate_project_data(project, workspace)  # type: ignore[arg-type]
    built = build_project(project, workspace)  # type: ignore[arg-type]

    errors = [d for d in found if d.severity == "error"]
    assert [(d.file, d.line, d.field) for d in errors] == [
        ("projects/triage/project.yaml", 6, "spec.baseModel")
    ]
    assert "hf download acme/tiny-chat --revision v2" in errors[0].message
    # plan builds the same data offline: a warning, token counts estimated.
    assert [d.severity for d in built.diagnostics if d.field == "spec.baseModel"] == ["warning"]
    assert built.splits["train"].tokens > 0


def test_without_the_train_extra_validate_names_the_install_command(
    tmp_path: Path, offline_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf, "missing_train_packages", lambda: ["torch", "trl"])
    root = write_workspace(tmp_path / "ws", "hf:acme/tiny-chat")
    project, workspace = _project(root)

    found = validate_project_data(project, workspace)  # type: ignore[arg-type]

    errors = [d for d in found if d.severity == "error"]
    assert len(errors) == 1 and errors[0].field == "spec.baseModel"
    assert "pip install 'ftctl[train]'" in errors[0].message
    assert "torch, trl not installed" in errors[0].message


def test_adapter_settings_are_refused_for_other_models(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", "local-tiny")

    result = run_ftctl("--no-color", "validate", cwd=root)

    assert result.returncode == 1
    assert (
        "projects/triage/project.yaml:20:5: error: spec.training.adapter: adapter settings "
        "apply only to open-weights base models"
    ) in result.stdout + result.stderr


def test_reinforcement_on_an_hf_model_is_refused_by_validate(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", "hf:acme/tiny-chat")
    project_file = root / "projects" / "triage" / "project.yaml"
    text = project_file.read_text().replace(
        "    method: supervised\n",
        "    method: reinforcement\n    grader: {type: string_check, name: c, input: x, "
        "reference: y, operation: eq}\n",
    )
    project_file.write_text(text)

    result = run_ftctl("--no-color", "validate", cwd=root)

    assert result.returncode == 1
    assert (
        "spec.training.method: hf:acme/tiny-chat cannot be fine-tuned with method "
        "'reinforcement' (it supports: supervised, dpo)"
    ) in result.stdout + result.stderr


def test_validate_fails_only_when_the_project_is_named(tmp_path: Path, offline_cache: Path) -> None:
    root = write_workspace(tmp_path / "ws", "hf:acme/tiny-chat")
    env = {**os.environ, "HF_HUB_CACHE": str(offline_cache)}

    everything = run_ftctl("--no-color", "validate", cwd=root, env=env)
    named = run_ftctl("--no-color", "validate", "projects/triage", cwd=root, env=env)

    assert everything.returncode == 0, everything.stdout
    assert "warning: spec.baseModel:" in everything.stdout
    assert named.returncode == 1
    assert "error: spec.baseModel:" in named.stdout
