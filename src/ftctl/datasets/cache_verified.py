"""The dataset cache's files that a project's last build verified or wrote, with the stat
they had then (`builds/latest/<project>.verified`): a later build takes such a file, stat
unchanged, as intact without hashing it again.

A build reads files of the cache that decide its output: the split objects that it serves
as a build found unchanged, or that a rebuild copies unchanged lines from, and the rows'
snapshot (`row_snapshot`). Each is checked against its SHA-256 (an object's is its name, a
snapshot's is in its footer) before anything taken from it counts, and that hashing read
every byte of them, every build: at 200,000 rows (470 MB of objects) 0.3 s of a build found
unchanged (what `plan` and `validate` run each time), and a rebuild's check of what it
copied (0.36 CPU-s; the rebuild was 0.26 s shorter without it).

Now a file is hashed once: by the build that wrote it (on the way, as always), or by the
first build that found it without a record. A file is known with the stat it had when it
was verified (taken before it was hashed) or written (after its rename into place); the
build's own touches (`DatasetCache.use` marks files used by their modification time) carry
that knowledge over to the new stat, and a build that passed records what it knows of the
files whose stat is still the one known. A later build that finds a file with the stat
recorded (size, times, inode, device: `source_record.FileStat`) and the SHA-256 its name or
footer says takes it as intact without reading it.

What a stat cannot tell: a write that leaves a file's size and times as they were. A write
through the file system changes the change time (ctime), which no program can set back,
unless it falls in the same tick of the clock the file system stamps times from as the
write before it (git's "racily clean" entries). So a file is recorded only once that clock
is past its times: the build waits for it (on Linux, for less than a tick: its files were
renamed into place or touched a few ms before), or, where the clock cannot be read or the
file system keeps whole milliseconds or seconds, leaves out a file stamped less than
`source_record`'s tick before (it is hashed next time). What is left:

- a write by another program within a tick of one by the build, while the build runs
  (a file of the cache is written once, by a build, to a temporary name and renamed into
  place; a file renamed, copied over or edited since the record is hashed);
- a write through a shared memory mapping of pages already dirty (`source_record`);
- damage that bypasses the file system (a failing disk). That is what hashing every byte of
  every file on every build paid for; `ftctl apply` hashes an object right before it
  uploads it (`ftctl.apply.executor`).

POSIX only (Windows' `st_ctime` is when a file was made), as the source record.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

from ftctl.datasets.source_record import TRUSTED, FileStat, read_entries, write_entries

# Linux stamps files from its coarse real-time clock (CLOCK_REALTIME_COARSE, which Python's
# `time` does not name), or, since 6.13 on some file systems, a finer one for a file whose
# times were read since its last change; either way, once that clock is past a file's
# stamp, a write gets a later one.
_STAMPING_CLOCK = 5 if sys.platform.startswith("linux") else None
_MOST_WAIT_NS = 20_000_000  # a tick of that clock is 1-10 ms (CONFIG_HZ)


def _newest(stat: FileStat) -> int:
    return max(stat.mtime_ns, stat.ctime_ns)


def _stamp_now() -> int | None:
    """The time a write now would be stamped with (at least), where it can be had."""
    if _STAMPING_CLOCK is None:
        return None
    try:
        return time.clock_gettime_ns(_STAMPING_CLOCK)
    except OSError:
        return None


def _fine(stamp_ns: int) -> bool:
    """A stamp of a file system that keeps the clock's nanoseconds (not whole ms or s)."""
    return stamp_ns % 1_000_000 != 0


def _wait_past(stamp_ns: int) -> None:
    """Wait until the stamping clock is past `stamp_ns` (a build's files were renamed into
    place or touched a moment ago: less than one tick, a few ms, and only on Linux)."""
    waited = 0
    while _fine(stamp_ns) and waited < _MOST_WAIT_NS:
        now = _stamp_now()
        if now is None or now > stamp_ns:
            return
        pause = min(stamp_ns - now + 500_000, _MOST_WAIT_NS - waited)
        time.sleep(pause / 1e9)
        waited += pause


def _settled(stat: FileStat, now_ns: int) -> bool:
    """Any write to the file from now on gives it other times (git's "racily clean" entries
    are those for which this does not hold)."""
    newest = _newest(stat)
    stamped = _stamp_now()
    if stamped is not None and _fine(newest):
        return stamped > newest
    return stat.settled(now_ns)  # the source record's rule: a tick read from the stamp


def settled_stat(path: Path) -> FileStat | None:
    """`path`'s stat, once any write to it from now on would change it: after the stamping
    clock's tick, waited for as `VerifiedFiles.save` does. None where a stat cannot tell a
    write: none to be had, the file written meanwhile, a file system that keeps whole
    milliseconds or seconds, a platform whose stat is not trusted (`source_record`)."""
    stat = FileStat.of(path) if TRUSTED else None
    if stat is None:
        return None
    _wait_past(_newest(stat))
    if FileStat.of(path) != stat or not _settled(stat, time.time_ns()):
        return None
    return stat


class VerifiedFiles:
    """A project's record of the cache files its builds verified (see the module's doc).

    Each file is known with the stat it had when it was verified (taken before it was
    hashed) or written (after it was renamed into place); a file whose stat is another by
    the time the record is saved was written meanwhile, and is left out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known: dict[Path, tuple[FileStat, str]] = {}
        self._lock = threading.Lock()  # a rebuild's check runs on a thread of its own
        if TRUSTED:
            for name, (numbers, sha256) in read_entries(path, 5).items():
                stat = FileStat(*numbers)
                if FileStat.of(Path(name)) == stat:  # unchanged since the last build
                    self._known[Path(name)] = (stat, sha256)

    def check(self, path: Path, sha256: str, verify: Callable[[], bool]) -> bool:
        """Whether `path` holds the bytes whose SHA-256 is `sha256` (hex): yes where the file
        is known with that SHA-256 and its stat is the same, else `verify()`'s answer (which
        hashes it)."""
        stat = FileStat.of(path)
        if stat is None:
            return False
        with self._lock:
            known = self._known.get(path)
        if known == (stat, sha256):
            return True
        if not verify():
            return False
        self._know(path, stat, sha256)
        return True

    def wrote(self, path: Path, sha256: str) -> None:
        """This build has just put `path` in place, with those bytes (hashed on the way)."""
        stat = FileStat.of(path)
        if stat is not None:
            self._know(path, stat, sha256)

    def touch(self, path: Path) -> None:
        """Set `path`'s modification time to now (what the cache's trim keeps), the file
        still known if it was (the touch is the only change)."""
        before = FileStat.of(path)
        os.utime(path)
        after = FileStat.of(path)
        with self._lock:
            known = self._known.get(path)
            if known is not None and after is not None and known[0] == before:
                self._known[path] = (after, known[1])

    def _know(self, path: Path, stat: FileStat, sha256: str) -> None:
        with self._lock:
            self._known[path] = (stat, sha256)

    def save(self) -> None:
        """Record the files known, in place of what was recorded (call it after the build's
        last write or touch of them). A record that cannot be written is left as it was:
        it only saves hashing."""
        if not TRUSTED:
            return
        with self._lock:
            known = dict(self._known)
        _wait_past(max((_newest(stat) for stat, _ in known.values()), default=0))
        now = time.time_ns()
        write_entries(
            self.path,
            {
                str(path): [*astuple(stat), sha256]
                for path, (stat, sha256) in known.items()
                # Not written since it was known, and any write from now on gives it other times.
                if FileStat.of(path) == stat and _settled(stat, now)
            },
        )
