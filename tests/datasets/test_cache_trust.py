"""A dataset cache committed to the workspace's repository is refused: a pull request could
commit one that makes `ftctl plan` in CI reuse results its data does not give. The build
stops before it reads or writes anything; an ignored cache (the usual case) is used."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git

from ftctl.datasets.build import build_project
from ftctl.errors import DataError

from ..support.cli import run_ftctl
from . import build_helpers as h

DATA = "train:\n  sources: [{path: data/train.jsonl}]\n"


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    h.write_workspace(root, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 20)})
    (root / ".gitignore").write_text(".ftctl/\n", encoding="utf-8")
    repo = git.Repo.init(root)
    repo.index.add([".gitignore", "ftctl.yaml", h.PROJECT_FILE, h.TRAIN_FILE])
    repo.index.commit("the data")
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_an_ignored_cache_is_used(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    first = build_project(*h.load(root))
    messages: list[str] = []
    again = build_project(*h.load(root), lambda event: messages.append(event.message))
    assert again.splits["train"].sha256 == first.splits["train"].sha256
    assert any("data unchanged" in message for message in messages)


def test_a_committed_cache_stops_the_build_before_it_reads_anything(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    build_project(*h.load(root))
    cache = root / ".ftctl" / "cache" / "datasets"
    repo = git.Repo(root)
    repo.git.add("--force", ".ftctl/cache/datasets")  # what a pull request could do
    repo.index.commit("a cache")
    before = _files(cache)

    try:
        build_project(*h.load(root))
    except DataError as error:
        assert error.message == "project 'demo': the dataset cache is committed to the repository"
        (problem,) = error.diagnostics
        assert problem.file.startswith(".ftctl/cache/datasets/")
        assert "tracked by git" in problem.message
        assert "`git rm -r --cached .ftctl/cache/datasets`" in problem.hint
    else:
        raise AssertionError("the build used a committed cache")
    assert _files(cache) == before  # nothing read into it, nothing written

    result = run_ftctl("--no-color", "data", "build", "demo", cwd=root)
    assert result.returncode == 1
    assert "the dataset cache is committed to the repository" in result.stdout + result.stderr

    repo.git.rm("-r", "--cached", "--quiet", ".ftctl/cache/datasets")
    repo.index.commit("no cache")
    assert run_ftctl("--no-color", "data", "build", "demo", cwd=root).returncode == 0


def test_outside_a_repository_the_cache_is_used(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    h.write_workspace(root, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 20)})
    assert subprocess.run(["git", "-C", str(root), "rev-parse"], capture_output=True).returncode
    first = build_project(*h.load(root))
    assert build_project(*h.load(root)).splits["train"].sha256 == first.splits["train"].sha256
