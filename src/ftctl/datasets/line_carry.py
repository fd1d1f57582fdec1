"""A rebuild's row keys carried over from the last build, for the lines it finds unchanged.

Every row of a rebuild is keyed (`example_cache.content_keys_in`, the SHA-256 of its line)
before it is looked up in the last build's snapshot (`row_reuse`). At 50,000 rows that is
~0.12 s of the main thread, on the build's critical path: keying every row twice made a 50k
rebuild 13% slower (measured in pairs). A line with the same bytes as a line of the last
build has that line's key; comparing bytes runs at memory speed, hashing them at ~1.7 GB/s
plus ~1 µs of Python a row.

So a build that leaves a row snapshot for the next one also keeps, for each source file it
read whole, a copy of the bytes it read and each line's place and key (`lines/<id>.copy`
and `.keys` in the dataset cache). The next build compares its lines with the copy's, runs
of lines at a time (lines of the same lengths, the same distance apart: one comparison of
the bytes between them), and hashes only the lines that differ (`CarriedKeys.keys_of`):
an edited line, one added, or one the last build did not key.

A key is taken only for bytes equal to those it was made from: nothing is trusted that the
comparison did not check. The copy is a file of the cache, written to a temporary name and
renamed into place by a build that passed; its stat (size, times, inode) is recorded with
the keys once any later write would change it (`cache_verified.settled_stat`), and a copy
whose stat changed, or a keys file that is damaged, is not used (the rows are hashed, as
without it). Disk: one copy per source file a project reads.

The builds that use a copy do not write it again: writing 118 MB took a 50k rebuild's
hashing thread 170-265 ms, and the rebuild was 10% slower than hashing its lines. The lines
edited since are hashed instead, until more than a fifth of a file's lines are not the
copy's (`stale`): the copy is dropped, and the next build keeps a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
from array import array
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt

from ftctl.datasets.cache import staged_file
from ftctl.datasets.cache_paths import atomic_write, open_staged
from ftctl.datasets.cache_verified import settled_stat
from ftctl.datasets.example_cache import content_keys_in
from ftctl.datasets.line_block import LineBlock
from ftctl.datasets.source_record import TRUSTED, FileStat

KEY_BYTES = 16
CARRY_DIR = "lines"
_MAGIC = b"ftctl-line-keys-1\n"
_CHECK = 32  # the SHA-256 of the rest of a keys file, at its end
# Lines a file may have that the copy does not hold, as a share of those read (once
# `_JUDGED_AFTER` were): past it the file was rewritten, and comparing costs more than it
# finds; its rows are hashed as without a copy.
_MOST_UNMATCHED = 0.5
_JUDGED_AFTER = 4096
# Lines of a file the copy no longer holds, as a share of its lines, past which the copy is
# dropped when the build passes (the next build keeps a new one): edits since the copy was
# made are hashed by every build until then.
_MOST_STALE = 0.2
# Lines in a row that differ from the copy's lines in step with them, past which lines were
# added or removed (not edited): the copy is then looked up by key (`_resync`).
_LOST_AFTER = 4
# Pages of the copy already compared are let go every this many bytes (`madvise`): a mapped
# file's pages count in the process's resident memory, and a 200,000-row copy is 470 MB.
_RELEASE_BYTES = 4 << 20

I64 = npt.NDArray[np.int64]
_KEY = np.dtype(f"V{KEY_BYTES}")  # a key as numpy holds it whole (`S16` drops trailing NULs)


def carry_id(project: str, path: Path, split: str, source: int) -> str:
    """The name of one source file's carried keys: per project, file, split and source (a
    file read twice, by two sources, is kept twice). Not per key namespace: a build whose
    rows are keyed in another (a transform, the policy or the encoding changed) finds the
    copy's keys of no use, and keeps a new copy in its place (one copy a file, not one for
    each setting tried)."""
    text = "\0".join((project, os.fspath(path), split, str(source)))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class CarryWriter:
    """One source file's copy and line places, written as the pass reads the file: the
    bytes by the pass's hashing thread (`write`), the lines' places by the main thread
    (`add_lines`); the keys are the rows' at the end of the pass (`keys`)."""

    def __init__(self, root: Path, ident: str, namespace: str, first_row: int) -> None:
        self.root = root
        self.ident = ident
        self.namespace = namespace
        self.first_row = first_row
        self.stop_row = first_row
        self.keys = b""
        self.complete = False  # the file was read to its end
        self.broken = False
        self._starts: list[I64] = []
        self._ends: list[I64] = []
        self._path: Path | None = None
        self._out: BinaryIO | None = None
        try:
            self._path = staged_file(root, ".copy.tmp")
            self._out = open_staged(self._path)
        except OSError:
            self.broken = True

    def write(self, data: memoryview) -> None:
        """The file's next bytes (on the hashing thread, in order)."""
        if self.broken or self._out is None:
            return
        try:
            self._out.write(data)
        except OSError:
            self.broken = True

    def add_lines(self, block: LineBlock, base: int) -> None:
        """The lines of a chunk that starts at `base` in the file (its rows, in order)."""
        self._starts.append(np.frombuffer(block.starts, dtype=np.int64) + base)
        self._ends.append(np.frombuffer(block.ends, dtype=np.int64) + base)

    def commit(self) -> None:
        """Put the copy and its keys in place (a build that passed); anything amiss leaves
        the last build's, or none."""
        out, self._out = self._out, None
        try:
            if out is not None:
                out.close()
        except OSError:
            self.broken = True
        starts = np.concatenate(self._starts) if self._starts else np.zeros(0, np.int64)
        ends = np.concatenate(self._ends) if self._ends else np.zeros(0, np.int64)
        rows = self.stop_row - self.first_row
        if (
            self.broken
            or not self.complete
            or self._path is None
            or starts.size != rows
            or len(self.keys) != rows * KEY_BYTES
        ):
            self.discard()
            return
        folder = self.root / CARRY_DIR
        copy = folder / f"{self.ident}.copy"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, copy)
            self._path = None
            # Recorded once a write to the copy would change it (`cache_verified`), else none.
            stat = settled_stat(copy)
            if stat is None:
                copy.unlink(missing_ok=True)
                return
            header = {"namespace": self.namespace, "rows": rows, "copy": list(astuple(stat))}
            body = (
                _MAGIC
                + json.dumps(header, sort_keys=True).encode("utf-8")
                + b"\n"
                + starts.astype("<i8").tobytes()
                + ends.astype("<i8").tobytes()
                + self.keys
            )
            atomic_write(folder / f"{self.ident}.keys", body + hashlib.sha256(body).digest())
        except OSError:
            self.discard()

    def discard(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(OSError):
                out.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None


class CarriedKeys:
    """The last build's copy of one source file and its lines' keys, and where this build's
    reading of the file has got to in it (`keys_of`, called for the file's lines in order)."""

    def __init__(
        self, copy: mmap.mmap, fd: int, starts: I64, ends: I64, keys: bytes, namespace: str
    ) -> None:
        self._map = copy
        self._fd = fd
        self._view = memoryview(copy)
        self._starts = starts
        self._ends = ends
        self._lengths = ends - starts
        self._gaps = starts[1:] - ends[:-1]  # the bytes between a line and the next
        self._keys = np.frombuffer(keys, dtype=_KEY)
        # A line the last build did not key has zeros (`RowTable`): hashed, never taken.
        self._known = np.frombuffer(keys, dtype=np.uint8).reshape(-1, KEY_BYTES).max(axis=1) > 0
        self.namespace = namespace
        self.ident = ""  # its name in the cache (`open`)
        self._next = 0  # the copy's line the next line read is expected to be
        # The copy's lines in the order of their keys' first 8 bytes (made when lines are out
        # of step: `_place_of`), and those bytes in that order.
        self._order: I64 | None = None
        self._sorted = np.zeros(0, dtype=np.uint64)
        self._lost = 0  # lines in a row that differed from the copy's (`_resync`)
        self._released = 0  # bytes of the copy let go of (`_release`)
        self.matched = 0
        self.unmatched = 0
        self.given_up = False

    @classmethod
    def open(cls, root: Path, ident: str, namespace: str) -> CarriedKeys | None:
        """The keys carried for `ident` in `namespace`, or None where there are none to use:
        none kept, a copy changed since, a damaged keys file, another namespace."""
        if not TRUSTED:  # a stat that cannot tell a write: no copy is trusted
            return None
        folder = root / CARRY_DIR
        try:
            data = (folder / f"{ident}.keys").read_bytes()
        except OSError:
            return None
        body, check = data[:-_CHECK], data[-_CHECK:]
        if not body.startswith(_MAGIC) or hashlib.sha256(body).digest() != check:
            return None
        end = body.find(b"\n", len(_MAGIC))
        if end < 0:
            return None
        try:
            header = json.loads(body[len(_MAGIC) : end])
            rows = int(header["rows"])
            recorded = [int(value) for value in header["copy"]]
        except (ValueError, KeyError, TypeError):
            return None
        if header.get("namespace") != namespace:
            return None
        arrays = memoryview(body)[end + 1 :]
        if len(arrays) != rows * (8 + 8 + KEY_BYTES):  # starts, ends, keys
            return None
        copy = folder / f"{ident}.copy"
        try:
            fd = os.open(copy, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError:
            return None
        try:
            found = os.fstat(fd)
            if FileStat.of_result(found) != FileStat(*recorded) or not found.st_size:
                os.close(fd)
                return None
            mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            os.close(fd)
            return None
        starts = np.frombuffer(arrays[: 8 * rows], dtype="<i8").astype(np.int64)
        ends = np.frombuffer(arrays[8 * rows : 16 * rows], dtype="<i8").astype(np.int64)
        if rows and (starts.min() < 0 or ends.max() > found.st_size or (ends < starts).any()):
            mapped.close()
            os.close(fd)
            return None
        carried = cls(mapped, fd, starts, ends, bytes(arrays[16 * rows :]), namespace)
        carried.ident = ident
        with contextlib.suppress(OSError):  # used: kept by the cache's trim (a read-only one: not)
            os.utime(folder / f"{ident}.keys")
        return carried

    @property
    def stale(self) -> bool:
        """Too many of the lines read were not in the copy (`_MOST_STALE`)."""
        seen = self.matched + self.unmatched
        return self.given_up or self.unmatched > _MOST_STALE * seen

    def close(self) -> None:
        with contextlib.suppress(BufferError):
            self._view.release()
        with contextlib.suppress(OSError, ValueError, BufferError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def keys_of(self, block: LineBlock) -> list[bytes] | None:
        """The keys of `block`'s lines (the file's next lines): the copy's for lines equal
        to its, the others hashed; None once the copy is given up (`RowReuse.look_up`
        hashes them all, as without one)."""
        n = len(block)
        if self.given_up or not n:
            return None
        taken = np.full(n, -1, dtype=np.int64)  # the copy's line each line equals
        hashed: dict[int, bytes] = {}  # keys of lines hashed to find them in the copy
        self._match(block.data, block, taken, hashed)
        found: npt.NDArray[np.bool_] = taken >= 0
        found[found] = self._known[taken[found]]  # a line the last build did not key
        keys = np.empty(n, dtype=_KEY)
        keys[found] = self._keys[taken[found]]
        missing = np.flatnonzero(~found)
        if missing.size:
            unknown = [i for i in missing.tolist() if i not in hashed]
            hashed.update(zip(unknown, _keys_of_lines(self.namespace, block, unknown), strict=True))
            keys[missing] = np.frombuffer(b"".join(hashed[i] for i in missing.tolist()), dtype=_KEY)
        self.matched += n - missing.size
        self.unmatched += missing.size
        seen = self.matched + self.unmatched
        if seen >= _JUDGED_AFTER and self.unmatched > _MOST_UNMATCHED * seen:
            self.given_up = True
        self._release()
        return cast(list[bytes], keys.tolist())

    def _match(self, data: bytes, block: LineBlock, taken: I64, hashed: dict[int, bytes]) -> None:
        """Set `taken[i]` to the copy's line that line i equals, walking both in step.
        A run of lines whose lengths, and the bytes between them, are the copy's lines'
        (at the same distance from each other) is compared whole. A line that differs is
        taken for an edit (the next line is compared with the copy's next one), until
        `_LOST_AFTER` lines in a row differ: then the copy is looked up by the line's key
        (`_resync`). Past the copy's last line, lines are not compared (added ones)."""
        starts = np.frombuffer(block.starts, dtype=np.int64)
        ends = np.frombuffer(block.ends, dtype=np.int64)
        lengths = ends - starts
        gaps = starts[1:] - ends[:-1]
        copy = self._view
        old_starts, old_ends = self._starts, self._ends
        total = old_starts.size
        n = starts.size
        shift: int | None = None  # the copy's line minus this block's, where they are in step
        bad_lengths = bad_gaps = np.zeros(0, dtype=np.int64)
        high = 0
        i = 0
        while i < n and self._next < total:
            j = self._next
            if j - i != shift:
                shift = j - i
                high = min(n, total - shift)  # lines with a line of the copy to compare with
                same = lengths[i:high] == self._lengths[j : high + shift]
                bad_lengths = np.flatnonzero(~same) + i
                gap_high = min(n - 1, total - 1 - shift)
                same = gaps[i:gap_high] == self._gaps[j : gap_high + shift]
                bad_gaps = np.flatnonzero(~same) + i
            stop = high
            at = int(np.searchsorted(bad_lengths, i))
            if at < bad_lengths.size:
                stop = min(stop, int(bad_lengths[at]))
            at = int(np.searchsorted(bad_gaps, i))
            if at < bad_gaps.size:
                stop = min(stop, int(bad_gaps[at]) + 1)  # that line is in, the next is not
            if stop > i:
                first, last = int(starts[i]), int(ends[stop - 1])
                if data.startswith(
                    copy[int(old_starts[j]) : int(old_ends[j + stop - i - 1])], first
                ) and last - first == int(old_ends[j + stop - i - 1]) - int(old_starts[j]):
                    taken[i:stop] = np.arange(j, j + stop - i)
                    self._lost = 0
                else:  # an edit that kept its line's length: line by line
                    for k in range(i, stop):
                        if self._equal(data, starts, ends, k, j + k - i):
                            taken[k] = j + k - i
                self._next = j + stop - i
                i = stop
                continue
            # Line i is not the copy's line j: where does the copy go on?
            self._next = self._resync(block, i, j, hashed)
            i += 1

    def _equal(self, data: bytes, starts: I64, ends: I64, i: int, j: int) -> bool:
        """Whether line i has the bytes of the copy's line j."""
        if i >= starts.size or j >= self._starts.size:
            return False
        a, b = int(starts[i]), int(ends[i])
        c, d = int(self._starts[j]), int(self._ends[j])
        return b - a == d - c and data.startswith(self._view[c:d], a)

    def _resync(self, block: LineBlock, i: int, j: int, hashed: dict[int, bytes]) -> int:
        """The copy's line that line i + 1 is expected to be, line i differing from the
        copy's line j. j + 1 (line i is an edit of it), until `_LOST_AFTER` lines in a row
        differ: then lines were added or removed, and the copy is looked up by line i's key
        (which it needs anyway: kept in `hashed`)."""
        self._lost += 1
        if self._lost < _LOST_AFTER:
            return j + 1
        key = hashed[i] = _keys_of_lines(self.namespace, block, [i])[0]
        at = self._place_of(key)
        if at is None:
            return j + 1
        self._lost = 0
        return at + 1

    def _place_of(self, key: bytes) -> int | None:
        """The copy's first line with `key`, or None. Searched in the keys' first 8 bytes,
        sorted once (4 MB at 200,000 lines, where a dict of them took ~25 MB)."""
        if self._order is None:
            prefixes = self._keys.view(np.uint64).reshape(-1, 2)[:, 0]
            self._order = np.argsort(prefixes, kind="stable")  # equal ones: first line first
            self._sorted = prefixes[self._order]
        prefix = np.frombuffer(key[:8], dtype=np.uint64)[0]
        at = int(np.searchsorted(self._sorted, prefix))
        while at < self._sorted.size and self._sorted[at] == prefix:
            line = int(self._order[at])
            if self._keys[line].tobytes() == key and self._known[line]:
                return line
            at += 1
        return None

    def _release(self) -> None:
        """Let go of the copy's pages before the line expected next (no longer compared,
        unless lines are out of step: then they are read again from the page cache)."""
        done = self._next >= self._starts.size
        upto = len(self._map) if done else int(self._starts[self._next])
        upto -= upto % mmap.PAGESIZE
        if upto - self._released >= _RELEASE_BYTES and hasattr(self._map, "madvise"):
            with contextlib.suppress(OSError, ValueError):
                self._map.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
            self._released = upto


def _keys_of_lines(namespace: str, block: LineBlock, lines: Sequence[int]) -> list[bytes]:
    """`content_keys_in` of some of `block`'s lines (their `\\r`s left out, as `bounds`)."""
    part = LineBlock(
        block.data,
        array("q", [block.starts[i] for i in lines]),
        array("q", [block.ends[i] for i in lines]),
    )
    starts, ends = part.bounds()
    return content_keys_in(namespace, block.data, starts, ends)


class LineCarry:
    """A build's carried keys: those it reads (a rebuild's, from the last build) and those
    it writes for the next build (committed with the build, `commit`)."""

    def __init__(self, root: Path, project: str) -> None:
        self.root = root
        self.project = project
        self.writers: list[CarryWriter] = []
        self._dropped: list[str] = []  # copies too stale to keep (`drop`)

    def reader(self, path: Path, namespace: str, split: str, source: int) -> CarriedKeys | None:
        ident = carry_id(self.project, path, split, source)
        return CarriedKeys.open(self.root, ident, namespace)

    def writer(
        self, path: Path, namespace: str, split: str, source: int, first_row: int
    ) -> CarryWriter:
        ident = carry_id(self.project, path, split, source)
        writer = CarryWriter(self.root, ident, namespace, first_row)
        self.writers.append(writer)
        return writer

    def drop(self, carried: CarriedKeys) -> None:
        """Remove `carried`'s copy when the build passes (`commit`): too stale to keep."""
        self._dropped.append(carried.ident)

    def commit(self) -> None:
        """Put the copies and keys of the files read whole in place, and remove those
        dropped (a build that passed)."""
        writers, self.writers = self.writers, []
        for writer in writers:
            writer.commit()
        dropped, self._dropped = self._dropped, []
        for ident in dropped:
            for suffix in (".keys", ".copy"):  # the keys first: a copy without is never read
                with contextlib.suppress(OSError):
                    (self.root / CARRY_DIR / f"{ident}{suffix}").unlink()

    def discard(self) -> None:
        """Drop what was written (a build that failed; after `commit`, nothing)."""
        writers, self.writers = self.writers, []
        for writer in writers:
            writer.discard()
        self._dropped = []
