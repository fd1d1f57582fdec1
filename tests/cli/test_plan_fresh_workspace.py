"""A fresh workspace (nothing applied yet): planning and inspecting leave no trace, no
`.ftctl/state.db` and no on-demand local server (`.ftctl/server`), and an apply that
cannot ask for confirmation refuses before it builds, refreshes or plans anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_plan_cli import ftctl

REPO = Path(__file__).resolve().parents[2]
SOURCE_DATA = REPO / "projects" / "support-triage" / "data"

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: mini, owner: cli@example.com}
spec:
  provider: local
  baseModel: local-tiny
  data:
    train: {sources: [{path: data/train.jsonl}]}
    test: {sources: [{path: data/test.jsonl}]}
  policy:
    minExamples: {value: 10, level: warn}
  training:
    hyperparameters: {nEpochs: 1}
  promote: {alias: prod, when: always}
"""


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A workspace on ftctl's on-demand local server (it would start in .ftctl/server)."""
    (tmp_path / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: fresh}\n"
        "providers:\n  local: {type: local}\n"
    )
    data = tmp_path / "projects" / "mini" / "data"
    data.mkdir(parents=True)
    train = (SOURCE_DATA / "train.jsonl").read_text().splitlines(True)[:20]
    (data / "train.jsonl").write_text("".join(train))
    test = (SOURCE_DATA / "test.jsonl").read_text().splitlines(True)[:4]
    (data / "test.jsonl").write_text("".join(test))
    (tmp_path / "projects" / "mini" / "project.yaml").write_text(PROJECT)
    return tmp_path


def assert_no_trace(root: Path) -> None:
    assert not (root / ".ftctl" / "state.db").exists()
    assert not (root / ".ftctl" / "server").exists()


def test_plan_of_a_fresh_workspace_starts_no_server_and_creates_no_state(fresh: Path) -> None:
    done = ftctl(fresh, "plan", "--detailed-exitcode", "-out", str(fresh / "first.plan"))
    assert done.returncode == 2, done.stderr
    assert "Plan: 1 to upload, 1 to train, 1 to promote, 0 to retire." in done.stdout
    assert "Refreshing" not in done.stderr
    assert_no_trace(fresh)
    # The saved plan is still a plan (for the state its apply will create).
    shown = json.loads(ftctl(fresh, "show", "--json", str(fresh / "first.plan")).stdout)
    assert {c["address"] for c in shown["resource_changes"]} >= {"version.mini.1"}
    assert_no_trace(fresh)


def test_apply_without_a_terminal_refuses_before_planning(fresh: Path) -> None:
    done = ftctl(fresh, "apply")
    assert done.returncode == 1
    assert "Refusing to ask for confirmation without a terminal" in done.stderr
    assert "Plan:" not in done.stdout  # nothing was built, refreshed or planned
    assert_no_trace(fresh)


def test_show_and_output_of_a_fresh_workspace_create_no_state(fresh: Path) -> None:
    assert "The state is empty" in ftctl(fresh, "show").stdout
    assert json.loads(ftctl(fresh, "show", "--json").stdout)["versions"] == []
    output = ftctl(fresh, "output", "mini")
    assert output.returncode == 1 and "alias.mini.prod is not in the state" in output.stderr
    assert_no_trace(fresh)
