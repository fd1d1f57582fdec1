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

from ftctl.datasets.digest_index import DigestIndex
from ftctl.datasets.near_index import BandIndex
from ftctl.datasets.row_work import LEAKAGE_NUM_PERM, LEAKAGE_THRESHOLD
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
    known = DigestIndex()  # each prompt with the first earlier row that has it
    known.first_of_each(earlier_digests[candidates], candidates.astype(np.int64))
    later_present = np.frombuffer(later_rows.prompt_present, dtype=np.int8).astype(bool)
    exact = known.rows_of(later_rows.prompts.array("V16"))
    exact[~later_present] = -1

    def earlier_text(key: int) -> str:
        return table.text(earlier_rows.row[key], of=prompt_text)

    index = BandIndex(LEAKAGE_THRESHOLD, LEAKAGE_NUM_PERM, earlier_text)
    hashes, signed = band_matrix(earlier_rows.prompt_bands, earlier_rows.prompt_signed)
    index.insert(np.arange(len(earlier_rows), dtype=np.int64), hashes, signed)
    # Rows with an exact leak, or reported already, are not searched for a near one.
    later_hashes, later_signed = band_matrix(later_rows.prompt_bands, later_rows.prompt_signed)
    search = later_signed & later_present & (exact < 0)
    for position in reported:
        search[position] = False
    near = index.query(
        later_hashes, search, lambda j: table.text(later_rows.row[j], of=prompt_text)
    )
    leaks: list[Leak] = []
    for position in np.flatnonzero(later_present).tolist():
        if position in reported:
            continue
        if exact[position] >= 0:
            kind, other, similarity = "exact", int(exact[position]), 1.0
        else:
            match = near[position]
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
