"""`band_join`: the pairs and matches a `BandIndex` of the earlier rows gives, without it."""

from __future__ import annotations

import numpy as np
import pytest

from ftctl.datasets.band_join import first_matches, shared_band_pairs
from ftctl.datasets.near_index import BandIndex, index_bits

BANDS = 9
THRESHOLD = 0.9
NUM_PERM = 128  # lsh_params(0.9, 128) has 9 bands


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    words = [f"w{i}" for i in range(400)]
    return [" ".join(rng.choice(words, size=30).tolist()) for _ in range(n)]


def _planted(
    rng: np.random.Generator, earlier: int, later: int
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Random band hashes and texts, with later rows that share bands with earlier ones:
    some whole copies (same text), some one band only (a different text: a candidate that
    is not similar), some a band that differs from an earlier row's only in its low bits."""
    left = rng.integers(0, 2**64, size=(earlier, BANDS), dtype=np.uint64)
    right = rng.integers(0, 2**64, size=(later, BANDS), dtype=np.uint64)
    left_texts, right_texts = _texts(rng, earlier), _texts(rng, later)
    for j in rng.choice(later, size=later // 3, replace=False).tolist():
        i = int(rng.integers(earlier))
        kind = j % 3
        if kind == 0:
            right[j] = left[i]
            right_texts[j] = left_texts[i]
        elif kind == 1:
            band = int(rng.integers(BANDS))
            right[j, band] = left[i, band]
        else:
            band = int(rng.integers(BANDS))
            right[j, band] = left[i, band] ^ np.uint64(int(rng.integers(1, 8)))
            right_texts[j] = left_texts[i]
    # Earlier rows that are copies of each other: a later row then has several candidates.
    for i in rng.choice(earlier, size=earlier // 10, replace=False).tolist():
        other = int(rng.integers(earlier))
        left[other] = left[i]
    return left, right, left_texts, right_texts


@pytest.mark.parametrize(("earlier", "later"), [(600, 70), (70, 600), (1, 5), (300, 300)])
def test_pairs_and_matches_are_those_of_a_band_index(earlier: int, later: int) -> None:
    rng = np.random.default_rng(earlier * 1000 + later)
    left, right, left_texts, right_texts = _planted(rng, earlier, later)
    left_signed = rng.random(earlier) > 0.1
    right_searched = rng.random(later) > 0.1

    index = BandIndex(THRESHOLD, NUM_PERM, lambda key: left_texts[key])
    index.insert(np.arange(earlier, dtype=np.int64), left, left_signed)
    expected = index.query(right, right_searched, lambda j: right_texts[j])

    indexed = np.flatnonzero(left_signed)
    candidates, rows = shared_band_pairs(
        left, indexed, right, np.flatnonzero(right_searched), index_bits(indexed.size)
    )
    got = first_matches(
        candidates, rows, THRESHOLD, lambda j: right_texts[j], lambda key: left_texts[key]
    )
    assert [got.get(j) for j in range(later)] == expected
    assert any(match is not None for match in expected) or later < 10
    # The pairs: sorted by later row then earlier row, each once, only the rows asked.
    order = np.lexsort((candidates, rows))
    assert (order == np.arange(rows.size)).all()
    assert len(set(zip(rows.tolist(), candidates.tolist(), strict=True))) == rows.size
    assert right_searched[rows].all() and left_signed[candidates].all()


def test_low_bits_are_ignored_as_the_index_ignores_them() -> None:
    # Two hashes equal but for their lowest bits: a pair for an index of 8 items (3 bits of
    # position), not for one of 2 (1 bit), as `BandIndex` buckets them.
    left = np.repeat(np.arange(8, dtype=np.uint64)[:, None] << np.uint64(20), BANDS, axis=1)
    right = np.full((1, BANDS), np.uint64(1 << 60), dtype=np.uint64)  # no other band shared
    right[0, 4] = left[5, 4] ^ np.uint64(0b110)
    candidates, rows = shared_band_pairs(left, np.arange(8), right, np.arange(1), 3)
    assert candidates.tolist() == [5] and rows.tolist() == [0]
    candidates, rows = shared_band_pairs(left, np.arange(8), right, np.arange(1), 1)
    assert candidates.size == 0 and rows.size == 0


def test_one_array_on_both_sides() -> None:
    # The rows of one array against each other, the larger set on the left or the right.
    hashes = np.arange(6 * BANDS, dtype=np.uint64).reshape(6, BANDS) << np.uint64(8)
    hashes[4] = hashes[1]
    left, right = shared_band_pairs(hashes, np.arange(3), hashes, np.arange(3, 6), 0)
    assert (left.tolist(), right.tolist()) == ([1], [4])
    left, right = shared_band_pairs(hashes, np.arange(3, 6), hashes, np.array([1]), 0)
    assert (left.tolist(), right.tolist()) == ([4], [1])


def test_nothing_to_join() -> None:
    hashes = np.ones((3, BANDS), dtype=np.uint64)
    none = np.zeros(0, dtype=np.int64)
    assert [a.size for a in shared_band_pairs(hashes, none, hashes, np.arange(3), 2)] == [0, 0]
    assert [a.size for a in shared_band_pairs(hashes, np.arange(3), hashes, none, 2)] == [0, 0]
    assert first_matches(none, none, THRESHOLD, str, str) == {}
    assert index_bits(1) == 0 and index_bits(8) == 3 and index_bits(9) == 4
