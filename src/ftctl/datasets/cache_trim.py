"""Keeping the dataset cache from growing without end: what is unused for days goes.

Every build that changes its data writes new split objects (the canonical JSONL, its
origins and its line index: about the size of the data) and a build manifest; nothing
removed them, so a workspace that builds a 100 MB dataset a few times a day gained
gigabytes a week. The rule is Go's build cache's (`go help cache`): an entry is "used"
when a build writes or reuses it (its modification time is set: `DatasetCache.use`), and
after a build, at most once a day, whatever has not been used for `UNUSED_DAYS` is removed:

- build manifests (`builds/<key>.json`), projects' last-build records
  (`builds/latest/*.json`), their row snapshots (`builds/latest/*.rows`) and records of
  their source files and of the cache files they verified (`builds/latest/*.files`,
  `*.verified`) not used for that long;
- split objects (and their `.origins.jsonl` and `.lines`) that no remaining manifest or
  last-build record names and that were not used for that long either (an object written
  by a build still running has no manifest yet, and is recent);
- a source file's copy and its lines' keys (`lines/*.copy`, `*.keys`: what a rebuild takes
  unchanged lines' keys from) that no build used for that long;
- temporary files a build left behind when it was killed (`objects/.staged.*`), a day old;
- per-row results in `examples.sqlite` not used for that long (each row records the day
  it was last written or found: `ftctl.datasets.example_cache`).

A removed entry costs time, never a result: a build whose manifest is gone builds again
(with the per-row results still there), a row whose result is gone is worked on again; a
`plan` whose recorded upload's object is gone shows example counts instead of lines added
and removed.
Deleting the whole `.ftctl/cache` directory is always safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ftctl.datasets.cache import DatasetCache
from ftctl.datasets.example_cache import cache_file, trim_unused
from ftctl.datasets.line_carry import CARRY_DIR

UNUSED_DAYS = 5  # as Go's build cache
TRIM_EVERY_S = 24 * 3600  # trims are at most this often
STAGED_LEFT_S = 24 * 3600  # a build's temporary file this old was left by a killed build
MARK = "trim.txt"  # when the cache was last trimmed (its modification time)
_DAY_S = 24 * 3600


@dataclass(frozen=True)
class Trimmed:
    files: int
    rows: int  # results of `examples.sqlite`
    bytes: int


def trim_if_due(root: Path, now: float | None = None) -> Trimmed | None:
    """Trim the dataset cache at `root` if it was last trimmed a day ago or more (or
    never): None when it was not due. Errors (a file in use on Windows, a read-only
    cache) are skipped: trimming never fails a build."""
    now = time.time() if now is None else now
    mark = root / MARK
    try:
        if now - mark.stat().st_mtime < TRIM_EVERY_S:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    if not root.is_dir():
        return None
    trimmed = _trim(root, now - UNUSED_DAYS * _DAY_S, now)
    with contextlib.suppress(OSError):
        mark.write_text(f"{int(now)}\n", encoding="ascii")
        os.utime(mark, (now, now))
    return trimmed


def _trim(root: Path, cutoff: float, now: float) -> Trimmed:
    removed = Removed()
    cache = DatasetCache(root)
    builds = root / "builds"
    named: set[str] = set()
    for manifest in [*files_in(builds, "*.json"), *files_in(builds / "latest", "*.json")]:
        if _mtime(manifest) < cutoff:
            removed.unlink(manifest)
        else:
            named.update(objects_named(manifest))
    objects = root / "objects"
    for data in files_in(objects, "*.jsonl"):
        name = data.name
        if name.startswith(".") or name.endswith(".origins.jsonl"):
            continue
        sha256 = name[: -len(".jsonl")]
        if sha256 in named or _mtime(data) >= cutoff:
            continue
        for path in cache.object_files(sha256):
            removed.unlink(path)
    for staged in files_in(objects, ".staged.*"):
        if _mtime(staged) < now - STAGED_LEFT_S:
            removed.unlink(staged)
    latest = builds / "latest"
    # A project's row snapshot (`row_snapshot`), and its records of its source files
    # (`source_record`) and of the cache files it verified (`cache_verified`), each rewritten
    # by every build of the project that passes.
    for leftover in [
        *files_in(latest, "*.rows"),
        *files_in(latest, "*.files"),
        *files_in(latest, "*.verified"),
    ]:
        if _mtime(leftover) < cutoff:
            removed.unlink(leftover)
    # A source file's copy and its lines' keys (`line_carry`): the keys are touched by each
    # build that uses them (the copy is not: its stat is what they record of it).
    carried = root / CARRY_DIR
    for keys in files_in(carried, "*.keys"):
        if _mtime(keys) < cutoff:
            removed.unlink(keys)
    for copy in files_in(carried, "*.copy"):
        if not copy.with_suffix(".keys").exists() and _mtime(copy) < cutoff:
            removed.unlink(copy)
    rows, shrunk = trim_unused(cache_file(root), UNUSED_DAYS)
    return Trimmed(removed.files, rows, removed.bytes + shrunk)


def objects_named(manifest: Path) -> set[str]:
    """The objects a build manifest (`splits.*.sha256`) or a last-build record
    (`objects`) names. One that cannot be read names none (and is trimmed by its age)."""
    try:
        value = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(value, dict):
        return set()
    names: set[str] = set()
    objects = value.get("objects")
    if isinstance(objects, list):
        names.update(n for n in objects if isinstance(n, str))
    splits = value.get("splits")
    if isinstance(splits, dict):
        for split in splits.values():
            if isinstance(split, dict) and isinstance(split.get("sha256"), str):
                names.add(split["sha256"])
    return names


def files_in(folder: Path, pattern: str) -> list[Path]:
    """The files of `folder` matching `pattern`; none when it cannot be listed."""
    try:
        return [p for p in folder.glob(pattern) if p.is_file()]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone already, or unreadable: not this trim's to remove


class Removed:
    """Files removed, counted with their bytes; one that cannot be removed is left."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def unlink(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            return
        self.files += 1
        self.bytes += size
