"""Loading a workspace: what others code against, and problems across several files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftctl.config.loader import load_project_file, load_workspace, read_workspace
from ftctl.errors import ConfigError

from .conftest import PROJECT_YAML, WORKSPACE_YAML, write_project


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_valid_workspace_loads_with_resolved_paths_and_source_map(workspace: Path) -> None:
    loaded = load_workspace(workspace)

    assert loaded.root == workspace.resolve()
    assert loaded.path == workspace.resolve() / "ftctl.yaml"
    assert [p.name for p in loaded.projects] == ["demo"]
    project = loaded.project("demo")
    assert project.path == workspace.resolve() / "projects/demo/project.yaml"
    assert project.dir == project.path.parent
    assert project.provider_name == "local"
    assert project.model.spec.base_model == "local-tiny"
    assert project.model.spec.training.hyperparameters.n_epochs == 3
    # YAML keys and Python attribute names both locate the same line.
    assert project.source_map.locate(("spec", "baseModel")) == (8, 3)
    assert project.source_map.locate(("spec", "base_model")) == (8, 3)
    assert project.source_map.locate(("spec", "data", "train", "sources", 0, "path")) == (12, 11)
    # An unwritten field (a default) is placed at its nearest written parent.
    assert project.source_map.locate(("spec", "lifecycle", "keepVersions")) == (6, 1)
    assert loaded.source_map is not None
    assert loaded.source_map.locate(("defaults", "provider")) == (12, 3)


def test_unknown_project_name_suggests_the_closest(workspace: Path) -> None:
    loaded = load_workspace(workspace)
    with pytest.raises(ConfigError, match="no project named 'dmeo'") as raised:
        loaded.project("dmeo")
    assert raised.value.diagnostics[0].hint == "did you mean 'demo'?"


def test_every_problem_in_every_file_is_reported(workspace: Path) -> None:
    _edit(workspace / "ftctl.yaml", "name: ws", "name: Bad Name")
    _edit(workspace / "projects/demo/project.yaml", "nEpochs: 3", "nEpochs: many")
    _edit(workspace / "projects/demo/project.yaml", "maxRefusalRatio: 0.2", "maxRefusalRatio: 7")
    write_project(
        workspace, "other", PROJECT_YAML.replace("name: demo", "name: other") + "extra: 1\n"
    )

    with pytest.raises(ConfigError) as raised:
        load_workspace(workspace)

    places = {(d.file, d.line, d.field) for d in raised.value.diagnostics}
    assert places == {
        ("ftctl.yaml", 5, "metadata.name"),
        ("projects/demo/project.yaml", 21, "spec.policy.maxRefusalRatio"),
        ("projects/demo/project.yaml", 26, "spec.training.hyperparameters.nEpochs"),
        ("projects/other/project.yaml", 33, "extra"),
    }
    assert raised.value.message == "4 error(s) in configuration"
    assert "projects/other/project.yaml:33:1: error: extra: unknown key 'extra'" in str(
        raised.value
    )


def test_duplicate_project_names_point_at_both_files(workspace: Path) -> None:
    write_project(workspace, "copy", PROJECT_YAML)  # also says `name: demo`

    report = read_workspace(workspace)

    assert [str(d) for d in report.diagnostics] == [
        "projects/demo/project.yaml:5:9: error: metadata.name: duplicate project name 'demo' "
        "(also declared in projects/copy/project.yaml:5)"
    ]


def test_provider_defaults_to_the_workspace_default(workspace: Path) -> None:
    _edit(workspace / "ftctl.yaml", "provider: local", "provider: openai")
    _edit(workspace / "projects/demo/project.yaml", "  provider: local\n", "")

    assert load_workspace(workspace).project("demo").provider_name == "openai"


def test_provider_defaults_to_the_only_provider(workspace: Path) -> None:
    (workspace / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: ws}\n"
        "providers:\n  mine: {type: openai, baseUrl: 'http://127.0.0.1:9/v1'}\n"
    )
    _edit(workspace / "projects/demo/project.yaml", "  provider: local\n", "")

    assert load_workspace(workspace).project("demo").provider_name == "mine"


def test_no_provider_when_several_and_no_default(workspace: Path) -> None:
    _edit(workspace / "ftctl.yaml", "defaults:\n  provider: local\n", "")
    _edit(workspace / "projects/demo/project.yaml", "  provider: local\n", "")

    report = read_workspace(workspace)

    assert len(report.diagnostics) == 1
    diagnostic = report.diagnostics[0]
    assert (diagnostic.line, diagnostic.field) == (6, "spec.provider")
    assert "providers: local, openai" in diagnostic.message


def test_missing_workspace_file_names_the_directory_and_ftctl_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_workspace(tmp_path)
    text = str(raised.value)
    assert f"{tmp_path.resolve()} is not an ftctl workspace" in text
    assert "ftctl init" in text


def test_only_loads_the_selected_projects(workspace: Path) -> None:
    write_project(workspace, "broken", "apiVersion: ftctl/v1\nkind: FineTuneProject\n")

    with pytest.raises(ConfigError, match="metadata"):
        load_workspace(workspace)
    assert [p.name for p in load_workspace(workspace, only=["demo"]).projects] == ["demo"]
    by_path = load_workspace(workspace, only=[str((workspace / "projects/demo").resolve())])
    assert [p.name for p in by_path.projects] == ["demo"]
    with pytest.raises(ConfigError) as raised:
        load_workspace(workspace, only=["deom"])
    assert raised.value.diagnostics[0].hint == "did you mean 'demo'?"


def test_projects_of_an_invalid_workspace_file_are_still_checked(workspace: Path) -> None:
    _edit(workspace / "ftctl.yaml", "kind: Workspace", "kind: Workspaces")
    _edit(workspace / "projects/demo/project.yaml", "baseModel", "baseModl")

    report = read_workspace(workspace)

    assert report.workspace is None
    assert sorted(d.file for d in report.diagnostics) == [
        "ftctl.yaml",
        "projects/demo/project.yaml",
    ]
    assert report.diagnostics[0].hint == "did you mean 'Workspace'?"


def test_glob_sources_and_yaml_1_2_scalars(workspace: Path) -> None:
    data = workspace / "projects/demo/data"
    shutil.copy(data / "train.jsonl", data / "train-2.jsonl")
    _edit(
        workspace / "projects/demo/project.yaml",
        "path: data/train.jsonl",
        "path: data/train*.jsonl",
    )
    # `off` is a string (YAML 1.2), not false; a date-like rev stays a string.
    _edit(
        workspace / "projects/demo/project.yaml",
        "    requireSystemPrompt: consistent\n",
        "    requireSystemPrompt: off\n    leakage: {level: off}\n",
    )
    _edit(
        workspace / "projects/demo/project.yaml",
        "        - path: data/test.jsonl",
        "        - path: data/test.jsonl\n        - git: {rev: 2024-01-01, path: data/old.jsonl}",
    )

    project = load_workspace(workspace).project("demo")

    policy = project.model.spec.policy
    assert policy.require_system_prompt.mode == "off"
    assert policy.leakage.level == "off"
    git_source = project.model.spec.data.test.sources[1]  # type: ignore[union-attr]
    assert git_source.git.rev == "2024-01-01"  # type: ignore[union-attr]


def test_load_project_file(workspace: Path) -> None:
    path = workspace / "projects/demo/project.yaml"
    project = load_project_file(path, workspace)
    assert (project.name, project.provider_name) == ("demo", "local")

    _edit(path, "provider: local", "provider: nowhere")
    with pytest.raises(ConfigError) as raised:
        load_project_file(path, workspace)
    assert [(d.line, d.field) for d in raised.value.diagnostics] == [(7, "spec.provider")]


def test_workspace_yaml_of_the_fixture_is_the_default_layout() -> None:
    # Guards the line numbers the tests above rely on.
    assert WORKSPACE_YAML.splitlines()[11] == "  provider: local"
    assert PROJECT_YAML.splitlines()[7] == "  baseModel: local-tiny"


def test_project_file_symlinked_from_outside_is_an_error(workspace: Path, tmp_path: Path) -> None:
    outside = write_project(tmp_path / "elsewhere", "stranger")
    (workspace / "projects/stranger").mkdir()
    (workspace / "projects/stranger/project.yaml").symlink_to(outside / "project.yaml")

    report = read_workspace(workspace)

    assert [(d.file, d.line) for d in report.diagnostics] == [
        ("projects/stranger/project.yaml", None)
    ]
    assert "outside the workspace" in report.diagnostics[0].message
    assert [p.name for p in report.projects] == ["demo"]
