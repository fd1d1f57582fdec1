"""Near-duplicate search over a stream, in compact numpy arrays (MinHash LSH).

The same decisions as the dict-based `NearIndex` and `near_duplicates_in_order` it replaced
(kept as the tests' reference, tests/datasets/reference_near.py; candidates are
items sharing a whole LSH band of the signature, verified with the exact Jaccard of the
shingle sets, the smallest verified key wins), at a fraction of the memory:

- `band_hashes` turns each signature into one 64-bit hash per band, so a signature need not
  be kept once its band hashes are known;
- `BandIndex` keeps, per item, its key and one 64-bit word per band (about 8 * (bands + 1)
  bytes, 80 by default) in sorted runs merged like an LSM tree, searched with
  `np.searchsorted`, instead of NearIndex's dict entries per band (about 1 KB per item);
- `TextSpill` keeps texts in an unnamed temporary file (8 bytes of memory per text), read
  back only to verify a candidate.

A band hash equal to another's while the band bytes differ (a hash collision) only adds a
candidate, which the exact Jaccard check rejects unless the pair really is that similar.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import numpy.typing as npt

from ftctl.datasets.distinct import distinct
from ftctl.datasets.similarity import Match, jaccard, lsh_params, shingles

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Constants of the band hash (splitmix64's / MurmurHash3's fmix64): a multiply by an odd
# constant and an xor-shift are each a bijection of 64-bit words, so two bands differing in one
# word always hash differently; bands differing in more collide with probability ~2^-64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_S29 = np.uint64(29)

# Rows of one call handled at a time: bounds the temporary arrays of a lookup, whatever
# chunk the caller passes (the answers do not depend on how a stream is cut).
_SLICE = 4096


# --------------------------------------------------------------------------- band hashes


def _fmix64(h: U64) -> U64:
    h = h ^ (h >> _S33)
    h = h * _MIX1
    h = h ^ (h >> _S33)
    h = h * _MIX2
    return h ^ (h >> _S33)


def band_hashes(
    signatures: Sequence[bytes | None], num_perm: int, threshold: float
) -> tuple[U64, Bools]:
    """(hashes, signed): hashes is an (m, bands) uint64 array, one 64-bit hash per LSH band
    of each signature (bands and rows from `lsh_params(threshold, num_perm)`, band i being
    the signature's uint32 values [i*rows, (i+1)*rows), as `NearIndex` slices them); signed[j]
    is False where signatures[j] is None (a text without words; its hashes mean nothing)."""
    m = len(signatures)
    width = num_perm * 4
    signed = np.fromiter((s is not None for s in signatures), dtype=np.bool_, count=m)
    blank = b"\0" * width
    raw = b"".join(blank if s is None else s for s in signatures)
    if len(raw) != m * width:
        raise ValueError(f"signatures must be {width} bytes each (num_perm {num_perm})")
    values = np.frombuffer(raw, dtype=np.uint32).reshape(m, num_perm)
    return matrix_band_hashes(values, threshold), signed


def matrix_band_hashes(values: npt.NDArray[np.uint32], threshold: float) -> U64:
    """`band_hashes` of the signatures that are the rows of `values` (m, num_perm)."""
    m, num_perm = values.shape
    bands, rows = lsh_params(threshold, num_perm)
    grouped = values[:, : bands * rows].reshape(m, bands, rows).astype(np.uint64)
    if rows % 2:  # pad to whole 64-bit words: every band of the call is padded alike
        grouped = np.concatenate([grouped, np.zeros((m, bands, 1), dtype=np.uint64)], axis=2)
    words = grouped[:, :, 0::2] | (grouped[:, :, 1::2] << _S32)
    h = np.full((m, bands), np.uint64(rows), dtype=np.uint64)
    for w in range(words.shape[2]):
        h = (h ^ words[:, :, w]) * _GOLDEN
        h = h ^ (h >> _S29)
    return _fmix64(h)


# --------------------------------------------------------------------------- text spill


class TextSpill:
    """Texts appended to an unnamed temporary file, read back by id.

    Memory: the end offset of each text (8 bytes, in a growable numpy array) and a write
    buffer. Texts are stored as UTF-8 with "surrogatepass" (JSON may hold lone surrogates),
    so every str comes back exactly.
    """

    _FLUSH_BYTES = 1 << 20

    def __init__(self, directory: Path | None = None) -> None:
        # Held open for the spill's life (closed by close()/__exit__), hence no `with`.
        self._file: IO[bytes] | None = tempfile.TemporaryFile(  # noqa: SIM115
            dir=None if directory is None else str(directory), buffering=0
        )
        self._ends = np.zeros(1024, dtype=np.int64)  # end offset of text i
        self._count = 0
        self._written = 0  # bytes in the file
        self._size = 0  # bytes in the file and the buffer
        self._pending: list[bytes] = []

    def add(self, text: str) -> int:
        data = text.encode("utf-8", "surrogatepass")
        i = self._count
        if i == self._ends.size:
            self._ends = np.concatenate([self._ends, np.zeros_like(self._ends)])
        self._size += len(data)
        self._ends[i] = self._size
        self._count = i + 1
        if data:
            self._pending.append(data)
            if self._size - self._written >= self._FLUSH_BYTES:
                self._flush()
        return i

    def add_many(self, texts: Iterable[str]) -> None:
        data = [text.encode("utf-8", "surrogatepass") for text in texts]
        if not data:
            return
        ends = np.cumsum(np.fromiter(map(len, data), dtype=np.int64, count=len(data)))
        ends += self._size
        count = self._count + len(data)
        if count > self._ends.size:
            grown = np.zeros(max(count, 2 * self._ends.size), dtype=np.int64)
            grown[: self._count] = self._ends[: self._count]
            self._ends = grown
        self._ends[self._count : count] = ends
        self._count = count
        self._size = int(ends[-1])
        self._pending.extend(data)
        if self._size - self._written >= self._FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        handle = self._open()
        data = b"".join(self._pending)
        self._pending.clear()
        handle.seek(self._written)
        handle.write(data)
        self._written += len(data)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            raise ValueError("the text spill is closed")
        return self._file

    def __getitem__(self, i: int) -> str:
        index = int(i)
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"text {i} of {self._count}")
        start = int(self._ends[index - 1]) if index else 0
        end = int(self._ends[index])
        if start == end:
            return ""
        if end > self._written:
            self._flush()
        handle = self._open()
        if hasattr(os, "pread"):
            data = os.pread(handle.fileno(), end - start, start)
        else:  # pragma: no cover - Windows
            handle.seek(start)
            data = handle.read(end - start)
        return data.decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._pending.clear()

    def __enter__(self) -> TextSpill:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- band index


@dataclass
class _Run:
    """Items indexed together. `keys` ascending; `words[b]` ascending, each word being the
    item's band-b hash with its low `bits` bits replaced by the item's position in `keys`
    (so one bucket, the words of equal high bits, lists its items in key order). One array
    per band, so that a merge can free a band of the old runs as soon as it has made the new
    one's."""

    keys: I64
    words: list[U64]
    bits: int

    @property
    def mask(self) -> np.uint64:
        return np.uint64((1 << self.bits) - 1)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + sum(w.nbytes for w in self.words)


_NO_WORDS: U64 = np.zeros(0, dtype=np.uint64)


def index_bits(n: int) -> int:
    """The low bits of a band's words that hold an item's position in a run of `n` items
    (what a band hash is compared without: `band_join` compares as a run does)."""
    return max(0, (n - 1).bit_length())


def _make_run(keys: I64, hashes: U64) -> _Run:
    # Distinct keys (`insert`): any sort orders them the same; numpy's default is the
    # quick one (a SIMD quicksort on x86, ~4x a stable sort of 64-bit numbers).
    order = np.argsort(keys)
    bits = index_bits(keys.size)
    mask = np.uint64((1 << bits) - 1)
    positions = np.empty(keys.size, dtype=np.uint64)
    positions[order] = np.arange(keys.size, dtype=np.uint64)
    words = []
    for b in range(hashes.shape[1]):
        word = (hashes[:, b] & ~mask) | positions
        word.sort()
        words.append(word)
    return _Run(keys[order], words, bits)


def _merge(runs: list[_Run]) -> _Run:
    """One run of `runs` (disjoint keys): positions renumbered, words re-sorted. Each band of
    the old runs is dropped once the new run's is made (the peak is about one band more)."""
    keys = np.concatenate([run.keys for run in runs])
    # The runs' keys (distinct, each run's ascending) and each band's words are ascending
    # runs end to end (a run's words keep their order when renumbered, but for two whose
    # hashes differ only in the low bits the positions now take: as good as never). numpy's
    # stable sort (timsort) merges such runs, where its default sort sorted them again: a
    # 200,000-row rebuild's nearDedupe index took 0.26 s, 0.11 s now.
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    new_position = np.empty(keys.size, dtype=np.uint64)
    new_position[order] = np.arange(keys.size, dtype=np.uint64)
    del order
    bits = index_bits(keys.size)  # at least any run's: their hash bits above it are intact
    mask = np.uint64((1 << bits) - 1)
    words: list[U64] = []
    for b in range(len(runs[0].words)):
        word = np.empty(keys.size, dtype=np.uint64)
        offset = 0
        for run in runs:
            size = run.keys.size
            old = run.words[b]
            renumbered = new_position[offset : offset + size][(old & run.mask).astype(np.intp)]
            np.bitwise_or(old & ~mask, renumbered, out=word[offset : offset + size])
            run.words[b] = _NO_WORDS  # not a view of `old`: that would keep it alive
            del old, renumbered
            offset += size
        word.sort(kind="stable")  # values alone: any sort gives them in the same order
        words.append(word)
    return _Run(keys, words, bits)


@dataclass
class _Hits:
    """Where the buckets of some rows are in the runs: hit i is the slice
    [start[i], stop[i]) of `runs[run[i]].words[band[i]]`, for row `row[i]`; sorted by row."""

    row: I64
    run: I64
    band: I64
    start: I64
    stop: I64

    def bounds(self, m: int) -> I64:
        """bounds[j]:bounds[j+1] are row j's hits."""
        return np.searchsorted(self.row, np.arange(m + 1)).astype(np.int64)


# (key, candidate key, compute) -> their texts' similarity: known, or computed (and kept).
Pairs = Callable[[int, int, Callable[[], float]], float]


class BandIndex:
    """LSH buckets of the items inserted so far, in numpy arrays: per item its key and one
    64-bit word per band, about 8 * (bands + 1) bytes.

    Items are kept in sorted runs, merged when a run is no larger than the next one (like an
    LSM tree: O(log n) runs, each item re-sorted O(log n) times). `text_of(key)` gives back an
    inserted item's text: only candidates are verified, with the exact Jaccard of `shingles`,
    as `NearIndex` does.
    """

    def __init__(
        self,
        threshold: float,
        num_perm: int,
        text_of: Callable[[int], str],
        pairs: Pairs | None = None,
    ) -> None:
        """`pairs(key, candidate, compute)`: the similarity of two keys' texts, `compute()`
        where it is not known (`query_insert_in_order` asks it instead of comparing them)."""
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._text_of = text_of
        self._pairs = pairs
        self._runs: list[_Run] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held (what a bench reports per item)."""
        return sum(run.nbytes for run in self._runs)

    # ----------------------------------------------------------------- insertion

    def _check(self, hashes: U64, signed: Bools, m: int) -> None:
        if hashes.shape != (m, self.bands) or signed.shape != (m,):
            raise ValueError(
                f"expected hashes of shape ({m}, {self.bands}) and signed of shape ({m},)"
            )

    def _known(self, keys: I64) -> Bools:
        """Which of `keys` are already indexed."""
        found = np.zeros(keys.size, dtype=np.bool_)
        for run in self._runs:
            at = np.searchsorted(run.keys, keys)
            inside = at < run.keys.size
            found[inside] |= run.keys[at[inside]] == keys[inside]
        return found

    def insert(self, keys: npt.ArrayLike, hashes: U64, signed: Bools) -> None:
        """Index items `keys` (int64, any order; a key already indexed, or repeated, keeps its
        first insertion, as `NearIndex.add_signed`) by their band hashes; rows whose signed is
        False are not indexed."""
        keys = np.asarray(keys, dtype=np.int64)
        hashes = np.asarray(hashes, dtype=np.uint64)
        signed = np.asarray(signed, dtype=np.bool_)
        self._check(hashes, signed, keys.size)
        chosen = np.flatnonzero(signed)
        if chosen.size == 0:
            return
        picked = keys[chosen]
        if picked.size > 1 and not (picked[1:] > picked[:-1]).all():
            _, first = np.unique(picked, return_index=True)
            chosen = np.sort(chosen[first])
        # (Keys in ascending order, as a split's rows are for leakage, are each their
        # first: sorting them to find it cost ~15 ms of a 200,000-row build's checks.)
        chosen = chosen[~self._known(keys[chosen])]
        self._add_run(keys[chosen], hashes[chosen])

    def _add_run(self, keys: I64, hashes: U64) -> None:
        if keys.size == 0:
            return
        self._runs.append(_make_run(keys, hashes))
        self._count += keys.size
        # Runs merged while the one before is no larger than those after it: sizes at least
        # double from the newest run to the oldest, so there are O(log n) runs.
        first, total = len(self._runs) - 1, keys.size
        while first > 0 and self._runs[first - 1].keys.size <= total:
            first -= 1
            total += self._runs[first].keys.size
        if first < len(self._runs) - 1:
            self._runs[first:] = [_merge(self._runs[first:])]

    # ----------------------------------------------------------------- lookup

    def _hits(self, hashes: U64, queried: Bools) -> _Hits:
        """The non-empty buckets of the `queried` rows of `hashes`, in every run and band."""
        rows = np.flatnonzero(queried).astype(np.int64)
        parts: list[tuple[I64, int, int, I64, I64]] = []
        for b in range(self.bands if rows.size and self._runs else 0):
            # Needles in ascending order: numpy's binary search then starts from the last
            # answer, and the runs' arrays are walked in order (several times faster).
            column = hashes[rows, b]
            order = np.argsort(column)
            needles = column[order]
            for r, run in enumerate(self._runs):
                mask = run.mask
                words = run.words[b]
                low = needles & ~mask
                start = np.searchsorted(words, low, side="left")
                # A bucket is there when the first word at or after its low end is in it.
                inside = start < words.size
                hit = np.zeros(start.size, dtype=np.bool_)
                hit[inside] = words[start[inside]] <= (low[inside] | mask)
                if not hit.any():
                    continue
                stop = np.searchsorted(words, low[hit] | mask, side="right")
                parts.append((rows[order[hit]], r, b, start[hit], stop))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return _Hits(empty, empty, empty, empty, empty)
        row = np.concatenate([p[0] for p in parts])
        run_of = np.concatenate([np.full(p[0].size, p[1], dtype=np.int64) for p in parts])
        band = np.concatenate([np.full(p[0].size, p[2], dtype=np.int64) for p in parts])
        start = np.concatenate([p[3] for p in parts]).astype(np.int64)
        stop = np.concatenate([p[4] for p in parts]).astype(np.int64)
        order = np.argsort(row, kind="stable")
        return _Hits(row[order], run_of[order], band[order], start[order], stop[order])

    def _hit_keys(self, hits: _Hits, lo: int, hi: int) -> list[I64]:
        """The keys in hits lo..hi (each bucket slice already in key order)."""
        found: list[I64] = []
        for i in range(lo, hi):
            run = self._runs[int(hits.run[i])]
            words = run.words[int(hits.band[i])][int(hits.start[i]) : int(hits.stop[i])]
            found.append(run.keys[(words & run.mask).astype(np.intp)])
        return found

    def _first_match(
        self,
        candidates: I64,
        grams: Callable[[], set[bytes]],
        text_of: Callable[[int], str],
        row_key: int | None = None,
    ) -> Match | None:
        """NearIndex's rule: the smallest candidate at least `threshold` similar (`grams()`:
        the shingles of the text compared, made once, when a similarity is not known)."""
        made: list[set[bytes]] = []

        def compare(key: int) -> float:
            if not made:
                made.append(grams())
            return jaccard(made[0], shingles(text_of(key)))

        for key in distinct(candidates).tolist():
            if self._pairs is not None and row_key is not None:
                similarity = self._pairs(row_key, key, functools.partial(compare, key))
            else:
                similarity = compare(key)
            if similarity >= self.threshold:
                return Match(int(key), similarity)
        return None

    def query(self, hashes: U64, signed: Bools, text: Callable[[int], str]) -> list[Match | None]:
        """For each row j (nothing inserted): the smallest indexed key whose exact Jaccard with
        `text(j)` reaches the threshold among its LSH candidates, else None (what
        `NearIndex.nearest_signed` answers). `text(j)` is made only for rows with candidates."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        signed = np.asarray(signed, dtype=np.bool_)
        m = signed.size
        self._check(hashes, signed, m)
        result: list[Match | None] = [None] * m
        for base in range(0, m, _SLICE):
            end = min(m, base + _SLICE)
            hits = self._hits(hashes[base:end], signed[base:end])
            if hits.row.size == 0:
                continue
            bounds = hits.bounds(end - base)
            for j in distinct(hits.row).tolist():
                found = self._hit_keys(hits, int(bounds[j]), int(bounds[j + 1]))
                grams = shingles(text(base + j))
                result[base + j] = self._first_match(
                    np.concatenate(found), functools.partial(_same, grams), self._text_of
                )
        return result

    def query_insert_in_order(
        self,
        keys: npt.ArrayLike,
        hashes: U64,
        signed: Bools,
        text: Callable[[int], str],
        keep_all: bool,
        lonely: Bools | None = None,
    ) -> list[Match | None]:
        """`near_duplicates_in_order` over a stream, one chunk per call: row j is compared with
        every item inserted before it, earlier rows of this chunk included, then inserted when
        it has no match or `keep_all`. A sequence fed in chunks of any size gets exactly
        `near_duplicates_in_order`'s answers (keys = positions). `text(j)` gives row j's text
        (made only for rows with candidates, or candidates of later rows of the chunk).

        `lonely[j]` True is the caller's word that row j shares no band hash with a row
        inserted before this call nor with another row of it (`near_lonely`): it has no
        candidate and is no candidate in this call, so it is inserted without being looked
        up (a rebuild knows this of nearly all its rows; the lookups were most of the cost
        of this step). The answers are the same as without it."""
        keys = np.asarray(keys, dtype=np.int64)
        hashes = np.asarray(hashes, dtype=np.uint64)
        signed = np.asarray(signed, dtype=np.bool_)
        m = keys.size
        self._check(hashes, signed, m)
        alone = np.zeros(m, dtype=np.bool_) if lonely is None else np.asarray(lonely, np.bool_)
        if alone.shape != (m,):
            raise ValueError(f"expected lonely of shape ({m},)")
        result: list[Match | None] = []
        for start, end in _unique_key_pieces(keys):
            result.extend(
                self._chunk(
                    keys[start:end],
                    hashes[start:end],
                    signed[start:end],
                    lambda j, start=start: text(start + j),  # type: ignore[misc]
                    keep_all,
                    alone[start:end],
                )
            )
        return result

    def _chunk(
        self,
        keys: I64,
        hashes: U64,
        signed: Bools,
        text: Callable[[int], str],
        keep_all: bool,
        lonely: Bools,
    ) -> list[Match | None]:
        """`query_insert_in_order` for rows of distinct keys."""
        m = keys.size
        # A row can be indexed when signed and new (a key indexed before keeps its first text).
        insertable = signed & ~self._known(keys)
        # Lonely rows have no hit and are in no group of two: neither looked up nor grouped.
        looked_up = signed & ~lonely
        hits = self._hits(hashes, looked_up)
        bounds = hits.bounds(m)
        has_hits = np.diff(bounds) > 0

        # Rows of this chunk sharing a band: per band, the signed rows sorted by (hash, row),
        # cut into groups of equal hash. A row has earlier candidates in the chunk when an
        # insertable row precedes it in one of its groups, and must be remembered when a
        # signed row follows it in one.
        rows = np.flatnonzero(looked_up)
        group_of = np.full((self.bands, m), -1, dtype=np.int64)
        earlier = np.zeros(m, dtype=np.bool_)
        later = np.zeros(m, dtype=np.bool_)
        if rows.size > 1:
            big = np.int64(m)
            for b in range(self.bands):
                column = hashes[rows, b]
                order = np.argsort(column, kind="stable")
                sorted_rows = rows[order]
                sorted_hashes = column[order]
                starts = np.flatnonzero(
                    np.concatenate([[True], sorted_hashes[1:] != sorted_hashes[:-1]])
                )
                sizes = np.diff(np.append(starts, sorted_rows.size))
                ids = np.repeat(np.arange(starts.size), sizes)
                group_of[b, sorted_rows] = ids
                first_insertable = np.minimum.reduceat(
                    np.where(insertable[sorted_rows], sorted_rows, big), starts
                )
                last = np.maximum.reduceat(sorted_rows, starts)
                earlier[sorted_rows] |= first_insertable[ids] < sorted_rows
                later[sorted_rows] |= last[ids] > sorted_rows
        flagged = signed & (has_hits | earlier)
        tracked = insertable & later

        result: list[Match | None] = [None] * m
        inserted = insertable.copy()
        members: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        for j in np.flatnonzero(flagged | tracked).tolist():
            match = None
            if flagged[j]:
                found = self._hit_keys(hits, int(bounds[j]), int(bounds[j + 1]))
                own: list[int] = []
                if earlier[j]:
                    for b in range(self.bands):
                        own.extend(members[b].get(int(group_of[b, j]), ()))
                match = self._match_in_chunk(found, own, keys, text, j)
                result[j] = match
                if match is not None and not keep_all:
                    inserted[j] = False
            if inserted[j] and tracked[j]:
                for b in range(self.bands):
                    members[b].setdefault(int(group_of[b, j]), []).append(j)
        chosen = np.flatnonzero(inserted)
        self._add_run(keys[chosen], hashes[chosen])
        return result

    def _match_in_chunk(
        self,
        found: list[I64],
        own: list[int],
        keys: I64,
        text: Callable[[int], str],
        j: int,
    ) -> Match | None:
        """Row j's smallest verified key among indexed candidates `found` and chunk rows `own`
        (`text(j)` made only when there is a candidate)."""
        own_rows = {int(keys[r]): r for r in own}
        candidates = np.concatenate([*found, np.array(list(own_rows), dtype=np.int64)])
        if candidates.size == 0:
            return None

        def text_of(key: int) -> str:
            row = own_rows.get(key)
            return self._text_of(key) if row is None else text(row)

        return self._first_match(candidates, lambda: shingles(text(j)), text_of, int(keys[j]))


def _unique_key_pieces(keys: I64) -> list[tuple[int, int]]:
    """Consecutive slices of `keys` (and at most `_SLICE` long) holding no key twice."""
    m = keys.size
    if m == 0:
        return []
    # A build's keys are its rows, ascending: distinct without sorting them.
    if bool(np.all(keys[1:] > keys[:-1])) or distinct(keys).size == m:
        return [(s, min(m, s + _SLICE)) for s in range(0, m, _SLICE)]
    pieces: list[tuple[int, int]] = []
    start = 0
    seen: set[int] = set()
    for j, key in enumerate(keys.tolist()):
        if key in seen or j - start == _SLICE:
            pieces.append((start, j))
            start, seen = j, set()
        seen.add(key)
    pieces.append((start, m))
    return pieces


def _same(grams: set[bytes]) -> set[bytes]:
    return grams
