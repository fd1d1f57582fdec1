"""Keeping the dataset cache's split objects under a size: the least recently used go first.

Every build that changes its data writes new split objects, about the size of the data
(the canonical JSONL, its origins and its line index), and the trim by age
(`cache_trim`) removes them only once no build has used them for days. A day of editing a
large dataset left a copy per edit: 20 rebuilds of a 2.4 GB dataset (a million examples)
are 48 GB by the evening, and this project's own benchmarks filled a 60 GB disk in an
afternoon. So, as ccache and sccache keep their caches under `max_size` (and Bazel its disk
cache under `--experimental_disk_cache_gc_max_size`), after a build that passed the split
objects are kept under a size, `FTCTL_DATA_CACHE_MAX` (default 10 GiB): the objects used
longest ago go first (written or served by a build, or compared with by `plan`: their
modification time, `DatasetCache.use`), and never one that a project's last-build record
names (what its next rebuild copies its unchanged lines from), whatever the size.

A removed object costs time, never a result, as the trim by age: a build whose manifest
names it builds again, a `plan` whose recorded upload's object is gone shows example counts
instead of lines added and removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ftctl.datasets.cache import DatasetCache
from ftctl.datasets.cache_trim import Removed, files_in, objects_named
from ftctl.errors import ConfigError

ENV = "FTCTL_DATA_CACHE_MAX"
DEFAULT_BYTES = 10 << 30
_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 1 << 10,
    "mi": 1 << 20,
    "gi": 1 << 30,
    "ti": 1 << 40,
}
_OBJECT = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:(k|m|g|t|ki|mi|gi|ti)b?|b)", re.IGNORECASE)


@dataclass(frozen=True)
class Limited:
    objects: int  # split objects removed (each with its origins and line index)
    bytes: int


def limit_from_env() -> int | None:
    """`FTCTL_DATA_CACHE_MAX` in bytes (10 GiB when unset); None for `off` (no limit).
    ConfigError when it is not a size with its unit (checked before a build touches
    anything): `500MB`, `20GB`, `10GiB` (ccache's units: k, M, G, T are powers of 1000, Ki,
    Mi, Gi, Ti of 1024, a trailing B optional), `0` to keep only the last builds."""
    wanted = os.environ.get(ENV, "").strip()
    if not wanted:
        return DEFAULT_BYTES
    if wanted.lower() == "off":
        return None
    if wanted == "0":
        return 0
    found = _SIZE.fullmatch(wanted)
    if found is None:
        raise ConfigError(
            f"environment variable {ENV} must be a size with its unit (500MB, 20GB, 10GiB), "
            f"0, or off (the most the dataset cache's split objects may take), not {wanted!r}"
        )
    number, unit = found.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])


def shown(size: int) -> str:
    """A size as the limit's message shows it."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{size / (1 << 20):.0f} MiB"


def limit_objects(root: Path, most: int) -> Limited:
    """Remove the split objects of the dataset cache at `root` used longest ago (with their
    origins and line index), until they take at most `most` bytes; never one that a
    project's last-build record names. Errors (a file in use on Windows, a read-only cache)
    are skipped: a limit never fails a build."""
    cache = DatasetCache(root)
    try:
        found = list(os.scandir(root / "objects"))
    except OSError:
        return Limited(0, 0)
    sizes: dict[str, int] = {}
    used: dict[str, float] = {}
    for entry in found:
        name = entry.name
        sha256, _dot, _rest = name.partition(".")
        if not _OBJECT.fullmatch(sha256):  # a build's staged file, or not the cache's
            continue
        try:
            stat = entry.stat()
        except OSError:
            continue
        sizes[sha256] = sizes.get(sha256, 0) + stat.st_size
        if name == f"{sha256}.jsonl":
            used[sha256] = stat.st_mtime
    total = sum(sizes.values())
    if total <= most:
        return Limited(0, 0)
    kept = _last_builds(root / "builds" / "latest")
    objects = sorted(
        (used.get(sha, 0.0), size, sha) for sha, size in sizes.items() if sha not in kept
    )
    removed = Removed()
    count = 0
    for _when, size, sha256 in objects:
        if total <= most:
            break
        for path in cache.object_files(sha256):
            removed.unlink(path)
        total -= size
        count += 1
    return Limited(count, removed.bytes)


def _last_builds(latest: Path) -> set[str]:
    """The objects the projects' last-build records name (`DatasetCache.put_latest`)."""
    return {name for record in files_in(latest, "*.json") for name in objects_named(record)}
