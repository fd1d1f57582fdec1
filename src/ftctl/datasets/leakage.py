"""Leakage between splits: rows of a later split (validation, test) whose prompt is in an
earlier one, found from the compact columns of the one pass (`ftctl.datasets.stream`).

The prompt (user and tool messages) is what is compared: a test question the model was
trained on contaminates the eval even when the reference answers differ. Exact: the same
prompt digest; near: a word 3-shingle Jaccard similarity of at least `LEAKAGE_THRESHOLD`
(MinHash LSH finds candidates, the exact similarity decides; the texts are made again from
the source rows only for candidates). Each row is reported once, against the first earlier
split it leaks from; a row repeated by a weight leaks once per repeat.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ftctl.datasets.band_join import first_matches, shared_band_pairs
from ftctl.datasets.digest_index import first_rows_of
from ftctl.datasets.near_index import index_bits
from ftctl.datasets.row_work import LEAKAGE_THRESHOLD
from ftctl.datasets.similarity import prompt_text
from ftctl.datasets.splits import SPLIT_ORDER, Leak, SplitName
from ftctl.datasets.stream import RowTable, SplitColumns, band_matrix


def find_leakage(splits: Mapping[SplitName, SplitColumns], table: RowTable) -> list[Leak]:
    leaks: list[Leak] = []
    present = [name for name in SPLIT_ORDER if name in splits and splits[name].uploaded]
    for later_pos, later in enumerate(present):
        reported: set[int] = set()
        for earlier in present[:later_pos]:
            leaks.extend(
                _leaks_between(later, splits[later], earlier, splits[earlier], table, reported)
            )
    return leaks


def _leaks_between(
    later: SplitName,
    later_rows: SplitColumns,
    earlier: SplitName,
    earlier_rows: SplitColumns,
    table: RowTable,
    reported: set[int],
) -> list[Leak]:
    # Exact: the first earlier row with the same prompt digest (sorted, searched).
    earlier_present = np.frombuffer(earlier_rows.prompt_present, dtype=np.int8).astype(bool)
    earlier_digests = earlier_rows.prompts.array("V16")
    candidates = np.flatnonzero(earlier_present)
    later_present = np.frombuffer(later_rows.prompt_present, dtype=np.int8).astype(bool)
    exact = first_rows_of(
        earlier_digests[candidates], candidates.astype(np.int64), later_rows.prompts.array("V16")
    )
    exact[~later_present] = -1

    # Near: the earlier rows that share a band with a later one (as an index of the earlier
    # rows finds them, `band_join`), the first similar enough.
    hashes, signed = band_matrix(earlier_rows.prompt_bands, earlier_rows.prompt_signed)
    indexed = np.flatnonzero(signed)
    # Rows with an exact leak, or reported already, are not searched for a near one.
    later_hashes, later_signed = band_matrix(later_rows.prompt_bands, later_rows.prompt_signed)
    search = later_signed & later_present & (exact < 0)
    for position in reported:
        search[position] = False
    candidates, searched = shared_band_pairs(
        hashes, indexed, later_hashes, np.flatnonzero(search), index_bits(indexed.size)
    )
    near = first_matches(
        candidates,
        searched,
        LEAKAGE_THRESHOLD,
        lambda j: table.text(later_rows.row[j], of=prompt_text),
        lambda key: table.text(earlier_rows.row[key], of=prompt_text),
    )
    leaks: list[Leak] = []
    for position in np.flatnonzero(later_present).tolist():
        if position in reported:
            continue
        if exact[position] >= 0:
            kind, other, similarity = "exact", int(exact[position]), 1.0
        else:
            match = near.get(position)
            if match is None:
                continue
            kind, other, similarity = "near", match.key, match.similarity
        reported.add(position)
        origin = table.origin(later_rows.row[position])
        other_origin = table.origin(earlier_rows.row[other])
        for copy in range(later_rows.copies[position]):
            leaks.append(
                Leak(later, origin, copy, earlier, other_origin, kind, similarity)  # type: ignore[arg-type]
            )
    return leaks
