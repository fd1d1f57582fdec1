"""The compact near-duplicate index gives exactly what the dict-based index it replaced
(`reference_near.NearIndex`) gives.

`BandIndex` (numpy runs of band hashes) and `TextSpill` (texts in a temporary file) replace
NearIndex's dicts and in-memory texts for a streaming build: every near-duplicate decision,
dedupe and leakage alike, must stay the same, whatever the chunks the stream is cut into.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from ftctl.datasets.near_index import BandIndex, TextSpill, band_hashes
from ftctl.datasets.similarity import Match, lsh_params

from .reference_near import (
    band_index_in_chunks,
    build_index,
    near_duplicates_in_order,
    sign_texts,
)

SETTINGS = [(0.9, 128), (0.7, 128), (0.9, 64), (0.7, 64)]


def _corpus(seed: int, bases: int = 90) -> list[str]:
    """Random-word texts and near-duplicates of them at similarities around 0.7 and 0.9
    (words replaced, added or dropped), exact copies, texts without words, non-ASCII words and
    short texts over a tiny vocabulary (many LSH candidates, most rejected), shuffled."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(3000)
    ]
    vocabulary += ["café", "naïve", "ΣΟΦΟΣ", "σοφός", "東京", "İstanbul", "straße", "Ⅻ", "ǅemal"]
    texts: list[str] = []
    for _ in range(bases):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(40, 120))]
        texts.append(" ".join(words))
        for _ in range(rng.randint(0, 4)):
            variant = list(words)
            for _ in range(rng.randint(0, 9)):
                edit = rng.random()
                at = rng.randrange(len(variant))
                if edit < 0.6:
                    variant[at] = rng.choice(vocabulary)
                elif edit < 0.8:
                    variant.insert(at, rng.choice(vocabulary))
                else:
                    del variant[at]
            texts.append(" ".join(variant))
        if rng.random() < 0.2:
            texts.append(texts[-1])  # an exact copy
        if rng.random() < 0.1:
            texts.append(texts[-1].upper() + " !")  # the same words
    tiny = ["refund", "order", "parcel", "late", "card"]
    texts += [" ".join(rng.choice(tiny) for _ in range(rng.randint(1, 8))) for _ in range(60)]
    texts += ["", "!!! ???", "", "a lone \ud800 surrogate between words", "— … —"]
    rng.shuffle(texts)
    return texts


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _corpus(3)


@pytest.mark.parametrize(("threshold", "num_perm"), SETTINGS)
@pytest.mark.parametrize("keep_all", [False, True])
def test_a_stream_in_chunks_of_any_size_gets_near_duplicates_in_orders_answers(
    corpus: list[str], threshold: float, num_perm: int, keep_all: bool, tmp_path: Path
) -> None:
    expected = near_duplicates_in_order(corpus, threshold, num_perm, keep_all=keep_all)
    near = [m for m in expected if m is not None and m.similarity < 1.0]
    assert near and any(m is not None and m.similarity == 1.0 for m in expected)
    _, signatures = sign_texts(corpus, num_perm)
    for size in (1, 7, 1000):
        with TextSpill(tmp_path) as spill:
            got, index = band_index_in_chunks(
                corpus, signatures, threshold, num_perm, size, spill, keep_all=keep_all
            )
        assert got == expected, f"chunks of {size}"
        kept = sum(1 for i, m in enumerate(expected) if signatures[i] and (m is None or keep_all))
        assert len(index) == kept


def _alone(hashes: np.ndarray, signed: np.ndarray) -> np.ndarray:
    """Signed rows whose hash in each band no other signed row has."""
    alone = signed.copy()
    for b in range(hashes.shape[1]):
        column = hashes[signed, b]
        values, counts = np.unique(column, return_counts=True)
        shared = values[counts > 1]
        alone &= ~np.isin(hashes[:, b], shared)
    return alone


