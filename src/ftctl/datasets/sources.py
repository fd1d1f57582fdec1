"""Reading a split's sources into `Record`s: local files and globs, git revisions, inline rows.

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

import dataclasses
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.config.models import GitSource, InlineSource, PathSource, Source
from ftctl.config.yaml_marks import FieldPath, SourceMap
from ftctl.datasets.canonical import unit_hash
from ftctl.datasets.jsonl import LineError, iter_line_chunks, parse_line
from ftctl.datasets.provenance import Origin, Record
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
    records: list[Record] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Per file: SHA-256 of its bytes (what `sha256sum` prints), None when a `limit` stopped
    # the reading before the end; for inline rows, of their canonical lines.
    file_hashes: list[str | None] = field(default_factory=list)
    rows_read: int = 0
    content_hash: str = ""  # SHA-256 over the names and bytes read, for the cache key
    diagnostics: list[Diagnostic] = field(default_factory=list)
    kept: int | None = None  # rows kept, when they are not held in `records` (a streaming read)

    def report(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "files": [
                {"file": name, "sha256": sha}
                for name, sha in zip(self.files, self.file_hashes, strict=True)
            ],
            "rows_read": self.rows_read,
            "rows_kept": len(self.records) if self.kept is None else self.kept,
        }


def read_sources(sources: Sequence[Source], context: SourceContext) -> list[SourceRead]:
    return [read_source(index, source, context) for index, source in enumerate(sources)]


def read_source(index: int, source: Source, context: SourceContext) -> SourceRead:
    if isinstance(source, PathSource):
        result = _read_path_source(index, source, context)
    elif isinstance(source, GitSource):
        result = _read_git_source(index, source, context)
    else:
        result = _read_inline_source(index, source, context)
    if source.limit is not None and len(result.records) > source.limit:
        del result.records[source.limit :]
    return result


# --------------------------------------------------------------------------- path sources


def resolve_path_source(source: PathSource, context: SourceContext, index: int) -> list[Path]:
    """The files a `path:` source names, sorted; raises nothing, returns [] when none."""
    text = source.path
    if GLOB_CHARS & set(text):
        matches = [p for p in context.project_dir.glob(text) if p.is_file()]
        return sorted(matches, key=lambda p: context.display(p))
    candidate = Path(os.path.normpath(context.project_dir / text))
    return [candidate] if candidate.is_file() else []


def digest_sources(sources: Sequence[Source], context: SourceContext) -> list[list[Any]] | None:
    """What identifies the content of `sources`, from their bytes alone (no row parsed).

    Per source: its kind, and for `path:` sources each file (as shown) with the SHA-256
    of all its bytes; inline rows are part of project.yaml. None when that is not cheap
    or not possible (a git source, a path naming no file): the full read decides then.
    """
    digest: list[list[Any]] = []
    for index, source in enumerate(sources):
        if isinstance(source, InlineSource):
            digest.append(["inline", index])
            continue
        if not isinstance(source, PathSource):
            return None
        files = resolve_path_source(source, context, index)
        if not files:
            return None
        entry: list[Any] = ["path", source.path]
        for path in files:
            hasher = hashlib.sha256()
            try:
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        hasher.update(block)
            except OSError:
                return None
            entry.append([context.display(path), hasher.hexdigest()])
        digest.append(entry)
    return digest


def _read_path_source(index: int, source: PathSource, context: SourceContext) -> SourceRead:
    result = SourceRead(index=index, kind="path", name=source.path)
    files = resolve_path_source(source, context, index)
    if not files:
        is_glob = bool(GLOB_CHARS & set(source.path))
        candidate = Path(os.path.normpath(context.project_dir / source.path))
        if is_glob:
            message = f"glob '{source.path}' matches no file"
        elif candidate.is_dir():
            message = f"'{source.path}' is a directory; expected a JSONL file"
        else:
            message = f"file not found: {context.display(candidate)}"
        result.diagnostics.append(context.error(index, ("path",), message))
        return result
    digest = hashlib.sha256()
    for path in files:
        shown = context.display(path)
        result.files.append(shown)
        try:
            file_hash, complete = _parse_file(path, shown, index, result, source.limit)
        except OSError as problem:
            result.diagnostics.append(
                context.error(index, ("path",), f"cannot read {shown}: {problem.strerror}")
            )
            file_hash, complete = "", False
        result.file_hashes.append(file_hash if complete else None)
        digest.update(f"{shown}\0{file_hash}\0{len(result.records)}\n".encode())
        if source.limit is not None and len(result.records) >= source.limit:
            break
    result.content_hash = digest.hexdigest()
    return result


def _parse_file(
    path: Path, shown: str, index: int, result: SourceRead, limit: int | None
) -> tuple[str, bool]:
    """Read one file's rows into `result`: the SHA-256 of the bytes read, and whether that
    was the whole file (with a `limit`, reading stops after the chunk holding the last row
    needed; the hash of the bytes read is still a faithful cache key for the rows used).
    """
    digest = hashlib.sha256()
    consumed = 0
    for chunk in iter_line_chunks(path, hasher=digest):
        consumed = chunk.bytes_read
        for line_no, raw in chunk.lines:
            _take(parse_line(raw), Origin(shown, line_no), index, result)
            if limit is not None and len(result.records) >= limit:
                return digest.hexdigest(), path.stat().st_size <= consumed
    return digest.hexdigest(), True


def _take(value: object, origin: Origin, index: int, result: SourceRead) -> bool:
    """Add one parsed line to `result` (or a diagnostic); True when it became a row."""
    result.rows_read += 1
    if isinstance(value, LineError):
        result.diagnostics.append(
            Diagnostic(
                file=origin.file,
                line=origin.line,
                column=value.column,
                field=value.category,
                message=value.message,
            )
        )
        return False
    if not isinstance(value, dict):
        result.diagnostics.append(
            Diagnostic(
                file=origin.file,
                line=origin.line,
                field="example",
                message=f"each line must be a JSON object, not {type(value).__name__}",
            )
        )
        return False
    result.records.append(Record(example=value, origin=origin, source=index))
    return True


# --------------------------------------------------------------------------- git sources


def _read_git_source(index: int, source: GitSource, context: SourceContext) -> SourceRead:
    result = SourceRead(index=index, kind="git", name=f"{source.git.path}@{source.git.rev}")
    found = read_git_blob(index, source, context, result)
    if found is None:
        return result
    shown, data = found
    for line_no, _offset, raw in blob_lines(data):
        _take(parse_line(raw), Origin(shown, line_no), index, result)
        if source.limit is not None and len(result.records) >= source.limit:
            break
    return result


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


def blob_lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Non-blank lines of a blob with their 1-based numbers and byte offsets (same rules as
    `read_jsonl`)."""
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        stripped = raw.rstrip(b"\r")
        if stripped.strip():
            yield number, offset, stripped
        offset += len(raw) + 1


