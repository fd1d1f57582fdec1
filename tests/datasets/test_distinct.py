"""`distinct`: np.unique's answer, without importing numpy.ma."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ftctl.datasets.distinct import distinct


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.intp])
def test_distinct_is_what_np_unique_gives(dtype: type[np.generic]) -> None:
    rng = np.random.default_rng(14)
    for size in (0, 1, 2, 5, 100, 10_000):
        values = rng.integers(0, max(1, size // 3), size=size).astype(dtype)
        found = distinct(values)
        assert found.dtype == values.dtype
        assert np.array_equal(found, np.unique(values))


def test_distinct_leaves_numpy_ma_unimported() -> None:
    """np.unique would import it (~28 ms) in every build's main process."""
    script = (
        "import sys, numpy as np\n"
        "from ftctl.datasets.distinct import distinct\n"
        "assert distinct(np.array([3, 1, 3])).tolist() == [1, 3]\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "False"
