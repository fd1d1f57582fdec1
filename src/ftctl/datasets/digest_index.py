"""The digests a `dedupe` transform has seen, and the row that had each first, in numpy.

A Python dict of 16-byte digests costs ~125 bytes a row (the bytes object, the int, the
table slot): 125 MB for a million examples, held for the whole build and, once freed, not
given back to the system (the allocator keeps its pages). Here each digest costs 24 bytes
(the digest and an int64 row) in sorted runs that are merged like an LSM tree (a run is
merged into the one before while that one is no larger: O(log n) runs, each digest
re-sorted O(log n) times), searched with `np.searchsorted`; large arrays are freed back to
the system when dropped.

A run is sorted and searched by the digest's first 8 bytes as an unsigned 64-bit number,
its last 8 bytes compared after: numpy sorts and searches 16-byte strings by comparing
bytes, several times slower (measured 0.40 against 0.06 ms for 2,048 lookups in 200,000);
two digests with the same first 8 bytes are told apart by the last 8.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ftctl.datasets.word_filter import WordFilter

DIGEST_BYTES = 16
Digests = npt.NDArray[np.void]  # each a 16-byte digest
Rows = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
_DIGEST = np.dtype(f"V{DIGEST_BYTES}")


def as_digests(values: list[bytes]) -> Digests:
    """16-byte digests as an array that compares and sorts by their bytes."""
    return np.frombuffer(b"".join(values), dtype=_DIGEST)


def _halves(digests: Digests) -> tuple[Words, Words]:
    """Each digest's first and last 8 bytes, as unsigned 64-bit numbers."""
    words = np.frombuffer(np.ascontiguousarray(digests).tobytes(), dtype="<u8").reshape(-1, 2)
    return words[:, 0], words[:, 1]


def first_positions(digests: Digests) -> npt.NDArray[np.intp]:
    """For each of `digests`, the position of the first one equal to it: what `np.unique`'s
    first indexes say, without sorting 16-byte values (a whole-set check over 200,000 rows
    spent 0.1 s there)."""
    return _first_equal(*_halves(digests))


def _first_equal(high: Words, low: Words) -> npt.NDArray[np.intp]:
    """For each digest (by its halves), the position of the first digest equal to it.

    Sorted by the first halves alone, as `np.unique` of the 16-byte digests would sort them
    but several times faster, with numpy's default sort (a SIMD quicksort on x86: 3.7 ms
    for 200,000, against 16.8 for its stable sort). Equal first halves are nearly always one
    digest repeated (a duplicate row, a prompt in two splits), whose copies then sit
    together, in no particular order: the first of each is the smallest position among
    them. Only where two of them differ in their second halves (~2^-64 a pair) is the sort
    made again by both halves (a repeated digest sent it there every time: 0.04 s a sort at
    200,000 rows)."""
    if high.size == 0:
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(high)
    sorted_high = high[order]
    sorted_low = low[order]
    if np.any((sorted_high[1:] == sorted_high[:-1]) & (sorted_low[1:] != sorted_low[:-1])):
        order = np.lexsort((low, high))  # stable too
        sorted_high = high[order]
        sorted_low = low[order]
    starts = np.flatnonzero(
        np.concatenate(
            ([True], (sorted_high[1:] != sorted_high[:-1]) | (sorted_low[1:] != sorted_low[:-1]))
        )
    )
    group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, order.size)))
    first: npt.NDArray[np.intp] = np.empty(order.size, dtype=np.intp)
    first[order] = np.minimum.reduceat(order, starts)[group]
    return first


def first_rows_of(digests: Digests, rows: Rows, wanted: Digests) -> Rows:
    """For each of `wanted`, the smallest of `rows` (one per digest of `digests`) whose
    digest equals it, or -1: what a `DigestIndex` given `digests` and `rows` in order
    (`first_of_each`) then answers for `wanted` (`rows_of`), for rows in ascending order.

    Only the distinct digests of `wanted` are sorted, and each of `digests` is searched
    among them, past a filter of their top bits that answers most of them (`word_filter`):
    leakage looks up a later split's prompts (a tenth of the rows) among an earlier one's,
    and an index of the earlier split sorted it twice (0.03 s of a 200,000-row build's
    checks)."""
    found = np.full(wanted.size, -1, dtype=np.int64)
    if digests.size == 0 or wanted.size == 0:
        return found
    high, low = _halves(wanted)
    owner = _first_equal(high, low)  # each wanted digest's first position
    distinct = np.flatnonzero(owner == np.arange(owner.size))
    order = distinct[np.argsort(high[distinct])]
    sorted_high, sorted_low = high[order], low[order]
    if np.any(sorted_high[1:] == sorted_high[:-1]):
        # Two distinct digests share their first halves (~2^-64 a pair): the index decides.
        index = DigestIndex()
        index.first_of_each(digests, rows)
        return index.rows_of(wanted)
    cells = WordFilter(order.size)
    cells.mark(sorted_high)
    their_high, their_low = _halves(digests)
    maybe = cells.maybe(their_high)
    at = np.searchsorted(sorted_high, their_high[maybe])
    at[at == sorted_high.size] = 0
    hit = (sorted_high[at] == their_high[maybe]) & (sorted_low[at] == their_low[maybe])
    first = np.full(order.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, at[hit], rows[maybe[hit]])
    seen = first < np.iinfo(np.int64).max
    by_owner = np.full(wanted.size, -1, dtype=np.int64)
    by_owner[order[seen]] = first[seen]
    return by_owner[owner]


