"""Validation carved out of train by a stable hash, and leakage between splits.

A row goes to validation when `unit_hash("ftctl-split:<seed>", canonical bytes) < fraction`.
The decision depends on the row's own bytes and the seed only, so adding or removing other
rows never moves an existing row to the other side (a changed row may move: it is a new row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftctl.datasets.canonical import unit_hash
from ftctl.datasets.provenance import Origin

SplitName = Literal["train", "validation", "test"]
SPLIT_ORDER: tuple[SplitName, ...] = ("train", "validation", "test")


def split_hash(seed: int, canonical: bytes) -> float:
    """Where a row falls in [0, 1): it goes to validation when this is below the fraction."""
    return unit_hash(f"ftctl-split:{seed}", canonical)


@dataclass(frozen=True)
class Leak:
    """A row of `split` whose prompt also appears (exactly or nearly) in `other_split`.

    `copy` numbers the repeats a weight makes (0: the row as read); each repeat leaks too.
    """

    split: SplitName
    origin: Origin
    copy: int
    other_split: SplitName
    other: Origin
    kind: Literal["exact", "near"]
    similarity: float
