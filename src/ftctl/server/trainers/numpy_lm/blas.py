"""Run numpy's BLAS on one thread while training.

The matrices of the local model are small: on a shared machine, BLAS worker threads spin and
contend more than they help (measured: one thread trained support-triage ~1.5x faster than
two on a loaded 2-core box). One thread also makes every matrix product's summation order
independent of the machine's core count, which the determinism promise relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
