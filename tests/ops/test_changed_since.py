"""`plan --changed-since REV` and `diff BASE [HEAD]` on a synthetic git repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import git
import pytest

from ftctl.config.loader import load_workspace
from ftctl.ops.changed import select_changed

from ..support.cli import run_ftctl


def _commit(repo: git.Repo, message: str) -> None:
    repo.git.add(A=True)
    repo.index.commit(message, author=git.Actor("t", "t@example.com"))


def _ftctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ftctl(*args, workspace=root, env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture
def two_commits(tmp_path: Path) -> Path:
    """Two projects; the second commit changes alpha's epochs and gate, and adds a line
    to its training data. beta is untouched."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("alpha", "beta"):
        _ftctl(root, "init", name).check_returncode()
    repo = git.Repo.init(root)
    _commit(repo, "one")
    project = root / "projects" / "alpha" / "project.yaml"
    text = project.read_text().replace("nEpochs: 3", "nEpochs: 4").replace("max: 5.0", "max: 4.0")
    project.write_text(text)
    train = root / "projects" / "alpha" / "data" / "train.jsonl"
    first = train.read_text().splitlines()[0]
    train.write_text(
        train.read_text() + first.replace('"content": "', '"content": "NEW ', 1) + "\n"
    )
    _commit(repo, "two")
    return root


def test_changed_since_plans_exactly_the_changed_project(two_commits: Path) -> None:
    saved = two_commits / ".ftctl" / "pr" / "plan.json"
    done = _ftctl(two_commits, "--json", "plan", "--changed-since", "HEAD~1", "--out", str(saved))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert {c["project"] for c in plan["resource_changes"]} == {"alpha"}
    assert plan["options"]["projects"] == ["alpha"]

    # What the PR workflow posts: the sticky comment of that saved plan.
    out = two_commits / ".ftctl" / "pr" / "comment"
    done = _ftctl(two_commits, "comment", str(saved), "--out-dir", str(out), "--name", "synth")
    assert done.returncode == 0, done.stderr
    (part,) = sorted(out.iterdir())
    body = part.read_text()
    assert body.startswith("<!-- ftctl:comment workspace=synth part=1 -->\n### ftctl plan")
    assert "<code>alpha</code>" in body and "<code>beta</code>" not in body

    # Nothing changed since HEAD: no changes, exit 0 even with --detailed-exitcode.
    done = _ftctl(two_commits, "plan", "--changed-since", "HEAD", "--detailed-exitcode")
    assert done.returncode == 0, done.stderr
    assert "No changes" in done.stdout
    assert "Changed since HEAD" in done.stderr and "none" in done.stderr


def test_selection_follows_data_files_untracked_files_and_the_workspace_file(
    two_commits: Path,
) -> None:
    workspace = load_workspace(two_commits)
    beta_test = two_commits / "projects" / "beta" / "data" / "test.jsonl"
    beta_test.write_text(beta_test.read_text() + beta_test.read_text().splitlines()[0] + "\n")
    selection = select_changed(workspace, "HEAD")
    assert selection.projects == ("beta",)
    assert selection.reasons["beta"] == ("projects/beta/data/test.jsonl",)

    (two_commits / "projects" / "alpha" / "notes.md").write_text("not read by alpha\n")
    assert select_changed(workspace, "HEAD").projects == ("beta",)

    workspace_file = two_commits / "ftctl.yaml"
    workspace_file.write_text(workspace_file.read_text() + "# a comment\n")
    assert select_changed(workspace, "HEAD").projects == ("alpha", "beta")


def test_unknown_revision_is_a_clear_error(two_commits: Path) -> None:
    done = _ftctl(two_commits, "plan", "--changed-since", "no-such-branch")
    assert done.returncode == 1
    assert "unknown git revision 'no-such-branch'" in done.stderr


def test_diff_names_the_changed_fields_and_the_data(two_commits: Path) -> None:
    done = _ftctl(two_commits, "--json", "diff", "HEAD~1", "HEAD")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    changed = [p for p in diff["projects"] if p["status"] != "unchanged"]
    assert [p["name"] for p in changed] == ["alpha"]
    alpha = changed[0]
    fields = {f["path"]: f for f in alpha["fields"]}
    assert set(fields) == {"spec.training.hyperparameters.nEpochs", "spec.gates.metrics[0].max"}
    assert fields["spec.training.hyperparameters.nEpochs"]["before"] == 3
    assert fields["spec.training.hyperparameters.nEpochs"]["after"] == 4
    assert fields["spec.training.hyperparameters.nEpochs"]["forces_new_version"] is True
    assert fields["spec.gates.metrics[0].max"]["forces_new_version"] is False
    assert alpha["new_version"] is True
    train = next(d for d in alpha["data"] if d["split"] in ("train", "validation"))
    assert train["added"] + train["removed"] + train["changed"] >= 1
    assert any("NEW" in s["prompt"] for d in alpha["data"] for s in d["samples"])
    # The temporary checkouts are gone.
    assert len(git.Repo(two_commits).git.worktree("list").splitlines()) == 1
