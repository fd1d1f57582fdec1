"""MinHash signing for the row work: numpy, or the compiled loop where it pays.

`similarity.sign_pairs` (numpy) costs ~87 µs a 2.4 KB example, `minhash_kernel`'s loop
~20 µs with the same values. But the loop costs something before its first row:

- loading it from numba's cache: ~0.3 CPU-s a process (numba's import and its compiler's
  set-up) and, for a moment, ~110 MB of resident pages of the LLVM library;
- compiling it, where no cache has it (the first use after installing): ~1.1 s more.

So a process signs with numpy until it has signed `COMPILED_AFTER` texts, then loads the
loop only if it is compiled already (a rebuild's workers, which sign only changed rows,
never get there). A first build's workers load it before their first batch (`row_pool`'s
preload names, in the fork server, before the tokenizer's encoding, so that the two never
add up in one process), compiling it only for data large enough to pay that back
(`build.MINHASH_COMPILE_BYTES`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.datasets.similarity import (
    Signature,
    _affine32_permutations,
    _word_bytes,
    sign_pairs,
)

# Texts a process signs with numpy before it loads the compiled loop: loading costs
# ~0.3 CPU-s and saves ~65 µs a 2.4 KB text, so it pays from ~5,000 texts.
COMPILED_AFTER = 4096
_signed_texts = 0
_kernel: Any = None  # the loaded `minhash_kernel`; False when it could not be loaded
_uncompiled = False  # a load without compiling found the loop in no cache
_LIBRARY = "libllvmlite.so"  # numba's compiler, which the loaded loop no longer needs


def sign_many(
    items: Sequence[tuple[str, str | None]], num_perm: int
) -> list[tuple[Signature | None, Signature | None]]:
    """`similarity.sign_pairs`: by the compiled loop when it is loaded, or once this process
    has signed `COMPILED_AFTER` texts (and numba loads); with numpy otherwise."""
    whole, part, signed = sign_matrices(items, num_perm)
    return [
        (whole[j] if flags & 1 else None, part[j] if flags & 2 else None)
        for j, flags in enumerate(signed.tolist())
    ]


Matrices = tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint8]]


def sign_matrices(items: Sequence[tuple[str, str | None]], num_perm: int) -> Matrices:
    """`sign_many` as (whole, part, signed): the signatures as the rows of two (n, num_perm)
    arrays, and per item bit 1 (the whole has words) and bit 2 (the first text has); a row
    whose bit is not set means nothing. What the build's band hashes are made from, all rows
    at once, with no array made per signature."""
    global _signed_texts
    _signed_texts += len(items)
    kernel = _kernel
    if kernel is None and _signed_texts > COMPILED_AFTER:
        kernel = load(compile_it=False)
    if kernel:
        return _sign_with(kernel, items, num_perm)
    n = len(items)
    whole = np.zeros((n, num_perm), dtype=np.uint32)
    part = np.zeros((n, num_perm), dtype=np.uint32)
    signed = np.zeros(n, dtype=np.uint8)
    for j, (first, rest) in enumerate(sign_pairs(items, num_perm)):
        if first is not None:
            whole[j] = first
            signed[j] |= 1
        if rest is not None:
            part[j] = rest
            signed[j] |= 2
    return whole, part, signed


def load(compile_it: bool = True) -> Any:
    """`minhash_kernel`, loaded and its loop ready; False if numba cannot load it here, or
    (`compile_it` False) if it would have to compile it first."""
    global _kernel, _uncompiled
    if _kernel is not None or (_uncompiled and not compile_it):
        return _kernel or False
    if not compile_it and not _maybe_cached():
        _uncompiled = True
        return False
    try:
        with _no_blas_check():
            from ftctl.datasets import minhash_kernel

            with _refusing_compiles(not compile_it):
                _sign_with(minhash_kernel, [("a b c", "d")], 1)  # loads it, or compiles it
        _kernel = minhash_kernel
    except _NotCompiled:
        _uncompiled = True
    except Exception:  # no numba for this platform, nowhere to cache the loop: numpy
        _kernel = False
    if "numba" in sys.modules:
        _release_file_pages(_LIBRARY)
    return _kernel or False


class _NotCompiled(Exception):
    """The loop is in no cache, and was not to be compiled."""


@contextlib.contextmanager
def _refusing_compiles(refuse: bool) -> Iterator[None]:
    """numba compiles only after looking in its cache; its "numba:compile" event starts
    then, so a listener that raises stops the compile before it costs anything."""
    if not refuse:
        yield
        return
    from numba.core import event

    class Refuse(event.Listener):
        def on_start(self, event: Any) -> None:
            raise _NotCompiled

        def on_end(self, event: Any) -> None:
            pass

    with event.install_listener("numba:compile", Refuse()):
        yield


def _maybe_cached() -> bool:
    """False when the loop is surely in no cache: numba keeps it beside the module
    (`__pycache__/minhash_kernel.sign_items-*.nbi`) unless that is not writable, or
    `NUMBA_CACHE_DIR` says where; elsewhere (its user cache directory) numba is asked."""
    here = Path(__file__).with_name("__pycache__")
    if any(here.glob("minhash_kernel.sign_items-*.nbi")):
        return True
    return bool(os.environ.get("NUMBA_CACHE_DIR")) or not os.access(here.parent, os.W_OK)


def _sign_with(kernel: Any, items: Sequence[tuple[str, str | None]], num_perm: int) -> Matrices:
    a, b = _affine32_permutations(num_perm)
    pieces: list[bytes] = []
    bounds: list[int] = []
    at = 0
    for first, rest in items:
        head = _word_bytes(first)
        pieces.append(head)
        mid = at + len(head)
        end = mid
        if rest is not None:
            tail = _word_bytes(rest)
            pieces.append(b" ")  # the "\n" between them: a separator
            pieces.append(tail)
            end += 1 + len(tail)
        bounds += (at, mid, end)
        at = end
    n = len(items)
    whole = np.empty((n, num_perm), dtype=np.uint32)
    part = np.empty((n, num_perm), dtype=np.uint32)
    signed = np.empty(n, dtype=np.uint8)
    kernel.sign_items(
        np.frombuffer(b"".join(pieces), dtype=np.uint8),
        np.array(bounds, dtype=np.int64).reshape(n, 3),
        a,
        b,
        kernel.CRC32_TABLE,
        whole,
        part,
        signed,
    )
    return whole, part, signed


@contextlib.contextmanager
def _no_blas_check() -> Iterator[None]:
    """numba's first compile imports scipy.linalg (~0.12 s) only to see whether a BLAS is
    there for `np.dot` and the like; the loop uses none, so that import fails meanwhile."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]  # `import` of it raises ImportError
    try:
        yield
    finally:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


