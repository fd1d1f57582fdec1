"""`line_index.key_order` sorts 16-byte keys (snapshot keys, line digests) as their bytes
sort, also where keys repeat or share their first 8 bytes, the part it sorts by first."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from ftctl.datasets.line_index import key_order


def _keys(values: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(values), dtype="S16")


@pytest.mark.parametrize("shared_starts", [False, True])
def test_keys_come_out_in_the_order_of_their_bytes(shared_starts: bool) -> None:
    rng = random.Random(7)
    values = [hashlib.sha256(b"%d" % i).digest()[:16] for i in range(300)]
    values += [bytes(16), bytes(15) + b"\x01", b"\x01" + bytes(15)]
    values += [rng.choice(values) for _ in range(100)]  # repeats
    if shared_starts:
        values += [values[5][:8] + bytes([n]) * 8 for n in (9, 0, 4)]
    rng.shuffle(values)
    order = key_order(_keys(values))
    assert sorted(order.tolist()) == list(range(len(values)))
    assert [values[i] for i in order.tolist()] == sorted(values)


def test_no_key_or_one_key_is_its_own_order() -> None:
    assert key_order(_keys([])).tolist() == []
    assert key_order(_keys([b"k" * 16])).tolist() == [0]
