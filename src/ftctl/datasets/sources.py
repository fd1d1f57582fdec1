"""A split's sources: local files and globs, git revisions, inline rows.

- `path:` a JSONL file or a glob, relative to the project directory. A glob's matches are
  read in sorted order of their workspace-relative POSIX path, so every machine reads the
  same rows in the same order.
- `git: {rev, path}`: a JSONL file as it was at a commit, tag or branch of the workspace's
  git repository. `path` is relative to the project directory, like `path:` sources (the
  same file name as in the working tree), and is read from the revision's tree with
  GitPython; the working tree is never touched.
- `inline:` rows written in project.yaml; their origin is the line of each row there.

`limit` keeps a source's first N rows (across all files of a glob). Weights are applied
after the transforms (see `ftctl.datasets.build`), not here.

Every problem is a `Diagnostic`: bad rows name the source file and line; a missing file,
an unknown revision or path names the project.yaml line of the source.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.config.models import GitSource, InlineSource, PathSource, Source
from ftctl.config.yaml_marks import FieldPath, SourceMap
from ftctl.errors import Diagnostic

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SourceContext:
    """What reading a source needs to know about its project."""

    project_dir: Path
    workspace_root: Path
    source_map: SourceMap
    split: str

    def field(self, index: int, *rest: str | int) -> FieldPath:
        return ("spec", "data", self.split, "sources", index, *rest)

    def error(self, index: int, rest: tuple[str | int, ...], message: str) -> Diagnostic:
        return self.source_map.diagnostic(self.field(index, *rest), message, at_value=True)

    def display(self, path: Path) -> str:
        """How findings name a file: relative to the workspace when inside it."""
        try:
            return path.resolve().relative_to(self.workspace_root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


@dataclass
class SourceRead:
    """The rows of one source, what identifies its content, and what went wrong."""

    index: int
    kind: str
    name: str  # as shown in the report: a path, a glob, `path@rev`, or `inline`
    files: list[str] = field(default_factory=list)
    # Per file: SHA-256 of its bytes (what `sha256sum` prints), None when a `limit` stopped
    # the reading before the end; for inline rows, of their canonical lines.
    file_hashes: list[str | None] = field(default_factory=list)
    rows_read: int = 0
    content_hash: str = ""  # SHA-256 over the names and bytes read, for the cache key
    diagnostics: list[Diagnostic] = field(default_factory=list)
    kept: int = 0  # rows kept (after `limit`)

    def report(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "files": [
                {"file": name, "sha256": sha}
                for name, sha in zip(self.files, self.file_hashes, strict=True)
            ],
            "rows_read": self.rows_read,
            "rows_kept": self.kept,
        }


# --------------------------------------------------------------------------- path sources


def resolve_path_source(source: PathSource, context: SourceContext, index: int) -> list[Path]:
    """The files a `path:` source names, sorted; raises nothing, returns [] when none."""
    text = source.path
    if GLOB_CHARS & set(text):
        matches = [p for p in context.project_dir.glob(text) if p.is_file()]
        return sorted(matches, key=lambda p: context.display(p))
    candidate = Path(os.path.normpath(context.project_dir / text))
    return [candidate] if candidate.is_file() else []


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of all of a file's bytes (what `sha256sum` prints); None when it cannot
    be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def source_files(
    sources: Sequence[Source], context: SourceContext
) -> list[tuple[Source, list[Path]]] | None:
    """Each of `sources` with the files it names (none for inline rows), as a pass resolves
    them; None when a source is not a local file or inline rows (a git source), or a path
    names no file."""
    found: list[tuple[Source, list[Path]]] = []
    for index, source in enumerate(sources):
        if isinstance(source, InlineSource):
            found.append((source, []))
            continue
        if not isinstance(source, PathSource):
            return None
        files = resolve_path_source(source, context, index)
        if not files:
            return None
        found.append((source, files))
    return found


def digest_sources(
    found: Sequence[tuple[Source, list[Path]]],
    context: SourceContext,
    sha256_of: Callable[[Path], str | None] = file_sha256,
) -> list[list[Any]] | None:
    """What identifies the content of a split's sources (`found`: as `source_files` gives
    them), from their bytes alone (no row parsed).

    Per source: its kind, and for `path:` sources each file (as shown) with the SHA-256
    of all its bytes (`sha256_of`); inline rows are part of project.yaml. None when a
    SHA-256 is not given: the full read decides then.
    """
    digest: list[list[Any]] = []
    for index, (source, files) in enumerate(found):
        if not isinstance(source, PathSource):
            digest.append(["inline", index])
            continue
        entry: list[Any] = ["path", source.path]
        for path in files:
            sha256 = sha256_of(path)
            if sha256 is None:
                return None
            entry.append([context.display(path), sha256])
        digest.append(entry)
    return digest


# --------------------------------------------------------------------------- git sources


def read_git_blob(
    index: int, source: GitSource, context: SourceContext, result: SourceRead
) -> tuple[str, bytes] | None:
    """The file's name as shown and its bytes at the revision (recorded in `result`), or
    None with a diagnostic in `result`."""
    import git  # GitPython costs ~50 ms to import: only projects with git sources pay it

    rev, rel = source.git.rev, source.git.path
    try:
        repo = git.Repo(context.workspace_root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        result.diagnostics.append(
            context.error(
                index,
                ("git",),
                f"the workspace {context.workspace_root} is not in a git repository",
            )
        )
        return None
    with repo:
        try:
            commit = repo.commit(rev)
        except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as problem:
            del problem
            result.diagnostics.append(
                context.error(
                    index, ("git", "rev"), f"unknown git revision '{rev}' in {repo.working_dir}"
                )
            )
            return None
        work_tree = Path(str(repo.working_tree_dir)).resolve()
        wanted = Path(os.path.normpath(context.project_dir.resolve() / rel))
        try:
            in_repo = wanted.relative_to(work_tree).as_posix()
        except ValueError:
            result.diagnostics.append(
                context.error(index, ("git", "path"), f"'{rel}' is outside the git repository")
            )
            return None
        try:
            blob = commit.tree / in_repo
        except KeyError:
            result.diagnostics.append(
                context.error(
                    index,
                    ("git", "path"),
                    f"'{in_repo}' does not exist at revision '{rev}' (commit {commit.hexsha[:12]})",
                )
            )
            return None
        if blob.type != "blob":
            result.diagnostics.append(
                context.error(
                    index, ("git", "path"), f"'{in_repo}' is a directory at revision '{rev}'"
                )
            )
            return None
        data: bytes = blob.data_stream.read()
    shown = f"{in_repo}@{rev}"
    result.files.append(shown)
    result.file_hashes.append(hashlib.sha256(data).hexdigest())
    result.content_hash = hashlib.sha256(shown.encode() + b"\0" + data).hexdigest()
    return shown, data