# --------------------------------------------------------------------------- inline sources


def _read_inline_source(index: int, source: InlineSource, context: SourceContext) -> SourceRead:
    result = SourceRead(index=index, kind="inline", name="inline")
    shown = context.source_map.display
    result.files.append(shown)
    digest = hashlib.sha256()
    for row, example in enumerate(source.inline):
        line, _column = context.source_map.locate(context.field(index, "inline", row))
        origin = Origin(shown, line)
        record = Record(example=example, origin=origin, source=index)
        result.rows_read += 1
        try:
            digest.update(record.canonical)
        except (ValueError, TypeError) as problem:  # YAML allows .nan, .inf, !!binary
            result.diagnostics.append(
                context.error(index, ("inline", row), f"the row is not JSON: {problem}")
            )
            continue
        result.records.append(record)
        if source.limit is not None and len(result.records) >= source.limit:
            break
    result.content_hash = digest.hexdigest()
    result.file_hashes.append(result.content_hash)
    return result


# --------------------------------------------------------------------------- weights


def weight_copies(record: Record, weight: float) -> int:
    """How many times a row appears for a source `weight`.

    The whole part repeats every row (2: twice); the fraction keeps a row once more when
    a stable hash of its bytes falls below it (0.5: a fixed half of the rows, the same half
    on every build and machine, unaffected by other rows being added or removed). The hash
    is salted differently from the validation split, so that the two choices are independent.
    """
    whole = int(weight)
    fraction = weight - whole
    extra = 1 if fraction > 0 and unit_hash("ftctl-weight", record.canonical) < fraction else 0
    return whole + extra


def apply_weights(records: Sequence[Record], sources: Sequence[Source]) -> list[Record]:
    """Rows repeated or thinned by their source's weight; repeats follow their original."""
    out: list[Record] = []
    for record in records:
        for copy in range(weight_copies(record, sources[record.source].weight)):
            out.append(record if copy == 0 else dataclasses.replace(record, copy=copy))
    return out
