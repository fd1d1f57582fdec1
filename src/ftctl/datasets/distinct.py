"""The distinct values of a numpy array, sorted: `np.unique(values)` without its cost.

numpy 2's `np.unique`, called without `return_index`/`return_inverse`/`return_counts`,
asks `np.ma.is_masked`, and the first call in a process imports `numpy.ma` (~28 ms): a
twentieth of a rebuild's main thread, paid by every data build that called it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def distinct(values: npt.NDArray[np.generic], ordered: bool = False) -> npt.NDArray[np.generic]:
    """The distinct values of 1-D `values`, in ascending order (what `np.unique` gives);
    `ordered`: `values` are in ascending order already (not sorted again)."""
    if not ordered:
        values = np.sort(values)  # values alone: any sort gives them in the same order
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]
