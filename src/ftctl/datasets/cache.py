"""The dataset cache: canonical JSONL files by content hash, build results by input hash.

Layout under `<workspace>/.ftctl/cache/datasets/`:

    objects/<sha256>.jsonl          the canonical bytes of a split (what is uploaded)
    objects/<sha256>.origins.jsonl  `[file, line]` of each of its rows, in order
    objects/<sha256>.lines          where each distinct line is, by digest (what a rebuild
                                    copies unchanged lines from: `line_index`)
    builds/<key>.json               a project's build result, keyed by the hash of every
                                    input (source bytes, project.yaml, policy defaults,
                                    ftctl version, cache format)
    builds/latest/<hash>.json       the objects of a project's last build
    builds/latest/<hash>.rows       its rows' results (`row_snapshot`)
    builds/latest/<hash>.files      the stats and hashes of its source files (`source_record`)
    builds/latest/<hash>.verified   the stats of the cache files it verified or wrote
                                    (`cache_verified`)
    trim.txt                        when what was unused for days was last removed
                                    (`ftctl.datasets.cache_trim`)

Only builds that pass are written. Writes are atomic (temporary file + rename), so a
crash or two concurrent builds leave either the old file or the new one, never a torn one.
A split is streamed to `objects/.staged.*.tmp` while it is hashed (`StagedWriter`), then renamed
to its hash: its bytes are never held whole in memory.
Objects are verified against their hash before reuse: a damaged cache means a rebuild,
never wrong bytes (once per file: a file whose stat is the one its last check recorded is
not hashed again, `cache_verified`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ftctl.datasets.cache_paths import WriteBehind, open_staged
from ftctl.datasets.cache_paths import atomic_write as atomic_write  # re-exported
from ftctl.datasets.cache_paths import cache_root as cache_root  # re-exported
from ftctl.datasets.cache_verified import VerifiedFiles
from ftctl.datasets.line_index import LineIndexWriter, Span, index_path, object_intact

# Bump when what a build produces for the same inputs changes (transforms, checks, report).
CACHE_FORMAT = 4  # 4: leakage observed is null when the check is off (3: not searched)


def staged_file(root: Path, suffix: str) -> Path:
    """A new, empty temporary file in the cache at `root`, among its objects: written by a
    build and moved into place if it passes (`objects/.staged.*`: the trim removes one that
    a killed build left)."""
    folder = root / "objects"
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix=".staged.", suffix=suffix)
    os.close(handle)
    return Path(name)


class DatasetCache:
    def __init__(self, root: Path, verified: VerifiedFiles | None = None) -> None:
        """`verified`: the record of the files a project's last build verified, which
        `has_object` trusts by their stat (`cache_verified`); None: every object is hashed."""
        self.root = root
        self.verified = verified

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / f"{sha256}.jsonl"

    def origins_path(self, sha256: str) -> Path:
        return self.root / "objects" / f"{sha256}.origins.jsonl"

    def object_files(self, sha256: str) -> tuple[Path, Path, Path]:
        """Everything stored for one split object: its bytes, origins and line index."""
        data = self.object_path(sha256)
        return data, self.origins_path(sha256), index_path(data)

    def has_object(self, sha256: str) -> bool:
        """The object is there with the bytes its name says (hashed, unless `verified`
        vouches for it)."""
        path = self.object_path(sha256)
        if self.verified is None:
            return object_intact(path)
        return self.verified.check(path, sha256, lambda: object_intact(path))

    def use(
        self, sha256s: Iterable[str], build_key: str | None = None, project: str | None = None
    ) -> None:
        """Mark objects (and a build manifest, a project's last-build record) used now:
        what the cache's trim keeps (`ftctl.datasets.cache_trim`). A file that cannot be
        touched is left as it is."""
        paths = [path for sha256 in sha256s for path in self.object_files(sha256)]
        if build_key is not None:
            paths.append(self.root / "builds" / f"{build_key}.json")
        if project is not None:
            paths += [self._latest_path(project), self.snapshot_path(project)]
        for path in paths:
            with contextlib.suppress(OSError):
                if self.verified is None:
                    os.utime(path)
                else:  # keeps what the record knows of it (`cache_verified`)
                    self.verified.touch(path)

    def get_build(self, key: str) -> dict[str, Any] | None:
        path = self.root / "builds" / f"{key}.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put_build(self, key: str, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1)
        atomic_write(self.root / "builds" / f"{key}.json", text.encode("utf-8"))

    def snapshot_path(self, project: str) -> Path:
        """Where the row results of `project`'s last build are (`row_snapshot`)."""
        return self._latest_path(project).with_suffix(".rows")

    def files_path(self, project: str) -> Path:
        """Where what `project`'s builds last saw of its source files is (`source_record`)."""
        return self._latest_path(project).with_suffix(".files")

    def verified_path(self, project: str) -> Path:
        """Where the cache files `project`'s last build verified are (`cache_verified`)."""
        return self._latest_path(project).with_suffix(".verified")

    def _latest_path(self, project: str) -> Path:
        name = hashlib.blake2b(project.encode("utf-8"), digest_size=16).hexdigest()
        return self.root / "builds" / "latest" / f"{name}.json"

    def put_latest(self, project: str, sha256s: Iterable[str]) -> None:
        """Record the split objects of `project`'s last build (what its next rebuild copies
        unchanged lines from)."""
        text = json.dumps({"project": project, "objects": sorted(set(sha256s))})
        atomic_write(self._latest_path(project), text.encode("utf-8"))

    def other_projects(self, project: str) -> list[str]:
        """The other projects whose last build left a row snapshot, the latest first."""
        found: list[tuple[float, str]] = []
        for record in (self.root / "builds" / "latest").glob("*.json"):
            try:
                name = json.loads(record.read_text(encoding="utf-8"))["project"]
                when = record.with_suffix(".rows").stat().st_mtime
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(name, str) and name != project and self._latest_path(name) == record:
                found.append((when, name))
        return [name for _when, name in sorted(found, reverse=True)]

    def latest(self, project: str) -> list[Path]:
        """The split objects of `project`'s last build that are still there."""
        try:
            value = json.loads(self._latest_path(project).read_text(encoding="utf-8"))
            names = value["objects"] if value.get("project") == project else []
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            return []
        paths = [self.object_path(n) for n in names if isinstance(n, str) and n.isalnum()]
        return [p for p in paths if p.is_file()]


@dataclass(frozen=True)
class StagedObject:
    """Canonical bytes written to a temporary file of the cache, not yet in place."""

    sha256: str
    size: int
    data: Path  # temporary files, renamed into objects/ by `Staging.commit`
    origins: Path
    lines: Path  # its line index (`ftctl.datasets.line_index`)


class Staging:
    """Objects streamed to the cache: written and hashed on the way, kept on `commit`.

    A split's bytes are never held whole in memory: each line goes to a temporary file in
    objects/ (same file system, so the rename is atomic) while its SHA-256 is computed.
    Leaving the `with` block without `commit` (an error, a failed check) removes them.
    """

    def __init__(self, cache: DatasetCache) -> None:
        self.cache = cache
        self.staged: list[StagedObject] = []
        self._temporary: list[Path] = []
        self._writers: list[StagedWriter] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for writer in self._writers:
            with contextlib.suppress(OSError):  # the error that brought us here is raised
                writer.close()
        for path in self._temporary:
            path.unlink(missing_ok=True)

    def _temporary_file(self, suffix: str) -> Path:
        path = staged_file(self.cache.root, suffix)
        self._temporary.append(path)
        return path

    def writer(self) -> StagedWriter:
        """A split written line by line (`StagedWriter.finish` stages it)."""
        return StagedWriter(
            self,
            self._temporary_file(".jsonl.tmp"),
            self._temporary_file(".origins.tmp"),
            self._temporary_file(".lines.tmp"),
        )

    def commit(self) -> None:
        """Move every staged object into place (an intact existing copy is kept)."""
        for staged in self.staged:
            if not self.cache.has_object(staged.sha256):
                os.replace(staged.data, self.cache.object_path(staged.sha256))
                if self.cache.verified is not None:  # hashed as it was written
                    self.cache.verified.wrote(self.cache.object_path(staged.sha256), staged.sha256)
            os.replace(staged.origins, self.cache.origins_path(staged.sha256))
            os.replace(staged.lines, index_path(self.cache.object_path(staged.sha256)))
        # An intact copy kept from an earlier build is used again now.
        self.cache.use(staged.sha256 for staged in self.staged)


_PIECE = 16 << 10  # bytes a piece `StagedWriter` writes has on average, not to be joined


class StagedWriter:
    """One split's canonical lines and their origins, written and hashed as they come.

    Lines are gathered into blocks of about `BLOCK` bytes; each block is hashed and written
    by a thread of its own (hashing and writing release the GIL), so that the build goes on
    with the next rows meanwhile. At most `IN_FLIGHT` blocks wait for it.
    """

    BLOCK = 1 << 20
    IN_FLIGHT = 4

    def __init__(self, staging: Staging, data: Path, origins: Path, lines: Path) -> None:
        self.staging = staging
        self.data_path = data
        self.origins_path = origins
        self.lines_path = lines
        self._index = LineIndexWriter()
        self._data = open_staged(data)  # closed by finish
        self._origins = open_staged(origins)
        self._hash = hashlib.sha256()
        self._lines: list[bytes | Span] = []
        self._origin_lines: list[bytes] = []
        self._pending = 0
        self._writes = WriteBehind("ftctl-staged-writer", self.IN_FLIGHT)
        self.size = 0
        self.lines = 0

    def write_many(
        self,
        lines: Sequence[bytes],
        origins: Sequence[bytes],
        times: Sequence[int],
        digests: Sequence[bytes],
    ) -> None:
        """Write each of `lines` `times` times, with its origin line of `origins`; the line
        index finds it by its digest (`example_digest`) of `digests`. A batch of rows at a
        time: one call per batch, not per row."""
        lengths = [len(line) for line in lines]
        self._index.add_many(digests, self.size, lengths, times)
        if any(t != 1 for t in times):  # a weight's repeats: line and origin repeated
            lines = [line for line, t in zip(lines, times, strict=True) for _ in range(t)]
            origins = [o for o, t in zip(origins, times, strict=True) for _ in range(t)]
            lengths = [len(line) for line in lines]
        self._lines.extend(lines)
        self._origin_lines.extend(origins)
        written = sum(lengths)
        self._pending += written
        self.size += written
        self.lines += len(lines)
        if self._pending >= self.BLOCK:
            self._flush()

    def write_joined(
        self,
        pieces: Sequence[bytes | Span],
        lengths: npt.NDArray[np.int64],
        origins: bytes,
        digests: bytes,
    ) -> None:
        """`write_many` of lines written once each, given as pieces of their `b"".join`
        (`lengths`: each line's; a rebuild copies them from the last build's objects a run
        at a time, as `Span`s read here, on the writer's thread), with their origin lines
        joined and their digests one after another."""
        self._index.add_block(digests, self.size, lengths)
        self._lines.extend(pieces)
        self._origin_lines.append(origins)
        written = int(lengths.sum())
        self._pending += written
        self.size += written
        self.lines += lengths.size
        if self._pending >= self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        # Lines are joined here; large pieces of them (`write_joined`) are not: joining them
        # copied every byte of a rebuild once more in this thread (0.04 s per 118 MB).
        joined = self._pending < _PIECE * len(self._lines) and all(
            isinstance(piece, bytes) for piece in self._lines
        )
        blocks = [b"".join(cast(list[bytes], self._lines))] if joined else self._lines.copy()
        origins = b"".join(self._origin_lines)
        self._lines.clear()
        self._origin_lines.clear()
        self._pending = 0
        self._writes.submit(self._write_blocks, blocks, origins)

    def _write_blocks(self, blocks: list[bytes | Span], origins: bytes) -> None:
        for piece in blocks:
            block = piece if isinstance(piece, bytes) else piece.read()
            self._hash.update(block)
            self._data.write(block)
        self._origins.write(origins)

    def close(self) -> None:
        """Wait for the writes under way and close the files (a second call does nothing)."""
        try:
            self._writes.wait()
        finally:
            self._data.close()
            self._origins.close()

    def finish(self) -> StagedObject:
        self._flush()
        self.close()
        self._index.write_to(self.lines_path)
        staged = StagedObject(
            self._hash.hexdigest(), self.size, self.data_path, self.origins_path, self.lines_path
        )
        self.staging.staged.append(staged)
        return staged
