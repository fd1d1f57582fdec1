"""Records copied whole (`row_block.take_records`, `put_records`, `join_records`) are the records numpy's own
structured indexing gives, field for field."""

from __future__ import annotations

import numpy as np

from ftctl.datasets.row_block import join_records, put_records, take_records

# The kinds of field a `Layout` has: flags, counts, digests, band hashes.
DTYPE = np.dtype(
    [("flag", "u1"), ("stop", "<i2"), ("total", "<i8"), ("digest", "V16"), ("bands", "<u8", (3,))]
)


def _records(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=n * DTYPE.itemsize, dtype=np.uint8)
    return raw.view(DTYPE)


def test_records_copied_whole_equal_numpys_structured_copies() -> None:
    records = _records(50, 1)
    positions = np.array([3, 0, 49, 3, 17], dtype=np.intp)
    mask = np.arange(50) % 3 == 0
    assert take_records(records, positions).dtype == DTYPE
    assert take_records(records, positions).tobytes() == records[positions].tobytes()
    assert take_records(records, mask).tobytes() == records[mask].tobytes()

    target, expected = _records(50, 2), _records(50, 2)
    values = _records(5, 3)
    put_records(target, positions[[1, 2, 4]], values[:3])
    expected[positions[[1, 2, 4]]] = values[:3]
    assert target.tobytes() == expected.tobytes()

    parts = [records[:10], records[10:11], records[30:]]
    together = join_records(parts)
    assert together.dtype == DTYPE
    assert together.tobytes() == np.concatenate(parts).tobytes()
    assert together["total"].tolist() == np.concatenate(parts)["total"].tolist()
