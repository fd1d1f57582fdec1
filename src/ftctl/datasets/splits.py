"""Validation carved out of train by a stable hash, and leakage between splits.

A row goes to validation when `unit_hash("ftctl-split:<seed>", canonical bytes) < fraction`.
The decision depends on the row's own bytes and the seed only, so adding or removing other
rows never moves an existing row to the other side (a changed row may move: it is a new row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ftctl.datasets.canonical import unit_hash
from ftctl.datasets.provenance import Record
from ftctl.datasets.similarity import LazyTexts, build_index, prompt_text, sign_texts

SplitName = Literal["train", "validation", "test"]
SPLIT_ORDER: tuple[SplitName, ...] = ("train", "validation", "test")

# Leakage compares prompts at this similarity (word 3-shingle Jaccard), like nearDedupe's default.
LEAKAGE_THRESHOLD = 0.9
LEAKAGE_NUM_PERM = 128


def in_validation(record: Record, fraction: float, seed: int) -> bool:
    return unit_hash(f"ftctl-split:{seed}", record.canonical) < fraction


def hash_split(
    records: Sequence[Record], fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """(train, validation), each in input order."""
    train: list[Record] = []
    validation: list[Record] = []
    for record in records:
        (validation if in_validation(record, fraction, seed) else train).append(record)
    return train, validation


@dataclass(frozen=True)
class Leak:
    """A row of `split` whose prompt also appears (exactly or nearly) in `other_split`."""

    split: SplitName
    record: Record
    other_split: SplitName
    other: Record
    kind: Literal["exact", "near"]
    similarity: float


def find_leakage(
    splits: Mapping[SplitName, Sequence[Record]],
    threshold: float = LEAKAGE_THRESHOLD,
    num_perm: int = LEAKAGE_NUM_PERM,
) -> list[Leak]:
    """Rows of a later split (validation, test) whose prompt is in an earlier one.

    The prompt (user and tool messages) is what is compared: a test question the model
    was trained on contaminates the eval even when the reference answers differ. Each row is
    reported once, against the first earlier split it leaks from.
    """
    leaks: list[Leak] = []
    present = [name for name in SPLIT_ORDER if splits.get(name)]
    for later_pos, later in enumerate(present):
        earlier_names = present[:later_pos]
        if not earlier_names:
            continue
        reported: set[int] = set()
        for earlier in earlier_names:
            leaks.extend(
                _leaks_between(
                    later, splits[later], earlier, splits[earlier], threshold, num_perm, reported
                )
            )
    return leaks


def _leaks_between(
    later: SplitName,
    later_rows: Sequence[Record],
    earlier: SplitName,
    earlier_rows: Sequence[Record],
    threshold: float,
    num_perm: int,
    reported: set[int],
) -> list[Leak]:
    # Prompts are made when needed, and known exactly by a 16-byte digest: the earlier
    # split's prompts are never all held at once.
    # Each prompt is made once to digest and sign it (`sign_texts`), again only to verify a
    # near candidate.
    earlier_prompts = LazyTexts([r.example for r in earlier_rows], prompt_text)
    digests, signatures = sign_texts(earlier_prompts, num_perm)
    exact: dict[bytes, int] = {}
    for i, digest in enumerate(digests):
        if digest != _EMPTY:
            exact.setdefault(digest, i)
    index = build_index(earlier_prompts, threshold, num_perm, signatures)
    later_prompts = LazyTexts([r.example for r in later_rows], prompt_text)
    later_digests, later_signatures = sign_texts(later_prompts, num_perm)
    leaks: list[Leak] = []
    for pos, record in enumerate(later_rows):
        if pos in reported:
            continue
        digest = later_digests[pos]
        if digest == _EMPTY:
            continue
        earlier_at = exact.get(digest)
        if earlier_at is not None:
            other = earlier_rows[earlier_at]
            leaks.append(Leak(later, record, earlier, other, "exact", 1.0))
            reported.add(pos)
            continue
        match = index.nearest_signed(
            later_signatures[pos],
            lambda record=record: prompt_text(record.example),  # type: ignore[misc]
        )
        if match is not None:
            other = earlier_rows[match.key]
            leaks.append(Leak(later, record, earlier, other, "near", match.similarity))
            reported.add(pos)
    return leaks


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


_EMPTY = _digest("")  # the digest of an empty prompt (a row with nothing to compare)
