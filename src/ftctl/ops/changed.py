"""`plan --changed-since REV`: which projects a change (REV to the work tree) touched.

A project depends on its `project.yaml`, the files its `path:` sources name (globs
included), the files its graders read (`json_schema` schemas), and the workspace's
`ftctl.yaml` (providers, defaults: a change there selects every project). A project is
selected when one of those paths differs between REV and the work tree: modified, added,
deleted or renamed, committed or not, and untracked files that git does not ignore.

`git:` sources are pinned to their own revision and are not matched: moving a branch they
name is not a change of the work tree (plan the project by name to pick it up).
"""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ftctl import __version__
from ftctl.config.loader import WORKSPACE_FILE, LoadedProject, LoadedWorkspace
from ftctl.config.models import JsonSchemaGrader, PathSource, SplitData
from ftctl.errors import PlanError
from ftctl.plan.changes import Plan
from ftctl.plan.savedplan import NO_STATE_LINEAGE
from ftctl.state.store import open_state


@dataclass(frozen=True)
class ChangedSelection:
    """The projects `--changed-since REV` selects, and why (for messages and tests)."""

    rev: str
    commit: str  # the full SHA that REV named
    changed_paths: tuple[str, ...]  # workspace-relative, POSIX
    projects: tuple[str, ...]  # sorted
    reasons: dict[str, tuple[str, ...]]  # project -> the changed paths that selected it


def changed_paths(root: Path, rev: str) -> tuple[str, tuple[str, ...]]:
    """(commit SHA of `rev`, the paths under `root` that differ from it), relative to
    `root`, POSIX-style, sorted."""
    import git  # GitPython: imported here so that plain `plan` does not pay for it

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise PlanError(
            f"--changed-since: the workspace {root} is not in a git repository"
        ) from error
    try:
        commit = repo.commit(rev)
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as error:
        raise PlanError(
            f"--changed-since: unknown git revision {rev!r} in {repo.working_dir} "
            "(in CI, fetch it first: actions/checkout with fetch-depth: 0)"
        ) from error
    repo_root = Path(str(repo.working_tree_dir)).resolve()
    paths: set[str] = set()
    for diff in commit.diff(None):  # the commit's tree vs the work tree (staged or not)
        paths.update(p for p in (diff.a_path, diff.b_path) if p)
    paths.update(repo.untracked_files)
    in_root = _relative_to(sorted(paths), repo_root, root.resolve())
    return str(commit.hexsha), tuple(sorted(in_root))


def _relative_to(paths: Iterable[str], repo_root: Path, root: Path) -> list[str]:
    """The repo-relative `paths` that lie under `root`, made relative to it."""
    out = []
    for path in paths:
        absolute = repo_root / path
        try:
            out.append(absolute.relative_to(root).as_posix())
        except ValueError:
            continue
    return out


def project_patterns(project: LoadedProject, root: Path) -> list[str]:
    """Workspace-relative paths and globs of the files `project` reads."""
    base = project.dir.resolve()
    patterns = [project.path.resolve()]
    spec = project.model.spec
    splits = [spec.data.train, spec.data.validation, spec.data.test]
    for split in splits:
        if not isinstance(split, SplitData):
            continue
        patterns += [base / s.path for s in split.sources if isinstance(s, PathSource)]
    if spec.gates.evals is not None:
        patterns += [
            base / g.schema_ for g in spec.gates.evals.graders if isinstance(g, JsonSchemaGrader)
        ]
    out = []
    for pattern in patterns:
        normal = Path(os.path.normpath(pattern))
        try:
            out.append(normal.relative_to(root.resolve()).as_posix())
        except ValueError:  # outside the workspace: the loader already refuses it
            continue
    return out


def _matches(path: str, pattern: str) -> bool:
    if path == pattern:
        return True
    # fnmatch's `*` also crosses `/`: a glob may select a little more, never less.
    return any(ch in pattern for ch in "*?[") and (
        fnmatch.fnmatchcase(path, pattern) or PurePosixPath(path).match(pattern.replace("**/", ""))
    )


def select_changed(workspace: LoadedWorkspace, rev: str) -> ChangedSelection:
    """The projects of `workspace` whose inputs differ between `rev` and the work tree."""
    commit, paths = changed_paths(workspace.root, rev)
    reasons: dict[str, tuple[str, ...]] = {}
    everything = WORKSPACE_FILE in paths
    for project in workspace.projects:
        if everything:
            reasons[project.name] = (WORKSPACE_FILE,)
            continue
        patterns = project_patterns(project, workspace.root)
        hits = tuple(p for p in paths if any(_matches(p, pattern) for pattern in patterns))
        if hits:
            reasons[project.name] = hits
    return ChangedSelection(
        rev=rev,
        commit=commit,
        changed_paths=paths,
        projects=tuple(sorted(reasons)),
        reasons=reasons,
    )


def unchanged_plan(workspace: LoadedWorkspace, selection: ChangedSelection) -> Plan:
    """The plan when `--changed-since` selects no project: no changes, bound to the
    current state (so that `apply` of it is a checked no-op, like any saved plan)."""
    store = open_state(workspace)
    snapshot = store.read() if store.exists() else None
    now = datetime.now(UTC)
    return Plan(
        plan_id=str(uuid.uuid4()),
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        workspace_id=snapshot.workspace_id if snapshot else "",
        state_lineage=snapshot.lineage if snapshot else NO_STATE_LINEAGE,
        state_serial=snapshot.serial if snapshot else 0,
        data_hashes={},
        changes=(),
        ftctl_version=__version__,
    )
