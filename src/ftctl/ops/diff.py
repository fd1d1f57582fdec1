"""`ftctl diff BASE [HEAD]`: load the workspace at two revisions, build their data, compare.

A revision is checked out as a temporary, detached `git worktree` (so that `git:` sources
and relative paths resolve exactly as they did at that commit) and removed afterwards;
HEAD defaults to the work tree itself. Both sides build their data through the
workspace's own content-addressed dataset cache, so an unchanged split is not rebuilt.
Nothing is uploaded, no state is read or written, no provider is opened.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ftctl.datasets.cache import cache_root
from ftctl.errors import PlanError
from ftctl.events import Event, EventSink, ignore
from ftctl.gates.examples import message_text
from ftctl.ops.prepare import load_desired
from ftctl.plan.desired import DesiredProject, DesiredSplit
from ftctl.plan.specdiff import (
    Sample,
    SplitDiff,
    WorkspaceDiff,
    field_changes,
    project_diff,
)

WORK_TREE = "work tree"
MAX_SAMPLES = 3  # per kind (added, removed, changed) and split
_SAMPLE_CHARS = 160


def diff_revisions(
    root: Path, base: str, head: str | None = None, events: EventSink = ignore
) -> WorkspaceDiff:
    """The diff of the workspace at `root` between `base` and `head` (None: the work tree)."""
    with _revision(root, base) as (base_root, base_commit):
        events(Event("step", f"Building {base} ({base_commit[:12]})"))
        _, base_projects = load_desired(base_root, (), events)
        base_doc = _workspace_document(base_root)
        if head is None:
            _, head_projects = load_desired(root, (), events)
            head_doc, head_commit = _workspace_document(root), None
            return _compare(
                base,
                WORK_TREE,
                base_commit,
                head_commit,
                base_projects,
                head_projects,
                base_doc,
                head_doc,
            )
        with _revision(root, head) as (head_root, head_commit_sha):
            events(Event("step", f"Building {head} ({head_commit_sha[:12]})"))
            _, head_projects = load_desired(head_root, (), events)
            head_doc = _workspace_document(head_root)
            return _compare(
                base,
                head,
                base_commit,
                head_commit_sha,
                base_projects,
                head_projects,
                base_doc,
                head_doc,
            )


def _compare(
    base: str,
    head: str,
    base_commit: str | None,
    head_commit: str | None,
    before: Mapping[str, DesiredProject],
    after: Mapping[str, DesiredProject],
    base_doc: Mapping[str, Any],
    head_doc: Mapping[str, Any],
) -> WorkspaceDiff:
    projects = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        splits = sorted(set(old.splits if old else ()) | set(new.splits if new else ()))
        diffs = [
            split_diff(
                split,
                old.splits.get(split) if old else None,
                new.splits.get(split) if new else None,
            )
            for split in splits
        ]
        projects.append(project_diff(name, old, new, diffs))
    return WorkspaceDiff(
        base=base,
        head=head,
        base_commit=base_commit,
        head_commit=head_commit,
        projects=tuple(projects),
        workspace_fields=field_changes(base_doc, head_doc),
    )


# --------------------------------------------------------------------------- revisions


@contextlib.contextmanager
def _revision(root: Path, rev: str) -> Iterator[tuple[Path, str]]:
    """The workspace as it was at `rev`: (its root in a temporary worktree, the commit)."""
    import git  # GitPython: only `diff` pays for the import

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise PlanError(f"diff: the workspace {root} is not in a git repository") from error
    try:
        commit = repo.commit(rev)
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as error:
        raise PlanError(f"diff: unknown git revision {rev!r} in {repo.working_dir}") from error
    repo_root = Path(str(repo.working_tree_dir)).resolve()
    inside = root.resolve().relative_to(repo_root)
    scratch = Path(tempfile.mkdtemp(prefix="ftctl-diff-"))
    tree = scratch / "tree"
    repo.git.worktree("add", "--detach", "--quiet", str(tree), commit.hexsha)
    try:
        workspace = tree / inside
        if not (workspace / "ftctl.yaml").is_file():
            raise PlanError(f"diff: revision {rev!r} has no {inside.as_posix() or '.'}/ftctl.yaml")
        # Share the content-addressed dataset cache: unchanged splits are not rebuilt.
        shared = cache_root(root.resolve())
        shared.mkdir(parents=True, exist_ok=True)
        own = cache_root(workspace)
        own.parent.mkdir(parents=True, exist_ok=True)
        own.symlink_to(shared, target_is_directory=True)
        yield workspace, str(commit.hexsha)
    finally:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("prune")


def _workspace_document(root: Path) -> dict[str, Any]:
    """`ftctl.yaml` as data (the loader already validated it)."""
    import yaml

    data = yaml.safe_load((root / "ftctl.yaml").read_text(encoding="utf-8"))
    return {"workspace": data} if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- data


def split_diff(name: str, before: DesiredSplit | None, after: DesiredSplit | None) -> SplitDiff:
    """Examples added, removed and changed (same prompt, another answer) between two
    builds of a split, with a few samples of each."""
    old = _examples(before)
    new = _examples(after)
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    changed = [k for k in new if k in old and new[k] != old[k]]
    samples: list[Sample] = []
    samples += [_sample("added", None, new[k]) for k in added[:MAX_SAMPLES]]
    samples += [_sample("removed", old[k], None) for k in removed[:MAX_SAMPLES]]
    samples += [_sample("changed", old[k], new[k]) for k in changed[:MAX_SAMPLES]]
    return SplitDiff(
        split=name,
        before_sha256=before.sha256 if before else None,
        after_sha256=after.sha256 if after else None,
        before_examples=before.examples if before else 0,
        after_examples=after.examples if after else 0,
        added=len(added),
        removed=len(removed),
        changed=len(changed),
        before_tokens=before.tokens if before else 0,
        after_tokens=after.tokens if after else 0,
        samples=tuple(samples),
    )


def _examples(split: DesiredSplit | None) -> dict[str, dict[str, Any]]:
    """A split's canonical examples keyed by their prompt (everything but the answer);
    identical prompts keep their first example."""
    if split is None or split.path is None or not split.path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    with split.path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            example = json.loads(line)
            out.setdefault(json.dumps(_prompt_of(example), sort_keys=True), example)
    return out


def _prompt_of(example: Mapping[str, Any]) -> Any:
    if "input" in example:  # preference (DPO) rows
        return example["input"]
    messages = example.get("messages")
    if isinstance(messages, list) and messages and _role(messages[-1]) == "assistant":
        return messages[:-1]
    return messages if messages is not None else example


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, Mapping) else None


def _sample(kind: Any, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Sample:
    example = after if after is not None else before
    assert example is not None
    return Sample(kind, _short(_last_user(example)), _answer(before), _answer(after))


def _last_user(example: Mapping[str, Any]) -> str:
    messages = example.get("messages")
    if not isinstance(messages, list):
        source = example.get("input")
        messages = source.get("messages") if isinstance(source, Mapping) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if _role(message) == "user":
            return message_text(message) or ""
    return json.dumps(example, sort_keys=True)


def _answer(example: Mapping[str, Any] | None) -> str | None:
    if example is None:
        return None
    preferred = example.get("preferred_output")
    if isinstance(preferred, list) and preferred and isinstance(preferred[-1], Mapping):
        return _short(message_text(preferred[-1]) or "")
    messages = example.get("messages")
    if isinstance(messages, list) and messages and _role(messages[-1]) == "assistant":
        return _short(message_text(messages[-1]) or "")
    return None


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SAMPLE_CHARS else flat[: _SAMPLE_CHARS - 1] + "…"
