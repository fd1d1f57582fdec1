"""Where each canonical line of a built split is: what lets a rebuild copy unchanged lines.

A row whose result comes from the example cache still needs its canonical line, and making
it again (parse, transforms, `json.dumps` with sorted keys) is most of what such a row
costs. The previous build wrote that very line to one of its split objects: each object
gets a sidecar (`objects/<sha256>.lines`) with the 16-byte digest (`example_digest`), the
offset and the length of each distinct line, sorted by digest. A worker finds a cached
row's digest there, reads the line (one `pread` for lines near each other in the object),
and checks it against the digest;
a line not found, or one that does not verify (a damaged or missing object), is made again
as before. Lines are read, not memory-mapped, so that the worker does not hold the object's
pages.

The digests also give `plan` the lines added and removed between two objects without
reading them (`line_digests`).

File format: b"FTLX1\\n", the count of entries and the bytes of the object they cover
(8 bytes each, little-endian; covering all of it means every line is indexed), then the
digests, the offsets (int64) and the lengths (int32), each as one array in digest order.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ftctl.datasets.cache_paths import open_staged
from ftctl.datasets.checks import example_digest

MAGIC = b"FTLX1\n"
DIGEST_BYTES = 16
_GAP = 16 << 10  # bytes between two lines read over rather than read apart
_PIECE_BYTES = 1 << 20  # the most bytes of lines `PreviousLines.pieces` copies as one piece
# The columns of `PreviousLines.locate`'s answer.
REF_OBJECT, REF_OFFSET, REF_LENGTH = 0, 1, 2
_SPAN = 4 << 20  # the most bytes one read takes


class LineIndexWriter:
    """Collects (digest, offset, length) as a split's lines are written; `write_to` saves
    them sorted."""

    def __init__(self) -> None:
        self._digests = bytearray()
        self._offsets = array("q")
        self._lengths = array("i")
        self._covered = 0

    def add_many(
        self, digests: Sequence[bytes], start: int, lengths: Sequence[int], times: Sequence[int]
    ) -> None:
        """Lines written one after another from `start`, each `times[i]` times in a row."""
        sizes = lengths
        if any(t != 1 for t in times):
            sizes = [n * t for n, t in zip(lengths, times, strict=True)]
        if all(len(d) == DIGEST_BYTES for d in digests):
            self.add_block(
                b"".join(digests),
                start,
                np.asarray(lengths, dtype=np.int64),
                np.asarray(sizes, dtype=np.int64),
            )
            return
        offsets = list(itertools.accumulate(sizes, initial=start))
        pieces = zip(digests, offsets[:-1], lengths, sizes, strict=True)
        for digest, offset, length, size in pieces:
            if len(digest) != DIGEST_BYTES:
                continue  # not an example's digest: nothing to find it by
            self._digests += digest
            self._offsets.append(offset)
            self._lengths.append(length)
            self._covered += size

    def add_block(
        self,
        digests: bytes,
        start: int,
        lengths: npt.NDArray[np.int64],
        sizes: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """Lines written one after another from `start`: `digests` their 16-byte digests,
        one after another; `sizes` the bytes each takes with its repeats (None: written
        once each, `lengths`)."""
        assert len(digests) == DIGEST_BYTES * lengths.size
        taken = lengths if sizes is None else sizes
        ends = np.cumsum(taken) + start
        self._digests += digests
        self._offsets.frombytes((ends - taken).astype("=i8").tobytes())
        self._lengths.frombytes(lengths.astype("=i4").tobytes())
        self._covered += int(ends[-1]) - start if lengths.size else 0

    def write_to(self, path: Path) -> None:
        digests = np.frombuffer(self._digests, dtype=f"S{DIGEST_BYTES}")
        order = key_order(digests)
        with open_staged(path) as out:  # a staged file (`cache.staged_file`)
            out.write(MAGIC)
            out.write(len(order).to_bytes(8, "little"))
            out.write(self._covered.to_bytes(8, "little"))
            out.write(digests[order].tobytes())
            out.write(np.frombuffer(self._offsets, dtype="<i8")[order].tobytes())
            out.write(np.frombuffer(self._lengths, dtype="<i4")[order].tobytes())


def key_order(keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.intp]:
    """An order that sorts 16-byte keys by their bytes, equal keys together in no particular
    order. By their first 8 bytes as a number (`SortedKeys`), with numpy's default sort (a
    SIMD quicksort on x86): ~7x quicker than a sort of the strings (3.7 against 27 ms for
    200,000); by the whole keys where two that differ share their first 8 bytes (as good as
    never, for hashes)."""
    if keys.size < 2:
        return np.arange(keys.size, dtype=np.intp)
    prefixes = _prefixes(keys)
    order = np.argsort(prefixes)
    ordered = prefixes[order]
    shared = np.flatnonzero(ordered[1:] == ordered[:-1])
    if shared.size and (keys[order[shared]] != keys[order[shared + 1]]).any():
        return np.argsort(keys, kind="stable")
    return order


def _prefixes(keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each 16-byte key read big-endian: numbers that sort as the keys'
    bytes do."""
    if not keys.size:
        return np.zeros(0, dtype=np.uint64)
    return np.frombuffer(keys.tobytes(), dtype=">u8")[0::2].astype(np.uint64)


