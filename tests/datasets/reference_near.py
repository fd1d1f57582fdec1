"""The near-duplicate search ftctl used before its compact index: dicts of band bytes and
texts held in memory. Kept here as the reference the compact index (`near_index`) must
agree with, decision for decision; `band_index_in_chunks` drives the compact index the
way a build does, for the tests and the benchmark that compare the two."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from ftctl.datasets.near_index import BandIndex, TextSpill, band_hashes
from ftctl.datasets.similarity import Match, compute_signature, jaccard, lsh_params, shingles


def band_index_in_chunks(
    texts: Sequence[str],
    signatures: Sequence[bytes | None],
    threshold: float,
    num_perm: int,
    chunk: int,
    spill: TextSpill,
    *,
    keep_all: bool,
    lonely: npt.NDArray[np.bool_] | None = None,
) -> tuple[list[Match | None], BandIndex]:
    """Each text's match, the texts fed `chunk` at a time to a `BandIndex` whose texts are
    in `spill` (as a build feeds its batches), and the index it filled; `lonely`: the rows
    the index is told are alone (`query_insert_in_order`)."""
    index = BandIndex(threshold, num_perm, spill.__getitem__)
    result: list[Match | None] = []
    for start in range(0, len(texts), chunk):
        end = min(len(texts), start + chunk)
        spill.add_many(texts[start:end])
        hashes, signed = band_hashes(signatures[start:end], num_perm, threshold)
        result.extend(
            index.query_insert_in_order(
                np.arange(start, end, dtype=np.int64),
                hashes,
                signed,
                lambda j, s=start: texts[s + j],  # type: ignore[misc]
                keep_all,
                None if lonely is None else lonely[start:end],
            )
        )
    return result, index


def sign_texts(texts: Sequence[str], num_perm: int) -> tuple[list[bytes], list[bytes | None]]:
    """(unused digests, signature bytes or None) of each text, like the old `sign_texts`."""
    signatures = [compute_signature(text, num_perm) for text in texts]
    return [b""] * len(texts), [None if s is None else s.tobytes() for s in signatures]


class NearIndex:
    """Texts inserted so far, queried for ones at least `threshold` similar.

    MinHash LSH finds the candidates (texts that share a whole band of the signature);
    each candidate is then checked with the exact Jaccard similarity of the shingle sets,
    so the decision has no estimation noise and a pair is near exactly when its similarity
    reaches the threshold (LSH may still, rarely, miss a pair close to the threshold; it is
    tuned towards recall, see `LSH_WEIGHTS`).
    """

    def __init__(
        self, threshold: float, num_perm: int, lookup: Callable[[int], str] | None = None
    ) -> None:
        """`lookup(key)`, when given, gives back the text added under `key`, so that the
        index need not hold every text (only candidates are looked up, to be verified)."""
        self.threshold = threshold
        self.num_perm = num_perm
        bands, rows = lsh_params(threshold, num_perm)
        self._bands = [(i * rows * 4, (i + 1) * rows * 4) for i in range(bands)]
        # A bucket holds one key (most do) or a list of them: a list per bucket would cost
        # about 650 bytes more per text (9 bands by default).
        self._tables: list[dict[bytes, int | list[int]]] = [{} for _ in range(bands)]
        self._lookup = lookup
        self._texts: dict[int, str] = {}
        self._keys: set[int] = set()

    def _text(self, key: int) -> str:
        return self._texts[key] if self._lookup is None else self._lookup(key)

    def _band_keys(self, raw: bytes) -> list[bytes]:
        return [raw[start:end] for start, end in self._bands]

    def add(self, key: int, text: str) -> None:
        signature = compute_signature(text, self.num_perm)
        self.add_signed(key, None if signature is None else signature.tobytes())
        if signature is not None and self._lookup is None:
            self._texts[key] = text

    def add_signed(self, key: int, signature: bytes | None) -> None:
        """Index `key` by its text's signature (`sign_texts`); its text is `lookup(key)`."""
        if signature is None or key in self._keys:
            return
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            bucket = table.get(band)
            if bucket is None:
                table[band] = key
            elif isinstance(bucket, int):
                table[band] = [bucket, key]
            else:
                bucket.append(key)
        self._keys.add(key)

    def nearest(self, text: str) -> Match | None:
        """The smallest key whose text is at least `threshold` similar, or None."""
        if not self._keys:
            return None
        signature = compute_signature(text, self.num_perm)
        return self.nearest_signed(None if signature is None else signature.tobytes(), lambda: text)

    def nearest_signed(self, signature: bytes | None, text: Callable[[], str]) -> Match | None:
        """`nearest` for a text known by its signature; `text()` is made only to verify a
        candidate."""
        if not self._keys or signature is None:
            return None
        candidates: set[int] = set()
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            bucket = table.get(band)
            if isinstance(bucket, int):
                candidates.add(bucket)
            elif bucket is not None:
                candidates.update(bucket)
        if not candidates:
            return None
        grams = shingles(text())
        for key in sorted(candidates):
            similarity = jaccard(grams, shingles(self._text(key)))
            if similarity >= self.threshold:
                return Match(int(key), similarity)
        return None


def near_duplicates_in_order(
    texts: Sequence[str], threshold: float, num_perm: int, *, keep_all: bool
) -> list[Match | None]:
    """For each text, an earlier near-duplicate of it (its index), or None.

    With `keep_all=False` a text found to be a near-duplicate is not itself indexed (what a
    dedupe does: later texts are compared with the kept ones only); with `keep_all=True`
    every text is indexed (what a ratio counts).
    """
    _, signatures = sign_texts(texts, num_perm)  # each text made once; again for candidates
    return dedupe_signed(texts, signatures, threshold, num_perm, keep_all=keep_all)[0]


def dedupe_signed(
    texts: Sequence[str],
    signatures: Sequence[bytes | None],
    threshold: float,
    num_perm: int,
    *,
    keep_all: bool,
) -> tuple[list[Match | None], NearIndex]:
    """`near_duplicates_in_order` for texts already signed, and the index it filled."""
    index = NearIndex(threshold, num_perm, texts.__getitem__)
    result: list[Match | None] = []
    for i, signature in enumerate(signatures):
        match = index.nearest_signed(signature, lambda i=i: texts[i])  # type: ignore[misc]
        result.append(match)
        if match is None or keep_all:
            index.add_signed(i, signature)
    return result, index


def build_index(
    texts: Sequence[str], threshold: float, num_perm: int, signatures: Sequence[bytes | None]
) -> NearIndex:
    """An index of `texts` by their signatures (`sign_texts(texts, num_perm)[1]`)."""
    index = NearIndex(threshold, num_perm, texts.__getitem__)
    for i, signature in enumerate(signatures):
        index.add_signed(i, signature)
    return index
