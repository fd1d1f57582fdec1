"""The digests a `dedupe` transform has seen, and the row that had each first, in numpy.

A Python dict of 16-byte digests costs ~125 bytes a row (the bytes object, the int, the
table slot): 125 MB for a million examples, held for the whole build and, once freed, not
given back to the system (the allocator keeps its pages). Here each digest costs 24 bytes
(the digest and an int64 row) in sorted runs that are merged like an LSM tree (a run is
merged into the one before while that one is no larger: O(log n) runs, each digest
re-sorted O(log n) times), searched with `np.searchsorted`; large arrays are freed back to
the system when dropped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DIGEST_BYTES = 16
Digests = npt.NDArray[np.void]  # each a 16-byte digest
Rows = npt.NDArray[np.int64]
_DIGEST = np.dtype(f"V{DIGEST_BYTES}")


def as_digests(values: list[bytes]) -> Digests:
    """16-byte digests as an array that compares and sorts by their bytes."""
    return np.frombuffer(b"".join(values), dtype=_DIGEST)


class DigestIndex:
    """Digests seen so far, each with the first row that had it."""

    def __init__(self) -> None:
        self._runs: list[tuple[Digests, Rows]] = []  # (sorted digests, their rows)

    def __len__(self) -> int:
        return sum(keys.size for keys, _rows in self._runs)

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + rows.nbytes for keys, rows in self._runs)

    def first_rows(self, digests: Digests) -> Rows:
        """For each digest, the row that had it first, or -1 when it was not seen."""
        found = np.full(digests.size, -1, dtype=np.int64)
        for keys, rows in self._runs:
            at = np.searchsorted(keys, digests)
            inside = at < keys.size
            hit = np.zeros(digests.size, dtype=np.bool_)
            hit[inside] = keys[at[inside]] == digests[inside]
            found[hit] = rows[at[hit]]
        return found

    def add(self, digests: Digests, rows: Rows) -> None:
        """Record digests not seen before and distinct from each other, with their rows."""
        if digests.size == 0:
            return
        order = np.argsort(digests, kind="stable")
        self._runs.append((digests[order], rows[order]))
        first, total = len(self._runs) - 1, digests.size
        while first > 0 and self._runs[first - 1][0].size <= total:
            first -= 1
            total += self._runs[first][0].size
        if first < len(self._runs) - 1:
            merged = self._runs[first:]
            keys = np.concatenate([k for k, _r in merged])
            values = np.concatenate([r for _k, r in merged])
            order = np.argsort(keys, kind="stable")
            self._runs[first:] = [(keys[order], values[order])]

    def first_of_each(self, digests: Digests, rows: Rows) -> Rows:
        """Rows in order, deduplicated against everything seen and against each other:
        earlier[i] is the row that had digest i first (an earlier call's, or an earlier row
        of these), -1 for a digest seen here first; those are recorded."""
        earlier = self.first_rows(digests)
        new = np.flatnonzero(earlier < 0)
        if new.size:
            # Among the new ones, the first of each digest is kept; later ones point at it.
            _unique, first, inverse = np.unique(
                digests[new], return_index=True, return_inverse=True
            )
            owner = new[first][inverse.reshape(-1)]
            repeated = owner != new
            earlier[new[repeated]] = rows[owner[repeated]]
            kept = new[~repeated]
            self.add(digests[kept], rows[kept])
        return earlier