class SortedKeys:
    """16-byte keys sorted by their bytes, searched by their first 8 bytes as a number.

    numpy searches 16-byte strings with a string comparison per step; the first 8 bytes
    read big-endian sort the same way and compare as one machine word (a search ~4x
    faster). A prefix found is then checked against the whole key."""

    def __init__(self, keys: npt.NDArray[np.bytes_]) -> None:
        self.keys = keys
        self._prefixes = _prefixes(keys)

    @property
    def size(self) -> int:
        return int(self.keys.size)

    def find(
        self, wanted: npt.NDArray[np.bytes_]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """(which of `wanted` (S16) are here, where they are in `keys`)."""
        if not wanted.size or not self.keys.size:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        prefixes = _prefixes(wanted)
        # Searched for in ascending order: each search then starts where the one before
        # ended, in parts of the array still in the CPU's cache (a 200,000-key array, 440
        # keys at a time: 0.117 -> 0.087 ms).
        order = np.argsort(prefixes)
        at = np.empty(prefixes.size, dtype=np.intp)
        at[order] = np.searchsorted(self._prefixes, prefixes[order])
        at[at == self.keys.size] = 0
        equal = self.keys[at] == wanted
        # Keys that share their first 8 bytes with another (as good as never, for hashes):
        # the first of them was found; the whole keys are searched for the right one.
        shared = np.flatnonzero(~equal & (self._prefixes[at] == prefixes))
        if shared.size:
            again = np.searchsorted(self.keys, wanted[shared])
            again[again == self.keys.size] = 0
            at[shared] = again
            equal[shared] = self.keys[again] == wanted[shared]
        hit = np.flatnonzero(equal)
        return hit, at[hit]


class _Index:
    def __init__(self, data: Path, index: Path) -> None:
        raw = index.read_bytes()
        at = len(MAGIC) + 16
        if not raw.startswith(MAGIC) or len(raw) < at:
            raise ValueError(f"{index}: not a line index")
        count = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 8], "little")
        self.covered = int.from_bytes(raw[len(MAGIC) + 8 : at], "little")
        sizes = (count * DIGEST_BYTES, count * 8, count * 4)
        if len(raw) != at + sum(sizes):
            raise ValueError(f"{index}: truncated")
        self.digests: npt.NDArray[np.bytes_] = np.frombuffer(
            raw, dtype=f"S{DIGEST_BYTES}", count=count, offset=at
        )
        self.sorted = SortedKeys(self.digests)
        self.offsets = np.frombuffer(raw, dtype="<i8", count=count, offset=at + sizes[0])
        self.lengths = np.frombuffer(raw, dtype="<i4", count=count, offset=at + sum(sizes[:2]))
        self.fd = os.open(data, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def unlocated(count: int) -> npt.NDArray[np.int64]:
    """`count` rows of `PreviousLines.locate`'s answer for lines no object has (-1)."""
    refs = np.zeros((count, 3), dtype=np.int64)
    refs[:, REF_OBJECT] = -1
    return refs


class PreviousLines:
    """The lines of earlier split objects, found by digest (see the module's doc)."""

    def __init__(self, objects: Sequence[Path], check_lines: bool = True) -> None:
        """`check_lines` False: a line is not checked against its digest (the caller checks
        the objects whole, `object_intact`)."""
        self._check = check_lines
        self._indexes: list[_Index] = []
        for data in objects:
            # An object or index gone or damaged: its lines are made again instead.
            with contextlib.suppress(OSError, ValueError):
                self._indexes.append(_Index(data, index_path(data)))

    def lines(self, digests: Sequence[bytes] | npt.NDArray[np.bytes_]) -> list[bytes | None]:
        """Each digest's line, where an earlier object holds one that verifies (`digests`
        may be an S16 array)."""
        out: list[bytes | None] = [None] * len(digests)
        if not self._indexes or not len(digests):
            return out
        refs = self.locate(np.asarray(digests, dtype=f"S{DIGEST_BYTES}"))
        for number, index in enumerate(self._indexes):
            rows = np.flatnonzero(refs[:, REF_OBJECT] == number)
            order = np.argsort(refs[rows, REF_OFFSET], kind="stable")
            rows = rows[order]
            self._read(
                index.fd,
                rows.tolist(),
                refs[rows, REF_OFFSET].tolist(),
                refs[rows, REF_LENGTH].tolist(),
                digests,
                out,
            )
        return out

    def locate(self, digests: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
        """Where each digest's line is, without reading it: one row per digest of (the
        number of the object, offset, length) (`REF_*`), the number -1 where no object has
        it. The build copies the lines later, many at once (`pieces`)."""
        refs = unlocated(len(digests))
        todo = np.arange(len(digests))
        for number, index in enumerate(self._indexes):
            if index.digests.size == 0 or todo.size == 0:
                continue
            hit, where = index.sorted.find(np.ascontiguousarray(digests[todo]))
            rows = todo[hit]
            refs[rows, REF_OBJECT] = number
            refs[rows, REF_OFFSET] = index.offsets[where]
            refs[rows, REF_LENGTH] = index.lengths[where]
            todo = np.delete(todo, hit)
        return refs

    def pieces(
        self,
        refs: npt.NDArray[np.int64],
        own: Callable[[int], bytes],
        apart: bool = False,
        later: Callable[[], None] | None = None,
    ) -> tuple[list[bytes | Span], bool]:
        """The lines of rows in order as a few pieces of bytes (what `b"".join` of the
        rows' lines gives), or one a row (`apart`): `refs` as `locate` gives them, `own(k)`
        the line of a row whose number is -1. Lines one after another in one object are read
        with one `pread` (up to `_PIECE_BYTES`), as one piece unless `apart`: a rebuild's
        unchanged rows are in the order the last build wrote them. Second: every line read
        whole (one cut short is filled with zeros to its length: an object changed since it
        was indexed).

        With `later` (not `apart`), the pieces to read are not read here but given as
        `Span`s, read by whoever writes them (`Span.read`), who calls `later()` for one cut
        short; the answer's second is then True."""
        n = len(refs)
        if not n:
            return [], True
        number, offset, length = refs[:, REF_OBJECT], refs[:, REF_OFFSET], refs[:, REF_LENGTH]
        copied = number >= 0
        ends = np.cumsum(np.where(copied, length, 0))
        # A row goes on the read of the row before it if both are copied from one object,
        # the one right after the other, and the read is not yet `_PIECE_BYTES`.
        joins = (
            copied[1:]
            & copied[:-1]
            & (number[1:] == number[:-1])
            & (offset[1:] == offset[:-1] + length[:-1])
            & (ends[1:] // _PIECE_BYTES == ends[:-1] // _PIECE_BYTES)
        )
        starts = [0, *(np.flatnonzero(~joins) + 1).tolist(), n]
        pieces: list[bytes | Span] = []
        short: list[bool] = []
        deferred = later is not None and not apart
        for first, stop in itertools.pairwise(starts):
            if not copied[first]:
                pieces.append(own(first))
                continue
            base = int(offset[first])
            size = int(offset[stop - 1] + length[stop - 1]) - base
            fd = self._indexes[int(number[first])].fd
            if deferred:
                assert later is not None
                pieces.append(Span(fd, base, size, later))
                continue
            data = Span(fd, base, size, lambda: short.append(True)).read()
            if apart and stop - first > 1:
                cuts = (offset[first:stop] - base).tolist()
                sizes = length[first:stop].tolist()
                pieces += [data[at : at + k] for at, k in zip(cuts, sizes, strict=True)]
            else:
                pieces.append(data)
        return pieces, not short

    def _read(
        self,
        fd: int,
        rows: list[int],
        offsets: list[int],
        lengths: list[int],
        digests: Sequence[bytes] | npt.NDArray[np.bytes_],
        out: list[bytes | None],
    ) -> None:
        """Read lines (by ascending offset) into `out[row]` where they verify (or all of
        them, without `check_lines`)."""
        lines = read_runs(fd, offsets, lengths)
        if not self._check:  # a line not read stays None
            for row, line in zip(rows, lines, strict=True):
                out[row] = line
            return
        for row, line in zip(rows, lines, strict=True):
            if line is not None and example_digest(line) == digests[row]:
                out[row] = line

    def close(self) -> None:
        for index in self._indexes:
            index.close()
        self._indexes.clear()


def line_digests(data: Path) -> npt.NDArray[np.bytes_] | None:
    """The digests of every line of a split object, from its index (sorted, a repeated line
    once per run of writes); None when there is no index that covers the whole object.
    Equal digests, equal lines (BLAKE2b-128); whether the object itself is intact is the
    caller's to check (`DatasetCache.has_object`)."""
    try:
        index = _Index(data, index_path(data))
    except (OSError, ValueError):
        return None
    try:
        if index.covered != os.fstat(index.fd).st_size:
            return None
        return index.digests
    finally:
        index.close()


def read_runs(fd: int, offsets: list[int], lengths: list[int]) -> list[bytes | None]:
    """The `lengths[k]` bytes at `offsets[k]` for each k (None where they could not be
    read), with `offsets` ascending: byte ranges close together are read with one `pread`
    (a rebuild's unchanged rows sit one after another in what the last build wrote, so a
    batch takes a few reads instead of one per row). Runs are found with numpy, and each
    run's pieces cut in one list comprehension."""
    n = len(offsets)
    out: list[bytes | None] = [None] * n
    if n == 0:
        return out
    starts = np.asarray(offsets, dtype=np.int64)
    ends = np.maximum.accumulate(starts + np.asarray(lengths, dtype=np.int64))
    for first, last in read_spans(starts, ends, _SPAN):
        base = offsets[first]
        size = int(ends[last - 1]) - base
        try:
            data = pread(fd, size, base)
        except OSError:
            data = b""
        wanted = lengths[first:last]
        parts: list[bytes | None] = [
            data[at - base : at - base + length]
            for at, length in zip(offsets[first:last], wanted, strict=True)
        ]
        if len(data) < size:  # cut short: only the pieces read whole
            parts = [
                p if p is not None and len(p) == length else None
                for p, length in zip(parts, wanted, strict=True)
            ]
        out[first:last] = parts
    return out


def read_spans(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], span: int
) -> list[tuple[int, int]]:
    """[first, last) of the byte ranges `starts[k]`..`ends[k]` (ascending, `ends` too) read
    with one `pread` each: ranges at most `_GAP` apart, from a start up to `span` bytes
    further on (a range longer than that is read alone)."""
    n = int(starts.size)
    cuts = [0, *(np.flatnonzero(starts[1:] - ends[:-1] > _GAP) + 1).tolist(), n]
    spans: list[tuple[int, int]] = []
    for first, stop in itertools.pairwise(cuts):
        while first < stop:
            last = first + int(np.searchsorted(starts[first:stop], starts[first] + span))
            last = max(last, first + 1)
            spans.append((first, last))
            first = last
    return spans


def object_intact(data: Path) -> bool:
    """A split object's bytes hash to its name (`<sha256>.jsonl`)."""
    try:
        with open(data, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == data.stem
    except OSError:
        return False


class Span(NamedTuple):
    """Lines of a last build's object to be copied where they are written
    (`PreviousLines.pieces`): `size` bytes from `offset` of the open file `fd`."""

    fd: int
    offset: int
    size: int
    cut_short: Callable[[], None]  # called when the object no longer holds them all

    def read(self) -> bytes:
        """The bytes, filled with zeros to `size` where the object is shorter."""
        try:
            data = pread(self.fd, self.size, self.offset)
        except OSError:
            data = b""
        if len(data) != self.size:
            self.cut_short()
            data = data[: self.size] + bytes(self.size - len(data))
        return data


def pread(fd: int, length: int, offset: int) -> bytes:
    """`os.pread`, where there is one (not on Windows: a seek and a read there)."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, length)


def index_path(data: Path) -> Path:
    """The line index beside a split object (`<sha256>.jsonl` -> `<sha256>.lines`)."""
    return data.with_suffix(".lines")