_MAPPING = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")
_MADV_DONTNEED = 4


def _release_file_pages(library: str) -> None:
    """Unmap from this process the resident pages of `library` that are only its file's
    bytes (read-only mappings no page of which was ever written).

    Loading LLVM's 180 MB library leaves ~80 MB of its code resident, counted in this
    process's memory (and in each worker forked from it) though the loaded loop never runs
    it. `MADV_DONTNEED` drops them: the page cache keeps them, and a later use maps them
    again from the file. Mappings with a written page (relocated data) are left alone:
    dropping those would lose what was written. Linux only; elsewhere nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    regions: list[tuple[int, int]] = []
    try:
        with open("/proc/self/smaps", "rb") as maps:
            current: tuple[int, int] | None = None
            for line in maps:
                header = _MAPPING.match(line)
                if header is not None:
                    start, stop, perms, path = header.groups()
                    current = None
                    if path.endswith(library.encode()) and b"w" not in perms:
                        current = (int(start, 16), int(stop, 16))
                elif current is not None and line.startswith(b"Anonymous:"):
                    if int(line.split()[1]) == 0:
                        regions.append(current)
                    current = None
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        for start, stop in regions:
            madvise(start, stop - start, _MADV_DONTNEED)
    except (OSError, AttributeError, ValueError):  # no procfs, no libc: the pages stay
        pass
