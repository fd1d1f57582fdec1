"""What the builds of a project last saw of its source files: each file's size, times, inode
and SHA-256 (`builds/latest/<project>.files`), as Bazel's digest cache and git's index keep
them, so that a build does not hash a source file's bytes for nothing.

Before it parses a row, a build looks for the data unchanged, from the SHA-256 of every
source file (`ftctl.datasets.build`). That hashing read every byte: 0.09 s of a 50k build,
0.33 s at 200k, on the build's busiest thread. With this record:

- a file whose stat is the one recorded has the SHA-256 recorded: a build with nothing
  changed reads no source byte;
- when a file's stat is not the one recorded (or none is), it was written since: the data
  most likely changed, and the pass that follows hashes every byte it reads anyway. The
  hashing before it is skipped (measured on a rebuild after a 1% edit: 0.055 s less at 50k,
  0.31 s at 200k). Whether a file changed while the pass read it is then told by its stat,
  taken before and after the pass (`changed`), not by comparing the two hashes.

A stat only tells a write from none if that write gave the file other times. A file's times
come from a clock that ticks (Linux stamps files from a clock updated every 1-10 ms; FAT
keeps whole seconds): a second write within one tick of the first can give it the same
times and size (git calls such entries "racily clean"). So a stat is trusted only when the
file's last write is older than one tick at the moment the stat was taken (`settled`); the
tick is read from the times themselves. A build that finds a file written just before it
started hashes it as it always did. The change time (ctime) is in the stat because no
program can set it back, as `touch -d` sets back the modification time.

Only on POSIX systems: Windows' `st_ctime` is when a file was made, not last changed.
A record that cannot be read is no record: the file is hashed. One blind spot is git's too:
a program that writes a file through a shared memory mapping may change pages already
dirty without new times until they are written back.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

from ftctl.datasets.cache_paths import atomic_write

_FORMAT = 1
# One tick of the clock that stamped a time, read from the time itself (see the module doc).
_WHOLE_SECONDS_TICK_NS = 3_000_000_000  # FAT's 2 s, and a margin
_WHOLE_MS_TICK_NS = 1_000_000_000  # file systems that keep milliseconds, with a wide margin
_FINE_TICK_NS = 50_000_000  # Linux's coarse clock (1-10 ms, CONFIG_HZ), with a margin

TRUSTED = os.name == "posix"


def _tick_ns(stamp_ns: int) -> int:
    if stamp_ns % 1_000_000_000 == 0:
        return _WHOLE_SECONDS_TICK_NS
    if stamp_ns % 1_000_000 == 0:
        return _WHOLE_MS_TICK_NS
    return _FINE_TICK_NS


@dataclass(frozen=True)
class FileStat:
    """What tells a file's writes apart: a write changes its size or its times."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> FileStat | None:
        """The stat of `path` (followed to a link's target, as a build reads it); None when
        it cannot be had."""
        try:
            found = os.stat(path)
        except OSError:
            return None
        return cls.of_result(found)

    @classmethod
    def of_result(cls, found: os.stat_result) -> FileStat:
        """The fields of an `os.stat`/`os.fstat` result kept here."""
        return cls(found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino, found.st_dev)

    def settled(self, at_ns: int) -> bool:
        """At `at_ns` (when this stat was taken), the file's last write was over a tick of
        its clock before: any later write gives it other times."""
        newest = max(self.mtime_ns, self.ctime_ns)
        return at_ns - newest > _tick_ns(newest)


def stats_of(paths: Iterable[Path]) -> dict[Path, FileStat] | None:
    """The stat of each of `paths`; None when one cannot be had."""
    found: dict[Path, FileStat] = {}
    for path in paths:
        stat = FileStat.of(path)
        if stat is None:
            return None
        found[path] = stat
    return found


def changed(before: dict[Path, FileStat]) -> list[Path]:
    """The files of `before` whose stat is now another (or none): written since."""
    return [path for path, stat in before.items() if FileStat.of(path) != stat]


def read_entries(path: Path, numbers: int) -> dict[str, tuple[list[int], str]]:
    """A record's entries (this module's, `cache_verified`'s): file -> (its `numbers`
    integers, its SHA-256); none where the record cannot be read or is not of this format;
    an entry that is not one is left out."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    found: dict[str, tuple[list[int], str]] = {}
    if not isinstance(value, dict) or value.get("format") != _FORMAT:
        return found
    entries = value.get("files")
    if not isinstance(entries, dict):
        return found
    for name, entry in entries.items():
        with contextlib.suppress(TypeError, ValueError):
            *integers, sha256 = entry
            if (
                len(integers) == numbers
                and all(type(n) is int for n in integers)
                and isinstance(sha256, str)
                and len(sha256) == 64
            ):
                found[name] = (integers, sha256)
    return found


def write_entries(path: Path, entries: dict[str, list[int | str]]) -> None:
    """Write a record (`read_entries`) in place of `path`'s; one that cannot be written is
    left as it was (a record only saves hashing)."""
    text = json.dumps({"format": _FORMAT, "files": entries}, sort_keys=True)
    with contextlib.suppress(OSError):
        atomic_write(path, text.encode("utf-8"))


class SourceRecord:
    """A project's record of its source files (see the module's doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # File (as the build resolved it) -> (its stat, when it was taken, its SHA-256).
        self._files: dict[str, tuple[FileStat, int, str]] = self._load() if TRUSTED else {}

    def _load(self) -> dict[str, tuple[FileStat, int, str]]:
        return {
            name: (FileStat(*numbers[:5]), numbers[5], sha256)
            for name, (numbers, sha256) in read_entries(self.path, 6).items()
        }

    def sha256(self, path: Path, stat: FileStat) -> str | None:
        """The SHA-256 recorded for `path` if its stat is still `stat` and was trusted when it
        was recorded; else None (hash the file)."""
        entry = self._files.get(str(path))
        if entry is None:
            return None
        recorded, taken_ns, sha256 = entry
        return sha256 if recorded == stat and recorded.settled(taken_ns) else None

    def save(self, files: dict[Path, tuple[FileStat, int, str]]) -> None:
        """Record `files` (each with its stat, when it was taken, and the SHA-256 of the bytes
        it had then), in place of what was recorded. A record that cannot be written is
        left as it was: it only saves hashing."""
        if not TRUSTED:
            return
        write_entries(
            self.path,
            {
                str(path): [*astuple(stat), taken_ns, sha256]
                for path, (stat, taken_ns, sha256) in files.items()
            },
        )
        self._files = {str(path): entry for path, entry in files.items()}
