"""What a version was built from, recorded when its job is created (`VersionRecord.build`).

The state already holds the hashes of the canonical data; this adds what an auditor
traces them back to: the project file (path, SHA-256, git blob id), the workspace's git
commit and whether the tree was dirty, and each data source: a `path:` file with its
SHA-256 and git blob id, a `git:` source with the revision as written, the commit it
resolved to and the blob id at that commit. Computed from the files and the repository
as they are at apply time, so it says what the job was really given (a dirty tree
included), not what some commit holds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftctl.config.models import GitSource, InlineSource, PathSource, SplitData

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedProject, LoadedWorkspace

GLOB_CHARS = frozenset("*?[")


def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob (`git hash-object`), repository or not."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def build_record(
    workspace: LoadedWorkspace,
    project: LoadedProject,
    *,
    who: str,
    git_commit: str | None,
) -> dict[str, Any]:
    """The build record of `project` as it is on disk now (plain JSON)."""
    repo = _repo(workspace.root)
    config = project.path.read_bytes()
    record: dict[str, Any] = {
        "config_file": _shown(workspace.root, project.path),
        "config_sha256": hashlib.sha256(config).hexdigest(),
        "config_git_blob": git_blob_id(config),
        "git_commit": git_commit,
        "git_dirty": _dirty(repo, [project.dir, workspace.path]),
        "who": who,
        "sources": {},
    }
    data = project.model.spec.data
    splits: dict[str, SplitData] = {"train": data.train}
    if isinstance(data.validation, SplitData):
        splits["validation"] = data.validation
    if data.test is not None:
        splits["test"] = data.test
    for split, spec in splits.items():
        record["sources"][split] = [
            entry
            for index, source in enumerate(spec.sources)
            for entry in _source(workspace, project, repo, index, source)
        ]
    if repo is not None:
        repo.close()
    return record


def _source(
    workspace: LoadedWorkspace,
    project: LoadedProject,
    repo: Any,
    index: int,
    source: PathSource | GitSource | InlineSource,
) -> list[dict[str, Any]]:
    if isinstance(source, InlineSource):
        return [{"kind": "inline", "index": index, "rows": len(source.inline)}]
    if isinstance(source, PathSource):
        return [
            {
                "kind": "path",
                "path": _shown(workspace.root, path),
                "sha256": hashlib.sha256(data).hexdigest(),
                "git_blob": git_blob_id(data),
            }
            for path, data in _path_files(project.dir, source.path)
        ]
    entry: dict[str, Any] = {"kind": "git", "rev": source.git.rev, "path": source.git.path}
    if repo is None:
        return [entry]
    try:
        commit = repo.commit(source.git.rev)
        work_tree = Path(str(repo.working_tree_dir)).resolve()
        wanted = Path(os.path.normpath(project.dir.resolve() / source.git.path))
        blob = commit.tree / wanted.relative_to(work_tree).as_posix()
        data: bytes = blob.data_stream.read()
    except Exception:  # the build reports a bad revision or path; here it stays unresolved
        return [entry]
    entry.update(
        commit=str(commit.hexsha),
        repo_path=wanted.relative_to(work_tree).as_posix(),
        git_blob=str(blob.hexsha),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return [entry]


def _path_files(project_dir: Path, pattern: str) -> list[tuple[Path, bytes]]:
    if GLOB_CHARS & set(pattern):
        paths = sorted(p for p in project_dir.glob(pattern) if p.is_file())
    else:
        candidate = Path(os.path.normpath(project_dir / pattern))
        paths = [candidate] if candidate.is_file() else []
    return [(p, p.read_bytes()) for p in paths]


def _shown(root: Path, path: Path) -> str:
    """Workspace-relative when inside the workspace (as the build shows files)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _repo(root: Path) -> Any:
    try:
        import git

        return git.Repo(root, search_parent_directories=True)
    except Exception:  # not a repository (or git missing): no commit, no dirty flag
        return None


def _dirty(repo: Any, paths: list[Path]) -> bool | None:
    """Uncommitted changes (staged, unstaged or untracked files) under `paths`; None
    outside a repository."""
    if repo is None:
        return None
    try:
        work_tree = Path(str(repo.working_tree_dir)).resolve()
        inside = [p.resolve().relative_to(work_tree).as_posix() for p in paths]
        return any(
            repo.is_dirty(index=True, working_tree=True, untracked_files=True, path=p)
            for p in inside
        )
    except Exception:  # e.g. a path outside the repository: unknown rather than wrong
        return None
