"""A filter of 64-bit words by their top bits: many words looked up among a few.

The words looked among are marked in a table of cells by their top bits (`mark`); a word
whose cell is not marked is none of them, and only the others go on to a search (`maybe`).
With at least `CELLS_PER_WORD` cells per word marked, about 1 word in 16 of the many gets
there. Leakage looks a large split's words up among a smaller split's this way, without
sorting the large one (`band_join`, `digest_index.first_rows_of`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CELLS_PER_WORD = 16
_MOST_BITS = 24  # 16 MB of cells at most


class WordFilter:
    """Cells for up to `count` words marked at once."""

    def __init__(self, count: int) -> None:
        bits = min(_MOST_BITS, (max(1, count) * CELLS_PER_WORD - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._cells = np.zeros(1 << bits, dtype=np.bool_)

    def mark(self, words: npt.NDArray[np.uint64], on: bool = True) -> None:
        """Mark the cells of `words` (`on` False: clear them, for the next words)."""
        self._cells[self._cell(words)] = on

    def maybe(self, words: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        """The positions of those of `words` whose cell is marked."""
        return np.flatnonzero(self._cells[self._cell(words)])

    def _cell(self, words: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        return (words >> self._shift).astype(np.intp)
