"""Which rows of a rebuild's nearDedupe step share no LSH band with any other row.

A rebuild takes nearly all its rows' results from the last build's snapshot (`row_reuse`),
their band hashes among them. Two rows can be near-duplicate candidates only if they share
a band hash, so a row is alone in the build unless one of its hashes is

- held by two of the snapshot's records (`repeated_words`, over
  `row_snapshot.SnapshotReader.record_words`: the rows shared it last time, or may again),
- held by a row whose result did not come from the snapshot (an edited line, worked on
  again: its hashes are new, and noted here as the rows come),
- or its row's key is met twice in this build (the same line again: one record for both,
  which the snapshot's count cannot tell). `row_reuse` marks every row after the first as
  not fresh, so the hashes of those are noted as new: the first is then not alone either,
  whichever call it is in.

`BandIndex.query_insert_in_order` inserts those rows without looking them up, which is
most of what the step cost a rebuild (0.3-0.4 s of a 200,000-row one). The answers do not
change: a lonely row has no candidate, and is none for a row of its call.

Bands are pooled: a hash of one band that equals another band's hash of another row only
makes that row not lonely, which costs a lookup, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np

from ftctl.datasets.distinct import distinct
from ftctl.datasets.near_index import U64, Bools

# A filter of 2^22 bits (one byte each: 4 MB) over the hashes' top bits answers most rows
# without a search: a rebuild's 200,000 rows hold ~20,000 repeated hashes (0.5% of the
# filter set), so ~4% of rows (nine bands) go on to the exact search.
_FILTER_BITS = 22
_SHIFT = np.uint64(64 - _FILTER_BITS)
# Words taken at once by `repeated_words` (positions in a piece fit 16 bits).
_PIECE = 1 << 16
# New hashes kept at most, as a share of the rows seen: past it most rows are new (a plan
# or an encoding changed) and the rows are looked up as before, since few would be lonely.
_MOST_NEW = 0.25


class LonelyRows:
    """One nearDedupe step's view of the hashes seen more than once, fed call by call."""

    def __init__(self, repeated: Callable[[], Repeated | None]) -> None:
        """`repeated()`: the band hashes that two of the snapshot's records hold, asked for
        when a call has a fresh row (a build that finds none never reads them); None while
        they are not known yet (read on a thread): until then no row is lonely."""
        self._repeated: Callable[[], Repeated | None] | None = repeated
        self._known = np.zeros(0, dtype=np.uint64)
        self._filter: Bools | None = None
        self._rows = 0
        self._new_rows = 0
        self.given_up = False

    def of(self, hashes: U64, signed: Bools, fresh: Bools) -> Bools | None:
        """Which rows of one call (in stream order) are lonely: `hashes` (m, bands),
        `signed` as the index takes them, `fresh[j]` True where row j's result is the
        snapshot's record and no earlier row of the build had its key. None once too many
        rows were new for the filter to be worth its upkeep (and from then on)."""
        if self.given_up:
            return None
        m = signed.size
        new = signed & ~fresh
        self._rows += m
        self._new_rows += int(np.count_nonzero(new))
        if self._new_rows > _MOST_NEW * self._rows and self._rows >= 4096:
            self.given_up = True
            return None
        if new.any():
            # Noted before this call's rows are judged: a fresh row that shares a band with
            # a new row after it in the call is its candidate.
            self._add(hashes[new].ravel())
        lonely = signed & fresh
        rows = np.flatnonzero(lonely)
        if rows.size and self._repeated is not None:
            found = self._repeated()
            if found is None:
                return np.zeros(m, dtype=np.bool_)
            self._repeated = None
            if self._filter is not None:  # the new rows' cells, marked before
                np.logical_or(found.filter, self._filter, out=found.filter)
            self._filter = found.filter
            self._add(found.words)
        if rows.size:
            assert self._filter is not None
            words = hashes[rows]
            maybe = self._filter[(words >> _SHIFT).astype(np.intp)].any(axis=1)
            checked = rows[maybe]
            if checked.size:
                held = self._holds(hashes[checked]).any(axis=1)
                lonely[checked[held]] = False
        return lonely

    def _add(self, words: U64) -> None:
        self._known = _distinct(np.concatenate([self._known, words.ravel()]), runs=True)
        if self._filter is None:
            self._filter = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
        self._filter[(words >> _SHIFT).astype(np.intp)] = True

    def _holds(self, words: U64) -> Bools:
        """Which of `words` (any shape) are among the known repeated or new hashes."""
        known = self._known
        if known.size == 0:
            return np.zeros(words.shape, dtype=np.bool_)
        at = np.searchsorted(known, words)
        at[at == known.size] = 0
        held: Bools = known[at] == words
        return held


@dataclass
class Repeated:
    """The band hashes two of the snapshot's records hold (`words`: sorted, distinct) and a
    filter of their top bits (`filter[w >> _SHIFT]` is True for each of them alone)."""

    words: U64
    filter: Bools


def with_filter(words: U64) -> Repeated:
    """`words` (sorted, distinct) and the filter of their top bits."""
    # The filter made of the repeated words alone: cells met twice are most of them
    # distinct words sharing a cell (a third of a 200,000-row snapshot's), which would send
    # most rows on to the exact search.
    cells = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
    cells[(words >> _SHIFT).astype(np.intp)] = True
    return Repeated(words, cells)


def repeated_words(runs: Callable[[], Iterable[U64]]) -> U64:
    """The values met more than once in the arrays `runs()` gives, sorted, each once
    (`runs` is called twice: the words are read again rather than held, 14 MB for a
    200,000-row snapshot, whose sort would take as much again). The first pass marks the
    filter's cells met twice, the second keeps the words of those cells (~8% of them),
    whose repeats are then exact.

    A cell met twice within a piece of a run is found without sorting the piece (the
    sorts were most of the 0.17 s a 200,000-row snapshot's hashes took): each word writes
    its position in the piece to its cell's slot in `last`, and a word that reads back
    another position shares its cell. Of a cell's positions only one can be in the slot,
    whichever numpy writes last, so each cell met more than once is found."""
    seen = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
    twice = np.zeros(1 << _FILTER_BITS, dtype=np.bool_)
    last = np.zeros(1 << _FILTER_BITS, dtype=np.uint16)
    positions = np.arange(_PIECE, dtype=np.uint16)
    for words in runs():
        flat = words.ravel()
        for start in range(0, flat.size, _PIECE):
            cells = (flat[start : start + _PIECE] >> _SHIFT).astype(np.intp)
            twice[cells[seen[cells]]] = True  # met in an earlier piece
            here = positions[: cells.size]
            last[cells] = here
            twice[cells[last[cells] != here]] = True  # met twice in this piece
            seen[cells] = True
    del seen, last
    kept = [words.ravel()[twice[(words.ravel() >> _SHIFT).astype(np.intp)]] for words in runs()]
    ordered = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.uint64)
    return _distinct(ordered[1:][ordered[1:] == ordered[:-1]], ordered=True)


def _distinct(words: U64, ordered: bool = False, runs: bool = False) -> U64:
    """`words` sorted, each once (`distinct`, typed as the words it is given)."""
    return cast(U64, distinct(words, ordered, runs))
