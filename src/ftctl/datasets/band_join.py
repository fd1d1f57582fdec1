"""Rows of two sets that share an LSH band hash, found without indexing the larger set.

Leakage asks, for each row of a later split (validation: a tenth of the rows, say), which
rows of an earlier one (train) share one of its band hashes. A `BandIndex` of the earlier
split sorted each of its bands: at 200,000 rows, 9 sorts of 180,000 words, 0.1 s of the
checks that every build runs after its pass (a rebuild's too). Here only the smaller side's
bands are sorted; a filter of their top bits (`word_filter`) lets most of the other side's
words go without a search, and the few it lets through are searched in the sorted band.

Hashes are compared as a `BandIndex` run of `indexed` items compares them: without their
lowest `near_index.index_bits(indexed)` bits, where the run keeps an item's position. So
the pairs, and the findings made from them, are the ones an index of the earlier rows gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import numpy.typing as npt

from ftctl.datasets.distinct import distinct
from ftctl.datasets.similarity import Match, jaccard, shingles
from ftctl.datasets.word_filter import WordFilter

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def shared_band_pairs(
    left: U64, left_rows: I64, right: U64, right_rows: I64, low_bits: int
) -> tuple[I64, I64]:
    """(left rows, right rows): each pair of a row of `left_rows` (rows of the (n, bands)
    array `left`) and one of `right_rows` (of `right`) whose hashes in some band are equal
    above their `low_bits` lowest bits; each pair once, sorted by right row, then left row."""
    if left_rows.size == 0 or right_rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    mask = ~np.uint64((1 << low_bits) - 1)
    # The smaller side is sorted and filtered, the other side looked up in it.
    swapped = right_rows.size < left_rows.size
    small, small_rows, big, big_rows = left, left_rows, right, right_rows
    if swapped:
        small, small_rows, big, big_rows = right, right_rows, left, left_rows
    cells = WordFilter(small_rows.size)
    found_small: list[I64] = []
    found_big: list[I64] = []
    for band in range(left.shape[1]):
        words = small[small_rows, band] & mask
        order = np.argsort(words)
        words = words[order]
        cells.mark(words)
        others = big[big_rows, band] & mask
        maybe = cells.maybe(others)
        cells.mark(words, on=False)  # cleared for the next band
        needles = others[maybe]
        low = np.searchsorted(words, needles, side="left")
        counts = np.searchsorted(words, needles, side="right") - low
        hit = counts > 0
        if not hit.any():
            continue
        maybe, low, counts = maybe[hit], low[hit], counts[hit]
        # Each needle's run of equal words, low[i] .. low[i] + counts[i] - 1, laid end to end.
        ends = np.cumsum(counts)
        at = np.repeat(low - (ends - counts), counts) + np.arange(int(ends[-1]))
        found_small.append(small_rows[order[at]])
        found_big.append(big_rows[np.repeat(maybe, counts)])
    if not found_small:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    small_found = np.concatenate(found_small).astype(np.int64)
    big_found = np.concatenate(found_big).astype(np.int64)
    left_found, right_found = (big_found, small_found) if swapped else (small_found, big_found)
    # Right row, then left row, as one number (rows are below 2^31), each pair once.
    span = np.int64(int(left_rows.max()) + 1)
    pairs = cast(I64, distinct(right_found * span + left_found))
    return pairs % span, pairs // span


def first_matches(
    candidates: I64,
    rows: I64,
    threshold: float,
    text: Callable[[int], str],
    candidate_text: Callable[[int], str],
) -> dict[int, Match]:
    """For each row of `rows` (ascending; `candidates[i]` is a candidate of `rows[i]`, a
    row's in ascending order, as `shared_band_pairs` gives them): its smallest candidate
    whose text's word shingles reach `threshold` Jaccard similarity with its own, as
    `BandIndex.query` decides (a row's shingles are made once, when it has candidates)."""
    matches: dict[int, Match] = {}
    if rows.size == 0:
        return matches
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    stops = np.append(starts[1:], rows.size)
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        row = int(rows[start])
        grams = shingles(text(row))
        for key in candidates[start:stop].tolist():
            similarity = jaccard(grams, shingles(candidate_text(key)))
            if similarity >= threshold:
                matches[row] = Match(key, similarity)
                break
    return matches
