"""MinHash signatures of many texts in one compiled loop (numba).

`similarity.sign_pairs` signs with numpy: on a 2.4 KB example ~87 µs, two thirds of it the
per-shingle Python work (joining three words, `zlib.crc32` of the join). Here a loop that
numba compiles walks each text's words, computes each shingle's CRC-32 as zlib does, mixes
it (`fmix32`) and keeps the minima of `a * hash + b` mod 2^32 over the permutations: the
same values, ~12 µs.

A shingle's bytes are never joined. Each word is in three shingles (the ones that start at
it and at the two words before it), so the loop keeps three CRC registers and feeds each
byte to all three at once: three independent chains of lookups, which the CPU overlaps,
where one register per shingle fed the word three times over would wait on each lookup.
When a word ends, the register that started two words back holds a whole shingle.

Importing this module costs a process ~0.15 s (numba), and the first call ~0.15 s more
(numba sets up its compiler and loads the loop from its cache, `cache=True`: beside this
file or in the user's cache directory; a process that finds no cache compiles it, ~1.1 s).
`similarity` therefore loads it only in a process that signs many texts. Rows are copied by
loops, not slices (`mins[:] = ...`): numba compiles a slice's assignment through numpy's
broadcasting, which took 1.9 s of the 3 s this loop's compile took with them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

_SPACE = 32  # what separates words in the buffer (a run of them: one separator)
_MASK32 = 0xFFFFFFFF


def _crc32_table() -> npt.NDArray[np.uint32]:
    """zlib's CRC-32 (reflected polynomial 0xEDB88320) a byte at a time."""
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table[byte] = value
    return table


CRC32_TABLE = _crc32_table()


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _step(table, register, byte):  # type: ignore[no-untyped-def]
    """The CRC-32 register after one more byte."""
    return np.uint32(table[(register ^ byte) & np.uint32(0xFF)] ^ (register >> np.uint32(8)))


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _hash(register):  # type: ignore[no-untyped-def]
    """fmix32 (datasketch's pre-mix) of the CRC-32 that a finished `register` gives."""
    value = np.uint32(register ^ np.uint32(_MASK32))
    value = np.uint32(value ^ (value >> np.uint32(16)))
    value = np.uint32((np.uint64(value) * np.uint64(0x85EBCA6B)) & np.uint64(_MASK32))
    value = np.uint32(value ^ (value >> np.uint32(13)))
    value = np.uint32((np.uint64(value) * np.uint64(0xC2B2AE35)) & np.uint64(_MASK32))
    return np.uint32(value ^ (value >> np.uint32(16)))


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _permuted(a, b, value, p):  # type: ignore[no-untyped-def]
    return np.uint32((np.uint64(a[p]) * np.uint64(value) + np.uint64(b[p])) & np.uint64(_MASK32))


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _one_shingle(out, a, b, value):  # type: ignore[no-untyped-def]
    """The signature of a text of one shingle, hashed `value`, into `out`."""
    for p in range(out.shape[0]):
        out[p] = _permuted(a, b, value, p)


@njit(cache=True, nogil=True, boundscheck=False)
def sign_items(buf, bounds, a, b, table, whole, part, signed):  # type: ignore[no-untyped-def]
    """Sign each item `j`: the words of `buf[bounds[j, 0]:bounds[j, 2]]` (separated by runs of
    spaces), its head the words that start before `bounds[j, 1]`.

    `whole[j]`: the MinHash of the word 3-shingles of all the words (one shingle of all of
    them when they are three or fewer); `part[j]`: that of the head's words alone; `signed[j]`
    bit 1: the whole has words, bit 2: the head has. `a`, `b`: the permutations (uint32)."""
    num_perm = a.shape[0]
    mins = np.empty(num_perm, dtype=np.uint32)
    start = np.uint32(_MASK32)  # a register before its first byte
    space = np.uint32(_SPACE)
    for j in range(bounds.shape[0]):
        begin, mid, end = bounds[j, 0], bounds[j, 1], bounds[j, 2]
        for p in range(num_perm):
            mins[p] = _MASK32
        signed[j] = 0
        words = 0  # words seen
        head = 0  # of them, those that start before `mid`
        # The registers of the shingles that start at the word before last, the last word
        # and this one.
        older, old, new = start, start, start
        i = begin
        while True:
            while i < end and buf[i] == _SPACE:
                i += 1
            if words > 0 and head == words and (i == end or i >= mid):
                # The last word was the head's last: its signature is the whole's so far, or
                # (one or two words) that of the one shingle the register started at its
                # first word holds.
                if words >= 3:
                    for p in range(num_perm):
                        part[j, p] = mins[p]
                else:
                    _one_shingle(part[j], a, b, _hash(new if words == 1 else old))
                signed[j] |= 2
            if i == end:
                break
            if i < mid:
                head += 1
            older, old, new = old, new, start
            if words >= 1:
                old = _step(table, old, space)
            if words >= 2:
                older = _step(table, older, space)
            while i < end and buf[i] != _SPACE:
                byte = buf[i]
                older = _step(table, older, byte)
                old = _step(table, old, byte)
                new = _step(table, new, byte)
                i += 1
            words += 1
            if words >= 3:
                value = _hash(older)
                for p in range(num_perm):
                    permuted = _permuted(a, b, value, p)
                    if permuted < mins[p]:
                        mins[p] = permuted
        if words == 0:
            continue
        if words >= 3:
            for p in range(num_perm):
                whole[j, p] = mins[p]
        else:
            _one_shingle(whole[j], a, b, _hash(new if words == 1 else old))
        signed[j] |= 1