class _Run:
    """Digests sorted by their first half (`high`), with their second halves and rows."""

    __slots__ = ("high", "low", "rows")

    def __init__(self, high: Words, low: Words, rows: Rows, runs: bool = False) -> None:
        # Distinct digests: equal first halves (as good as never) are walked whole by
        # `find`, in any order; numpy's default sort is the quick one (`_first_equal`).
        # Runs laid end to end (`runs`, a merge) are merged by the stable sort instead
        # (timsort: 0.2 against 8 ms for 200,000 in two runs).
        order = np.argsort(high, kind="stable" if runs else None)
        self.high, self.low, self.rows = high[order], low[order], rows[order]

    @property
    def size(self) -> int:
        return int(self.high.size)

    def find(self, high: Words, low: Words, found: Rows) -> None:
        """Set `found[i]` to the row of digest i where this run holds it."""
        at = np.searchsorted(self.high, high)
        inside = np.flatnonzero(at < self.size)
        at_inside = at[inside]
        same_high = self.high[at_inside] == high[inside]
        hit = same_high & (self.low[at_inside] == low[inside])
        found[inside[hit]] = self.rows[at_inside[hit]]
        # The first half matched, the second did not: another digest of this run may share
        # the first half (about 1 in 2^64 per pair), so the equal first halves are walked.
        for i, k in zip(
            inside[same_high & ~hit].tolist(), at_inside[same_high & ~hit].tolist(), strict=True
        ):
            while k < self.size and self.high[k] == high[i]:
                if self.low[k] == low[i]:
                    found[i] = self.rows[k]
                    break
                k += 1


class DigestIndex:
    """Digests seen so far, each with the first row that had it."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(run.size for run in self._runs)

    @property
    def nbytes(self) -> int:
        return sum(run.high.nbytes + run.low.nbytes + run.rows.nbytes for run in self._runs)

    def _first_rows(self, high: Words, low: Words) -> Rows:
        """For each digest (by its halves), the row that had it first, or -1 when it was not
        seen."""
        found = np.full(high.size, -1, dtype=np.int64)
        for run in self._runs:
            run.find(high, low, found)
        return found

    def _add(self, high: Words, low: Words, rows: Rows) -> None:
        """Record digests (by their halves) not seen before and distinct from each other,
        with their rows."""
        if high.size == 0:
            return
        self._runs.append(_Run(high, low, rows))
        first, total = len(self._runs) - 1, int(high.size)
        while first > 0 and self._runs[first - 1].size <= total:
            first -= 1
            total += self._runs[first].size
        if first < len(self._runs) - 1:
            merged = self._runs[first:]
            self._runs[first:] = [
                _Run(
                    np.concatenate([run.high for run in merged]),
                    np.concatenate([run.low for run in merged]),
                    np.concatenate([run.rows for run in merged]),
                    runs=True,
                )
            ]

    def rows_of(self, digests: Digests) -> Rows:
        """For each digest, the row recorded with it, or -1 (nothing is recorded)."""
        return self._first_rows(*_halves(digests))

    def first_of_each(self, digests: Digests, rows: Rows) -> Rows:
        """Rows in order, deduplicated against everything seen and against each other:
        earlier[i] is the row that had digest i first (an earlier call's, or an earlier row
        of these), -1 for a digest seen here first; those are recorded."""
        high, low = _halves(digests)
        earlier = self._first_rows(high, low)
        new = np.flatnonzero(earlier < 0)
        if new.size:
            # Among the new ones, the first of each digest is kept; later ones point at it.
            owner = new[_first_equal(high[new], low[new])]
            repeated = owner != new
            earlier[new[repeated]] = rows[owner[repeated]]
            kept = new[~repeated]
            self._add(high[kept], low[kept], rows[kept])
        return earlier
