"""`dedupe`'s numpy index of digests answers as the dict it replaced: each row's earliest
row with the same digest, whatever the batches, also for digests that differ only in
zero bytes or only in their last 8 bytes."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from ftctl.datasets.digest_index import DigestIndex, as_digests, first_positions, first_rows_of


@pytest.mark.parametrize("seed", range(5))
def test_the_first_row_of_each_digest_is_found_as_a_dict_finds_it(seed: int) -> None:
    rng = random.Random(seed)
    pool = [hashlib.blake2b(f"{i} {seed}".encode(), digest_size=16).digest() for i in range(300)]
    pool += [bytes(16), bytes(15) + b"\x01", b"\x01" + bytes(15), bytes(8) + b"\x01" + bytes(7)]
    # Digests sharing their first 8 bytes (what a run is sorted by) with others of the pool.
    pool += [pool[0][:8] + bytes([n]) * 8 for n in range(3)] + [bytes(8) + b"\xff" * 8]
    index, reference = DigestIndex(), dict[bytes, int]()
    row = 0
    for _ in range(300):  # batches of 0 to 60 rows: runs are made and merged many times
        values = [rng.choice(pool) for _ in range(rng.randint(0, 60))]
        rows = np.arange(row, row + len(values), dtype=np.int64) * 3  # rows need not be 0..n
        row += len(values)
        earlier = index.first_of_each(as_digests(values), rows)
        expected = []
        for value, r in zip(values, rows.tolist(), strict=True):
            if value in reference:
                expected.append(reference[value])
            else:
                reference[value] = r
                expected.append(-1)
        assert earlier.tolist() == expected
    assert len(index) == len(reference)
    assert index.nbytes == 24 * len(reference)  # 16 bytes of digest and 8 of row each


@pytest.mark.parametrize("seed", range(5))
def test_first_positions_finds_each_digests_first_position(seed: int) -> None:
    """Repeated digests, and digests sharing their first 8 bytes (sorted by those alone
    unless two of them differ after), each pointed at the first position it is at."""
    rng = random.Random(seed)
    pool = [hashlib.blake2b(f"{i} {seed}".encode(), digest_size=16).digest() for i in range(50)]
    shared = [pool[0][:8] + bytes([n]) * 8 for n in range(3)]
    for choices in (pool, pool + shared):  # repeats only; repeats and shared first halves
        values = [rng.choice(choices) for _ in range(400)]
        first_at: dict[bytes, int] = {}
        expected = [first_at.setdefault(value, i) for i, value in enumerate(values)]
        assert first_positions(as_digests(values)).tolist() == expected


@pytest.mark.parametrize("seed", range(5))
def test_first_rows_of_answers_as_an_index_of_the_digests(seed: int) -> None:
    """Leakage's lookup of a later split's digests among an earlier one's: the smallest row
    whose digest is each wanted one, or -1; repeats on both sides, larger and smaller
    sides, and digests sharing their first 8 bytes (the index then answers)."""
    rng = random.Random(seed)
    pool = [hashlib.blake2b(f"{i} {seed}".encode(), digest_size=16).digest() for i in range(80)]
    shared = [pool[0][:8] + bytes([n]) * 8 for n in range(3)]
    for choices in (pool, pool + shared):
        for sizes in ((500, 40), (40, 500), (0, 5), (5, 0)):
            values = [rng.choice(choices) for _ in range(sizes[0])]
            wanted = [rng.choice(choices) for _ in range(sizes[1])]
            rows = np.array(sorted(rng.sample(range(10 * len(values) + 1), len(values))))
            first: dict[bytes, int] = {}
            for value, row in zip(values, rows.tolist(), strict=True):
                first.setdefault(value, row)
            got = first_rows_of(as_digests(values), rows.astype(np.int64), as_digests(wanted))
            assert got.tolist() == [first.get(value, -1) for value in wanted]
