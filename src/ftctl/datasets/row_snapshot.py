"""The row results of a project's last build, in one file: what a rebuild looks its rows up
in without asking a worker process or SQLite, row by row.

The example cache (`example_cache`, SQLite) keeps every result ever computed, but a lookup
there costs a worker ~4 µs a row, and sending a row to a worker and its result back costs
more than the lookup. A rebuild after a small edit finds nearly all of its rows in the
last build, so the build's own process keeps that build's results as a snapshot it can
search for a whole batch at once (numpy) and read in a few large reads.

File format (`builds/latest/<project>.rows`, next to the last-build record):

    values, one after another, in the order the build wrote them: a row's record
        (`row_block.Layout`, whose last byte is RECORD_END), or the marshal data of its
        whole result followed by RARE
    strings: the system prompts the records' `system` ids stand for (a marshal list)
    pairs: near-duplicate candidates compared (`stream.NearPairs`): each pair's 33-byte
        name (two row keys and a step) and the similarity of their texts (float64)
    keys (16 bytes each, sorted), offsets (int64) and lengths (int32) of their values
    repeated: per nearDedupe step's place in the records (`row_block.BandGeometry`), band
        hashes that two of the records hold, or may (a marshal list; see below)
    footer: MAGIC, count, where the keys start, where the strings start, where the pairs
        start, where the repeated hashes start, the day written, the SHA-256 of all before
        (a snapshot of the format before, `FTRS2`, has no repeated hashes and one number
        less in its footer: it is read as having none)

The repeated hashes are what a rebuild's nearDedupe step tells the rows alone with
(`near_lonely`). Found by reading every record's hashes twice and sorting them, they took
a 50,000-row rebuild ~60 ms of CPU (a 200,000-row one ~0.25 s), on a thread beside the
pass's start, when both cores are busy; and the rebuild made them again for the next one.
Now each snapshot keeps them: a rebuild reads its last build's, and gives the next one
those plus every hash of the records it did not take from that snapshot (its edited rows:
a few thousand hashes). That is a superset of the hashes two of its records hold: two
records taken from the last snapshot that share a hash were two records there, and any
other pair has a record that is new. A superset only costs lookups (a row that shares one
is looked up, as before this step skipped any). A build that took few of its records from
the last snapshot (a first build, a changed plan), or whose superset has grown by more
than three times the exact set it started from and a twentieth of all its hashes, finds
the exact ones again at its end (on the writing thread).

A snapshot that does not verify is not trusted: its SHA-256 is checked on a thread while
the build reads from it (`row_reuse`), and the build asks before it keeps anything (a damaged
snapshot costs a second pass, never a wrong result). Values are the caller's; they are
records and marshal data, never pickles, for the reason `example_cache` gives.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import marshal
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, cast

import numpy as np
import numpy.typing as npt

from ftctl.datasets.cache import staged_file
from ftctl.datasets.cache_paths import WriteBehind, open_staged
from ftctl.datasets.distinct import distinct
from ftctl.datasets.line_index import SortedKeys, key_order, read_runs, read_spans
from ftctl.datasets.line_index import pread as _pread
from ftctl.datasets.near_index import U64
from ftctl.datasets.near_lonely import repeated_words
from ftctl.datasets.row_block import RECORD_END, BandGeometry, record_bytes

MAGIC = b"FTRS3\n\0\0"
_MAGIC_BEFORE = b"FTRS2\n\0\0"  # without repeated hashes
KEY_BYTES = 16
RARE = 0x52  # b"R": the last byte of a value that is a whole result (marshal data)
_FOOTER = len(MAGIC) + 8 * 6 + 32
_FOOTER_BEFORE = len(MAGIC) + 8 * 5 + 32
PAIR_BYTES = 2 * KEY_BYTES + 1
_MOST_STRINGS = 1 << 24  # bytes of strings a snapshot may hold (a damaged count is refused)
_MOST_REPEATED = 1 << 24  # bytes of repeated hashes, likewise (a larger set is not kept)
# A superset of repeated hashes grown past the exact set it started from by more than this
# many times that set, or this share of all the hashes if more (plus a margin), is found
# again exactly: it would send ever more rows to their lookups. A 200,000-row build's
# exact set can be empty (no two records share a band), and each rebuild after a 1% edit
# adds ~20,000 hashes: it is found again every fourth or fifth rebuild.
_MOST_GROWTH = 3
_GROWTH_SHARE = 0.05
_GROWTH_MARGIN = 1024
# Records not taken from the last snapshot past this share of the build's: their hashes
# would be most of the set kept, so the exact set is found instead.
_MOST_NEW = 0.1
_BUFFER = 1 << 20  # values gathered before a write
_IN_FLIGHT = 4  # blocks of values at most waiting for the writing thread


class SnapshotReader:
    """A snapshot's keys in memory, its values read on demand; `intact()` hashes the whole
    file (the caller runs it beside its reads: `row_reuse`)."""

    def __init__(self, path: Path) -> None:
        """Raises OSError or ValueError for a file that is not a snapshot."""
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            size = os.fstat(self._fd).st_size
            tail = _pread(self._fd, min(size, _FOOTER), max(0, size - _FOOTER))
            if len(tail) == _FOOTER and tail.startswith(MAGIC):
                footer, numbers = tail, 6
            elif len(tail) >= _FOOTER_BEFORE and tail[-_FOOTER_BEFORE:].startswith(_MAGIC_BEFORE):
                footer, numbers = tail[-_FOOTER_BEFORE:], 5
            else:
                raise ValueError(f"{path}: not a row snapshot")
            at = len(MAGIC)
            fields = [
                int.from_bytes(footer[at + 8 * i : at + 8 * i + 8], "little")
                for i in range(numbers)
            ]
            count, keys_at, strings_at, pairs_at = fields[:4]
            day = fields[-1]
            self._expected = footer[at + 8 * numbers :]
            self.sha256 = self._expected.hex()  # of the bytes before the footer
            self._covered = size - len(footer)
            repeated_at = keys_at + count * (KEY_BYTES + 12)
            pair_bytes = keys_at - pairs_at
            if (
                (fields[4] if numbers == 6 else self._covered) != repeated_at
                or not 0 <= self._covered - repeated_at <= _MOST_REPEATED
                or not 0 <= pairs_at - strings_at <= _MOST_STRINGS
                or not 0 <= pair_bytes <= _MOST_STRINGS
                or pair_bytes % (PAIR_BYTES + 8)
            ):
                raise ValueError(f"{path}: truncated")
            # Band hashes that two records hold, per step's place in the records: (sorted,
            # distinct words, the size of the exact set they grew from).
            self.repeated: dict[BandGeometry, tuple[U64, int]] = _read_repeated(
                _pread(self._fd, self._covered - repeated_at, repeated_at)
            )
            strings = marshal.loads(_pread(self._fd, pairs_at - strings_at, strings_at))
            if type(strings) is not list or not all(s is None or type(s) is str for s in strings):
                raise ValueError(f"{path}: not a row snapshot")
            self.strings: list[str | None] = strings
            pairs = _pread(self._fd, pair_bytes, pairs_at)
            n = pair_bytes // (PAIR_BYTES + 8)
            names = np.frombuffer(pairs, dtype=f"V{PAIR_BYTES}", count=n)
            values = np.frombuffer(pairs, dtype="<f8", count=n, offset=n * PAIR_BYTES)
            self.pairs: dict[bytes, float] = dict(
                zip((bytes(v) for v in names), values.tolist(), strict=True)
            )
            raw = _pread(self._fd, count * (KEY_BYTES + 12), keys_at)
            self.day = day
            # The day a build last used it (its footer's, or that of its modification time:
            # a build that reads it touches it, `cache.DatasetCache.use`).
            self.last_used = max(day, int(os.fstat(self._fd).st_mtime // 86_400))
            self.keys: npt.NDArray[np.bytes_] = np.frombuffer(
                raw, dtype=f"S{KEY_BYTES}", count=count
            )
            self._sorted = SortedKeys(self.keys)
            self._offsets = np.frombuffer(raw, dtype="<i8", count=count, offset=count * KEY_BYTES)
            self._lengths = np.frombuffer(
                raw, dtype="<i4", count=count, offset=count * (KEY_BYTES + 8)
            )
        except (EOFError, TypeError):  # marshal data that is not
            os.close(self._fd)
            raise ValueError(f"{path}: not a row snapshot") from None
        except BaseException:
            os.close(self._fd)
            raise

    @classmethod
    def open(cls, path: Path) -> SnapshotReader | None:
        """The snapshot at `path`; None when there is none or it is not one."""
        try:
            return cls(path)
        except (OSError, ValueError):
            return None

    def intact(self) -> bool:
        """The file's bytes are those it was written with."""
        digest = hashlib.sha256()
        done = 0
        try:
            while done < self._covered:
                block = _pread(self._fd, min(_BUFFER, self._covered - done), done)
                if not block:
                    break
                digest.update(block)
                done += len(block)
        except OSError:
            pass
        return done == self._covered and digest.digest() == self._expected

    def _find(self, keys: Sequence[bytes]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """(which of `keys` are here, where they are in `self.keys`)."""
        joined = b"".join(keys)
        if len(joined) != KEY_BYTES * len(keys):
            return self._sorted.find(np.array(keys, dtype=f"S{KEY_BYTES}"))
        return self._sorted.find(np.frombuffer(joined, dtype=f"S{KEY_BYTES}"))

    def values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The value stored for each of `keys`, None where there is none."""
        out: list[bytes | None] = [None] * len(keys)
        hit, where = self._find(keys)
        if hit.size == 0:
            return out
        offsets = self._offsets[where]
        order = np.argsort(offsets, kind="stable")
        self._read(
            hit[order].tolist(), offsets[order].tolist(), self._lengths[where][order].tolist(), out
        )
        return out

    def records(
        self, keys: Sequence[bytes], width: int, end: int
    ) -> tuple[
        npt.NDArray[np.intp], npt.NDArray[np.uint8], list[tuple[int, bytes]], npt.NDArray[np.intp]
    ]:
        """The values of `keys`, split: (positions of those that are records, `width`
        bytes whose last is `end`, in ascending order; their bytes, one row each; (position,
        value) of the others found, whole results; where each record's key is in `keys`,
        the snapshot's, which tells a record found twice).

        A rebuild finds nearly every row here as a record: those are read a run of
        neighbours at a time into one array, not as a bytes object each (what `values`
        makes: ~1 µs a row, then joined again to be read as records)."""
        hit, where = self._find(keys)
        if hit.size == 0:
            none = np.zeros(0, dtype=np.intp)
            return none, np.zeros((0, width), dtype=np.uint8), [], none
        offsets = self._offsets[where]
        lengths = self._lengths[where]
        sized = lengths == width
        others: list[tuple[int, bytes]] = []
        if not sized.all():
            rows = hit[~sized]
            out: list[bytes | None] = [None] * len(keys)
            order = np.argsort(offsets[~sized], kind="stable")
            self._read(
                rows[order].tolist(),
                offsets[~sized][order].tolist(),
                lengths[~sized][order].tolist(),
                out,
            )
            others = [(row, v) for row in rows.tolist() if (v := out[row]) is not None]
        rows, starts, places = hit[sized], offsets[sized], where[sized]
        # (Rows asking for one key twice share a start, and get the same bytes in any order;
        # numpy's default sort is the quick one, `line_index.key_order`.)
        order = np.argsort(starts)
        rows, starts, places = rows[order], starts[order], places[order]
        gathered = np.empty((rows.size, width), dtype=np.uint8)
        read = np.zeros(rows.size, dtype=np.bool_)
        for lo, hi, run in _runs(self._fd, starts, width):
            gathered[lo:hi] = run
            read[lo:hi] = True
        records = read & (gathered[:, -1] == end)
        for k in np.flatnonzero(read & ~records).tolist():  # a whole result of that size
            others.append((int(rows[k]), gathered[k].tobytes()))
        picked = np.flatnonzero(records)
        picked = picked[np.argsort(rows[picked])]  # in the order asked for (distinct rows)
        return (
            rows[picked],
            gathered[picked],
            sorted(others),
            places[picked],
        )

    def record_words(self, bands: BandGeometry) -> Iterator[U64]:
        """The band hashes at `bands` of the records of that width, of signed rows, a run
        of records at a time (`_record_words`)."""
        starts = np.sort(self._offsets[self._lengths == bands.width])
        return _record_words(self._fd, starts, bands)

    def repeated_hashes(self, bands: BandGeometry) -> tuple[U64, int]:
        """The hashes at `bands` that two of the records hold: those kept with the
        snapshot (a superset, and the size of the exact set it grew from), else found."""
        kept = self.repeated.get(bands)
        if kept is not None:
            return kept
        words = repeated_words(lambda: self.record_words(bands))
        return words, int(words.size)

    def left_out(
        self, kept: npt.NDArray[np.bytes_], chunk: int = 4096
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        """(key, value) of each row here whose key is not in `kept` (sorted), `chunk` rows
        at a time, read in file order."""
        keys = self.keys
        staying = np.zeros(keys.size, dtype=np.bool_)
        staying[SortedKeys(kept).find(keys)[0]] = True
        leaving = np.flatnonzero(~staying)
        for start in range(0, leaving.size, chunk):
            rows = leaving[start : start + chunk]
            order = np.argsort(self._offsets[rows], kind="stable")
            rows = rows[order]
            # The keys' bytes as they are: an S16 item loses its trailing NULs as bytes.
            raw = np.ascontiguousarray(keys[rows]).tobytes()
            values = read_runs(self._fd, self._offsets[rows].tolist(), self._lengths[rows].tolist())
            yield [
                (raw[KEY_BYTES * n : KEY_BYTES * (n + 1)], value)
                for n, value in enumerate(values)
                if value is not None
            ]

    def _read(
        self, rows: list[int], offsets: list[int], lengths: list[int], out: list[bytes | None]
    ) -> None:
        for row, value in zip(rows, read_runs(self._fd, offsets, lengths), strict=True):
            out[row] = value

    def close(self) -> None:
        """Close the file and let go of the keys (a second call does nothing)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        self.keys = self.keys[:0]
        self._sorted = SortedKeys(self.keys)
        self._offsets = self._offsets[:0]
        self._lengths = self._lengths[:0]


class SnapshotWriter:
    """A build's row results as they come, streamed to a staged file of the cache at
    `cache_root` (`cache.staged_file`); `commit` puts the snapshot at `path`, `discard`
    drops it. Only the keys, offsets and lengths are held in memory (28 bytes a row)."""

    def __init__(self, path: Path, day: int, cache_root: Path) -> None:
        self.path = path
        self.cache_root = cache_root
        self.day = day
        self._file: Path | None = None
        self._out: IO[bytes] | None = None
        self._keys = bytearray()
        self._offsets = array("q")
        self._lengths = array("i")
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._size = 0
        self._hash = hashlib.sha256()
        self._writes = WriteBehind("ftctl-snapshot-writer", _IN_FLIGHT)  # values (`_flush`)
        self.strings: list[str | None] = []  # what the records' `system` ids stand for
        self.pairs: dict[bytes, float] = {}  # near-duplicate candidates compared
        # Per nearDedupe step's place in the records, its repeated hashes: given whole
        # ((sorted words, the size of the exact set they grew from): `keep_repeated`), or
        # found here at `finish` from the records written (`exact`).
        self.repeated: dict[BandGeometry, tuple[U64, int]] = {}
        self.exact: set[BandGeometry] = set()
        self._record_starts: dict[int, npt.NDArray[np.int64]] = {}  # by width (`finish`)
        # Where the sections start, and the keys kept (`finish`, for the footer: `_end`).
        self._strings_at = self._pairs_at = self._keys_at = self._count = 0
        self.broken = False  # a write failed: nothing will be committed
        self._finished = False
        # Once finished: its keys, sorted, each once (what the last build's rows that this one
        # left out are found with: `row_reuse.RowReuse.left_behind`).
        self.kept: npt.NDArray[np.bytes_] | None = None
        self.sha256: str | None = None  # in its footer, once finished (`SnapshotReader.sha256`)

    def add_records(self, keys: Sequence[bytes], records: npt.NDArray[np.void]) -> None:
        """Rows whose values are records (`row_block`), one per key, in order."""
        n = len(keys)
        if self.broken or self._finished or n == 0:
            return
        width = records.dtype.itemsize
        joined = b"".join(keys)
        if len(joined) != n * KEY_BYTES:
            return
        self._keys += joined
        start = self._size + self._buffered
        self._offsets.frombytes((start + np.arange(n, dtype="=i8") * width).tobytes())
        self._lengths.frombytes(np.full(n, width, dtype="=i4").tobytes())
        self._buffer.append(record_bytes(records))
        self._buffered += n * width
        if self._buffered >= _BUFFER:
            self._flush()

    def add_many(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Rows with values of their own (a whole result: the caller ends it with RARE)."""
        if self.broken or self._finished:
            return
        for key, value in items:
            if len(key) != KEY_BYTES:
                continue
            self._keys += key
            self._offsets.append(self._size + self._buffered)
            self._lengths.append(len(value))
            self._buffer.append(value)
            self._buffered += len(value)
        if self._buffered >= _BUFFER:
            self._flush()

    def _write(self, section: bytes) -> None:
        """A section after the values (written at once: the buffer is empty)."""
        self._buffer.append(section)
        self._buffered += len(section)
        self._flush()

    def _flush(self) -> None:
        """Hand the values gathered to the writing thread: hashing and writing them (both
        release the GIL) cost a 200,000-row build's main thread ~0.1 s."""
        if not self._buffer or self.broken:
            return
        block = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        try:
            if self._out is None:
                self._file = staged_file(self.cache_root, ".rows.tmp")
                self._out = open_staged(self._file)  # closed by finish/discard
        except OSError:
            self.broken = True
            self.discard()
            return
        self._size += len(block)
        self._writes.submit(self._write_block, self._out, block)

    def _write_block(self, out: IO[bytes], block: bytes) -> None:
        """On the writing thread: a failed write leaves the snapshot `broken` (discarded)."""
        if self.broken:
            return
        try:
            out.write(block)
        except OSError:
            self.broken = True
            return
        self._hash.update(block)

    def finish(self) -> None:
        """Sort the keys (a key written twice is kept once: the same row, the same value)
        and write them to the temporary file; nothing more can be added. The repeated
        hashes and the footer are written by `commit`. A snapshot that cannot be written is
        left out: the next rebuild asks the workers."""
        if self._finished:
            return
        self._finished = True
        self._flush()
        if self.broken:
            self.discard()
            return
        self._strings_at = self._size
        self._write(marshal.dumps(self.strings))  # written even with no row at all
        self._pairs_at = self._size
        names = [name for name in self.pairs if len(name) == PAIR_BYTES]
        values = np.array([self.pairs[name] for name in names], dtype="<f8")
        self._write(b"".join(names) + values.tobytes())
        self._writes.wait()  # the rest is written here, after the values
        if self.broken:
            self.discard()
            return
        # Written a column at a time, hashed on the way: no copy of the whole index is made
        # (the build's columns are still in memory when this runs).
        keys = np.frombuffer(self._keys, dtype=f"S{KEY_BYTES}")
        order = key_order(keys)
        first = np.ones(len(order), dtype=np.bool_)
        first[1:] = keys[order[1:]] != keys[order[:-1]]
        order = order[first]
        self.kept = keys[order]
        offsets = np.frombuffer(self._offsets, dtype="<i8")
        lengths = np.frombuffer(self._lengths, dtype="<i4")
        # Where the values of the widths whose repeated hashes `commit` finds are (the
        # records), kept past the columns (8 bytes a record).
        self._record_starts = {
            width: np.sort(offsets[order][lengths[order] == width])
            for width in {bands.width for bands in self.exact}
        }
        out = self._out
        assert out is not None
        self._keys_at = self._size
        try:
            for column in (keys, offsets, lengths):
                part = column[order].tobytes()
                self._hash.update(part)
                out.write(part)
                self._size += len(part)
                del part
        except OSError:
            self.broken = True
            self.discard()
        self._count = len(order)
        self._keys = bytearray()
        self._offsets = array("q")
        self._lengths = array("i")

    def keep_repeated(
        self, bands: BandGeometry, last: tuple[U64, int] | None, new: Sequence[U64], rows: int
    ) -> None:
        """The repeated hashes at `bands` to keep: `last`, those of the snapshot this build
        took records from (sorted words, the size of the exact set they grew from), with
        every hash in `new`, those of the records it did not take from there, which are
        `rows` of the build's records; or, when there is no `last`, when most records are
        new, or when that would be a set grown too large, found again exactly (`finish`)."""
        added = sum(int(words.size) for words in new)
        if last is None or added > _MOST_NEW * rows * bands.hashes:
            self.exact.add(bands)
            return
        words, base = last
        merged = cast(U64, distinct(np.concatenate([words, *new]).astype(np.uint64, copy=False)))
        growth = max(_MOST_GROWTH * base, _GROWTH_SHARE * rows * bands.hashes)
        if merged.size > base + growth + _GROWTH_MARGIN:
            self.exact.add(bands)
            return
        self.repeated[bands] = (merged, base)

    def _repeated_section(self) -> bytes:
        """The repeated hashes section: those given, and those found now from the records
        written (`exact`): at the end of the build, once its checks have let go of their
        memory (finding them takes ~16 MB for a moment, ~0.13 s at 200,000 rows; beside the
        checks it took a 200,000-row first build past 250 MB)."""
        sets = dict(self.repeated)
        if self.exact and self._file is not None and self._out is not None:
            self._out.flush()
            fd = os.open(self._file, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                for bands in sorted(self.exact):
                    starts = self._record_starts.get(bands.width)
                    if starts is not None:
                        words = repeated_words(functools.partial(_record_words, fd, starts, bands))
                        sets[bands] = (words, int(words.size))
            finally:
                os.close(fd)
        self._record_starts = {}
        section = _repeated_section(sets)
        # A set too large to be read back is left out: the next build finds it again.
        return section if len(section) <= _MOST_REPEATED else _repeated_section({})

    def _end(self) -> None:
        """The repeated hashes and the footer, after the keys (`finish`)."""
        out = self._out
        if self.broken or out is None:
            return
        try:
            section = self._repeated_section()
            self._hash.update(section)
            out.write(section)
            out.write(
                b"".join(
                    (
                        MAGIC,
                        self._count.to_bytes(8, "little"),
                        self._keys_at.to_bytes(8, "little"),
                        self._strings_at.to_bytes(8, "little"),
                        self._pairs_at.to_bytes(8, "little"),
                        self._size.to_bytes(8, "little"),  # where the repeated hashes are
                        self.day.to_bytes(8, "little"),
                        self._hash.digest(),
                    )
                )
            )
            self.sha256 = self._hash.hexdigest()
            out.close()
            self._out = None
        except OSError:
            self.broken = True

    def commit(self) -> bool:
        """Write the repeated hashes and the footer, and put the snapshot in place
        (`finish`ed first, if it was not); whether it was."""
        self.finish()
        self._end()
        if self.broken or self._file is None or self._out is not None:
            self.discard()
            return False
        # The last build's snapshot is moved aside first, not replaced by the rename: ext4
        # (`auto_da_alloc`) starts writing a file out when it is renamed over another,
        # in the renaming call (0.044 s for a 200,000-row snapshot, at the end of every
        # rebuild). Its bytes need no such care: a snapshot cut short by a crash is found
        # out by its hash (`SnapshotReader.intact`) and not used.
        aside = self.path.with_name(f".{self.path.name}.{os.getpid()}.replaced")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a first build has none
                os.replace(self.path, aside)
            os.replace(self._file, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.replace(aside, self.path)  # the last build's, back (if it was moved)
            self.discard()
            return False
        aside.unlink(missing_ok=True)
        self._file = None
        return True

    def discard(self) -> None:
        self._writes.wait()
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
        if self._file is not None:
            self._file.unlink(missing_ok=True)
            self._file = None


def _record_words(fd: int, starts: npt.NDArray[np.int64], bands: BandGeometry) -> Iterator[U64]:
    """The 64-bit words of the values at `starts` (ascending) of `fd` that are records, a
    large read at a time (in file order): records being values of `bands.width` bytes that
    end in RECORD_END and whose byte `bands.flag` is not 0; their words the `bands.hashes`
    at byte `bands.start` (a nearDedupe step's band hashes, of signed rows: `near_lonely`).
    A value cut short is left out (a damaged snapshot is not kept: `intact`).

    The words of a read's records are gathered at once, not a run of neighbours at a time:
    a first build's records are cut into short runs by the whole results between them
    (~2,000 runs for 200,000 rows), and a run's own numpy calls took most of the time."""
    width = bands.width
    size = 8 * bands.hashes
    for first, stop, data in _span_reads(fd, starts, width):
        read = np.frombuffer(data, dtype=np.uint8)
        at = starts[first:stop] - int(starts[first])
        at = at[at + width <= read.size]  # a value cut short: not read
        at = at[(read[at + width - 1] == RECORD_END) & (read[at + bands.flag] != 0)]
        if at.size:
            # Every `size` bytes of the read, from each byte on, as one item: the records'
            # hashes are then one gather of whole items.
            items = np.ndarray((read.size - size + 1,), f"V{size}", data, 0, (1,))
            yield items[at + bands.start].view("<u8")


def _runs(
    fd: int, starts: npt.NDArray[np.int64], width: int
) -> Iterator[tuple[int, int, npt.NDArray[np.uint8]]]:
    """The values of `width` bytes at `starts` (ascending) of `fd`, read with a few large
    preads: (lo, hi, values lo..hi as the rows of an array) for each run of them written one
    after another (a rebuild's are, but for the whole results between them); a run the file
    no longer holds whole is left out."""
    for first, stop, data in _span_reads(fd, starts, width):
        at = (starts[first:stop] - int(starts[first])).tolist()
        cuts = [0, *(np.flatnonzero(np.diff(starts[first:stop]) != width) + 1).tolist()]
        cuts.append(stop - first)
        view = memoryview(data)
        for lo, hi in itertools.pairwise(cuts):
            piece = view[at[lo] : at[hi - 1] + width]
            if len(piece) == (hi - lo) * width:  # else cut short: not read
                yield first + lo, first + hi, np.frombuffer(piece, np.uint8).reshape(-1, width)


def _span_reads(
    fd: int, starts: npt.NDArray[np.int64], width: int
) -> Iterator[tuple[int, int, bytes]]:
    """(first, stop, bytes) for each large read of the values of `width` bytes at `starts`
    (ascending) of `fd`: values first..stop-1, read from `starts[first]` on with one `pread`
    (`read_spans`; what the file no longer holds is cut short, a read that fails skipped)."""
    for first, stop in read_spans(starts, starts + width, _BUFFER):
        base = int(starts[first])
        try:
            data = _pread(fd, int(starts[stop - 1]) + width - base, base)
        except OSError:
            continue
        yield first, stop, data


def _read_repeated(data: bytes) -> dict[BandGeometry, tuple[U64, int]]:
    """The repeated hashes section (`SnapshotWriter._repeated_section`); ValueError for one
    that is not (the file is then not a snapshot, as for its strings)."""
    if not data:
        return {}
    try:
        items = marshal.loads(data)
    except (EOFError, TypeError):
        raise ValueError("not a row snapshot") from None
    if type(items) is not list:
        raise ValueError("not a row snapshot")
    found: dict[BandGeometry, tuple[U64, int]] = {}
    for item in items:
        if (
            type(item) is not tuple
            or len(item) != 6
            or not all(type(n) is int and n >= 0 for n in item[:5])
            or type(item[5]) is not bytes
            or len(item[5]) % 8
        ):
            raise ValueError("not a row snapshot")
        words = np.frombuffer(item[5], dtype="<u8").astype(np.uint64)
        if words.size > 1 and not bool((words[1:] > words[:-1]).all()):
            raise ValueError("not a row snapshot")  # the lookups need them sorted, once each
        found[BandGeometry(*item[:4])] = (words, item[4])
    return found


def _repeated_section(sets: dict[BandGeometry, tuple[U64, int]]) -> bytes:
    return marshal.dumps(
        [
            (*bands, base, np.ascontiguousarray(words, dtype="<u8").tobytes())
            for bands, (words, base) in sorted(sets.items())
        ]
    )