@pytest.mark.parametrize(("threshold", "num_perm"), SETTINGS[:2])
def test_rows_told_to_be_alone_are_inserted_unasked_with_the_same_answers(
    corpus: list[str],
    threshold: float,
    num_perm: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a rebuild tells the index (`near_lonely`): rows sharing no band with another
    are not looked up, and every answer stays the same."""
    expected = near_duplicates_in_order(corpus, threshold, num_perm, keep_all=False)
    _, signatures = sign_texts(corpus, num_perm)
    hashes, signed = band_hashes(signatures, num_perm, threshold)
    alone = _alone(hashes, signed)
    assert alone.sum() > 50 and (signed & ~alone).sum() > 50
    looked_up: list[int] = []
    hits = BandIndex._hits

    def counted(self: BandIndex, hashes: np.ndarray, queried: np.ndarray) -> object:
        looked_up.append(int(queried.sum()))
        return hits(self, hashes, queried)

    monkeypatch.setattr(BandIndex, "_hits", counted)
    for size in (1, 7, 1000):
        looked_up.clear()
        with TextSpill(tmp_path) as spill:
            got, index = band_index_in_chunks(
                corpus, signatures, threshold, num_perm, size, spill, keep_all=False, lonely=alone
            )
        assert got == expected, f"chunks of {size}"
        assert sum(looked_up) == int((signed & ~alone).sum())
        assert len(index) == sum(1 for i, m in enumerate(expected) if signatures[i] and m is None)


def test_dedupe_and_counting_differ_on_this_corpus(corpus: list[str]) -> None:
    # Chains of near-duplicates: with keep_all a text may match a dropped one. Without this the
    # keep_all cases above would not tell the two modes apart.
    deduped = near_duplicates_in_order(corpus, 0.7, 64, keep_all=False)
    counted = near_duplicates_in_order(corpus, 0.7, 64, keep_all=True)
    assert deduped != counted


@pytest.mark.parametrize(("threshold", "num_perm"), SETTINGS)
def test_insert_then_query_gets_build_index_and_nearest_signeds_answers(
    threshold: float, num_perm: int
) -> None:
    texts = _corpus(8, bases=60)
    half = len(texts) // 2
    earlier, later = texts[:half], texts[half:]
    _, earlier_signatures = sign_texts(earlier, num_perm)
    _, later_signatures = sign_texts(later, num_perm)
    reference = build_index(earlier, threshold, num_perm, earlier_signatures)
    expected = [
        reference.nearest_signed(s, lambda t=t: t)  # type: ignore[misc]
        for s, t in zip(later_signatures, later, strict=True)
    ]
    assert any(m is not None and m.similarity < 1.0 for m in expected)

    index = BandIndex(threshold, num_perm, earlier.__getitem__)
    hashes, signed = band_hashes(earlier_signatures, num_perm, threshold)
    # Inserted in pieces out of key order (several runs, merged), some keys twice.
    keys = np.arange(half, dtype=np.int64)
    pieces = [keys[half // 2 :], keys[:3], keys[3 : half // 2], keys[:10]]
    for piece in pieces:
        index.insert(piece, hashes[piece], signed[piece])
    assert len(index) == sum(s is not None for s in earlier_signatures)

    made: list[int] = []

    def text(j: int) -> str:
        made.append(j)
        return later[j]

    later_hashes, later_signed = band_hashes(later_signatures, num_perm, threshold)
    assert index.query(later_hashes, later_signed, text) == expected
    assert {j for j, m in enumerate(expected) if m is not None} <= set(made)
    assert not any(later_signatures[j] is None for j in made)
    assert len(made) == len(set(made)) < len(later)


def test_a_key_inserted_again_keeps_its_first_signature() -> None:
    texts = ["alpha beta gamma delta epsilon zeta", "one two three four five six seven"]
    _, signatures = sign_texts(texts, 128)
    hashes, signed = band_hashes(signatures, 128, 0.9)
    index = BandIndex(0.9, 128, texts.__getitem__)
    index.insert(np.array([0]), hashes[:1], signed[:1])
    index.insert(np.array([0]), hashes[1:], signed[1:])  # key 0 again, other bands: ignored
    assert len(index) == 1
    assert index.query(hashes, signed, texts.__getitem__) == [Match(0, 1.0), None]


def test_a_repeated_key_in_a_stream_is_indexed_once_as_near_index_does() -> None:
    texts = ["", "alpha beta gamma delta epsilon zeta", "alpha beta gamma delta epsilon zeta"]
    _, signatures = sign_texts(texts, 128)
    hashes, signed = band_hashes(signatures, 128, 0.9)
    index = BandIndex(0.9, 128, texts.__getitem__)
    # Key 1 twice: its second row finds the first one, and is not indexed again.
    got = index.query_insert_in_order(np.array([0, 1, 1]), hashes, signed, texts.__getitem__, True)
    assert got == [None, None, Match(1, 1.0)]
    assert len(index) == 1


def test_band_hashes_are_equal_exactly_when_the_band_bytes_are() -> None:
    rng = np.random.default_rng(4)
    for num_perm, threshold in [(128, 0.9), (64, 0.7), (128, 0.97)]:
        bands, rows = lsh_params(threshold, num_perm)
        values = rng.integers(0, 1 << 32, size=(300, num_perm), dtype=np.uint64).astype(np.uint32)
        # Plant shared bands, and bands differing in one value or by swapped halves of a word.
        for _ in range(400):
            i, j, b = rng.integers(300), rng.integers(300), rng.integers(bands)
            band = slice(b * rows, (b + 1) * rows)
            values[i, band] = values[j, band]
            if rng.random() < 0.3:
                values[i, b * rows + rng.integers(rows)] ^= np.uint32(1 << rng.integers(32))
            elif rng.random() < 0.2 and rows >= 2:
                values[i, b * rows], values[i, b * rows + 1] = (
                    values[j, b * rows + 1],
                    values[j, b * rows],
                )
        signatures: list[bytes | None] = [row.tobytes() for row in values]
        signatures[5] = None
        hashes, signed = band_hashes(signatures, num_perm, threshold)
        assert hashes.shape == (300, bands) and hashes.dtype == np.uint64
        assert signed.tolist() == [s is not None for s in signatures]
        live = np.flatnonzero(signed)
        shared = 0
        for b in range(bands):
            band_bytes = values[live, b * rows : (b + 1) * rows]
            same_bytes = (band_bytes[:, None, :] == band_bytes[None, :, :]).all(axis=2)
            same_hash = hashes[live, b][:, None] == hashes[live, b][None, :]
            assert (same_bytes == same_hash).all()
            shared += int(same_bytes.sum()) - live.size
        assert shared > 100  # the planted pairs are there


def test_text_spill_gives_back_every_text_exactly(tmp_path: Path) -> None:
    rng = random.Random(2)
    texts = ["", "plain", "café ΣΟΦΟΣ 東京 \U0001f600", "lone \ud800 and \udfff surrogates", ""]
    texts += [
        "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 50))) for _ in range(300)
    ]
    texts.append("x" * (3 << 20))  # more than one write buffer
    with TextSpill(tmp_path) as spill:
        assert spill.add(texts[0]) == 0
        assert spill[0] == ""
        spill.add_many(texts[1:200])
        assert spill[3] == texts[3]  # read between writes
        ids = [spill.add(t) for t in texts[200:]]
        assert ids == list(range(200, len(texts)))
        assert len(spill) == len(texts)
        assert [spill[i] for i in range(len(texts))] == texts
        assert spill[-1] == texts[-1]
        with pytest.raises(IndexError):
            spill[len(texts)]
        assert os.listdir(tmp_path) == []  # an unnamed file: nothing left behind on a crash
    with pytest.raises(ValueError, match="closed"):
        spill[1]
