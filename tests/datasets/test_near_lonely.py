"""A rebuild's nearDedupe step skips the lookups of rows that share no band with another row
(`near_lonely`): the rows it calls alone really are, and the build's output and findings
are a cold build's."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ftctl.datasets import near_lonely, row_reuse, row_snapshot, stream
from ftctl.datasets.near_lonely import LonelyRows, repeated_words, with_filter
from ftctl.datasets.row_block import RECORD_END, BandGeometry
from ftctl.datasets.row_snapshot import SnapshotReader, SnapshotWriter

from . import build_helpers as h
from .test_example_cache import POLICY, _cold, _outcome

BANDS = 5


def _previous(rng: np.random.Generator, count: int) -> np.ndarray:
    """The band hashes of a last build's records: random, but for some rows that share a
    band with another."""
    hashes = rng.integers(0, 2**63, size=(count, BANDS), dtype=np.uint64)
    for _ in range(count // 10):
        i, j = rng.integers(0, count, size=2)
        b = int(rng.integers(0, BANDS))
        hashes[i, b] = hashes[j, b]
    return hashes


def _stream(
    seed: int, previous: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """A rebuild's rows: (hashes, signed, fresh, call sizes). Most are the last build's
    records, some of them twice (the second not fresh), some left out; the others are new:
    random, or sharing a band with a record (an edit that made a near-duplicate)."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    count = previous.shape[0]
    rows: list[np.ndarray] = []
    fresh: list[bool] = []
    taken: set[int] = set()
    for k in rng.permutation(count)[: count - count // 20].tolist():
        roll = pick.random()
        if roll < 0.05:
            new = rng.integers(0, 2**63, size=BANDS, dtype=np.uint64)
            if pick.random() < 0.5:
                b = pick.randrange(BANDS)
                new[b] = previous[pick.randrange(count), b]
            rows.append(new)
            fresh.append(False)
            continue
        twice = roll < 0.08 and taken
        key = pick.choice(sorted(taken)) if twice else k
        rows.append(previous[key])
        fresh.append(key not in taken)
        taken.add(key)
    hashes = np.array(rows, dtype=np.uint64)
    signed = rng.random(len(rows)) > 0.03
    sizes: list[int] = []
    left = len(rows)
    while left:
        size = min(left, pick.choice([1, 3, 40, 300]))
        sizes.append(size)
        left -= size
    return hashes, signed, np.array(fresh), sizes


@pytest.mark.parametrize("seed", range(6))
def test_a_row_called_alone_shares_no_band_with_a_row_before_it_or_in_its_call(
    seed: int,
) -> None:
    rng = np.random.default_rng(100 + seed)
    previous = _previous(rng, 1500)
    hashes, signed, fresh, sizes = _stream(seed, previous)
    lonely_rows = LonelyRows(
        lambda: with_filter(repeated_words(lambda: np.array_split(previous.ravel(), 7)))
    )
    start = 0
    alone = 0
    for size in sizes:
        end = start + size
        lonely = lonely_rows.of(hashes[start:end], signed[start:end], fresh[start:end])
        assert lonely is not None
        assert not (lonely & ~(signed[start:end] & fresh[start:end])).any()
        for j in np.flatnonzero(lonely).tolist():
            others = np.ones(end, dtype=np.bool_)
            others[start + j] = False
            others &= signed[:end]
            same = hashes[:end][others] == hashes[start + j]
            assert not same.any(), f"row {start + j} shares a band"
        alone += int(lonely.sum())
        start = end
    # Nearly every fresh row is alone here: a test that could pass with none would not tell.
    assert alone > 0.7 * len(hashes)


def test_until_the_snapshots_hashes_are_read_no_row_is_alone_and_new_ones_still_count() -> None:
    """The snapshot is read on a thread: the calls before it is done look every row up,
    and the rows they had that were not fresh still make later rows not alone."""
    rng = np.random.default_rng(11)
    previous = _previous(rng, 400)
    alone = [i for i in range(3, 400) if not (previous[i] == np.delete(previous, i, axis=0)).any()][
        :4
    ]
    ready: list[bool] = []
    lonely_rows = LonelyRows(
        lambda: with_filter(repeated_words(lambda: [previous.ravel()])) if ready else None
    )
    signed = np.ones(4, np.bool_)
    edited = rng.integers(0, 2**63, size=(1, BANDS), dtype=np.uint64)
    edited[0, 2] = previous[alone[2], 2]  # an edit that made a near-duplicate of that row
    fresh = np.array([True, True, True, False])  # the edited row is new
    first = lonely_rows.of(np.concatenate([previous[:3], edited]), signed, fresh)
    assert first is not None and not first.any()
    ready.append(True)
    later = lonely_rows.of(previous[alone], signed, signed)
    assert later is not None and later.tolist() == [True, True, False, True]


def test_a_build_with_mostly_new_rows_stops_telling() -> None:
    rng = np.random.default_rng(7)
    lonely_rows = LonelyRows(lambda: with_filter(repeated_words(list)))
    answers = []
    for _ in range(6):
        hashes = rng.integers(0, 2**63, size=(1000, BANDS), dtype=np.uint64)
        fresh = rng.random(1000) < 0.5
        answers.append(lonely_rows.of(hashes, np.ones(1000, np.bool_), fresh))
    assert all(a is not None for a in answers[:4]) and answers[4] is None and answers[5] is None
    assert lonely_rows.given_up and near_lonely._MOST_NEW < 0.5


def test_the_snapshot_tells_the_words_two_records_hold(tmp_path: Path) -> None:
    """`record_words` reads the records of one width (last byte the record end, flag set),
    whatever values are between them, and not the others."""
    width, end, flag, start, count = 40, RECORD_END, 1, 8, 3

    def record(words: list[int], signed: bool = True) -> bytes:
        body = bytes([0, int(signed)]) + b"\0" * 6 + np.array(words, "<u8").tobytes()
        return body + b"\0" * (width - len(body) - 1) + bytes([end])

    values = [
        record([1, 2, 3]),
        record([4, 5, 6]),
        b"a whole result between records\x52",
        record([7, 2, 8]),  # 2 again
        record([9, 10, 9]),  # 9 twice in one record: two words, so repeated too
        record([11, 12, 13], signed=False),
        record([11, 14, 15]),  # 11 again, but the first was not signed
        b"x" * width,  # the record's width, but not a record
        record([16, 17, 6])[:-1] + b"\x52",  # a whole result of that width
        record([5, 18, 19]),  # 5 again
    ]
    path = tmp_path / "p.rows"
    writer = SnapshotWriter(path, 20_000, tmp_path)
    writer.add_many([(n.to_bytes(16, "big"), v) for n, v in enumerate(values)])
    writer.commit()
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        bands = BandGeometry(width, start, count, flag)
        words = repeated_words(lambda: reader.record_words(bands))
    finally:
        reader.close()
    assert words.tolist() == [2, 5, 9]


def test_the_words_met_twice_are_found_in_runs_of_any_size() -> None:
    """Within a run, across runs, and among words that share the filter's cell."""
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**64 - 1, size=20_000, dtype=np.uint64)
    low = np.uint64(0xFFFF)  # words 300-599 share the top bits (the cell) of words 0-299
    words[300:600] = (words[300:600] & low) | (words[:300] & ~low)
    twice = np.concatenate([words[:50], words[5000:5100], words[300:310]])
    stream = rng.permutation(np.concatenate([words, twice]))
    expected = np.unique(twice)
    assert np.unique(words).size == words.size
    for pieces in (1, 3, 1000):
        found = with_filter(repeated_words(lambda n=pieces: np.array_split(stream, n)))
        assert found.words.tolist() == expected.tolist()
        assert found.filter[(expected >> near_lonely._SHIFT).astype(np.intp)].all()
        assert found.filter.sum() == np.unique(expected >> near_lonely._SHIFT).size


DATA = """
train:
  sources: [{path: data/train.jsonl}]
  transforms: [{nearDedupe: {threshold: 0.8}}]
"""


def _near(row: dict[str, Any], words: str) -> dict[str, Any]:
    near = json.loads(json.dumps(row))
    near["messages"][-1]["content"] += words
    return near


def _rows() -> list[Any]:
    rows: list[Any] = h.examples(0, 60)
    rows.append(_near(rows[5], " Thanks"))  # a near repeat, left out
    return rows


def _rows_alone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows each call of the build's `LonelyRows` found alone (-1: it had given up)."""
    alone: list[int] = []
    told = LonelyRows.of

    def counted(self: LonelyRows, *args: Any) -> Any:
        lonely = told(self, *args)
        alone.append(-1 if lonely is None else int(lonely.sum()))
        return lonely

    monkeypatch.setattr(LonelyRows, "of", counted)
    return alone


@pytest.mark.parametrize(
    "edit",
    [
        "line copied twice",
        "edit makes a near repeat of an earlier row",
        "edit makes a near repeat of a later row",
        "first of a near pair removed",
    ],
)
def test_a_rebuild_after_edits_that_make_or_unmake_near_duplicates_equals_a_cold_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    root = tmp_path / "ws"
    rows = _rows()
    project_dir = h.write_workspace(root, h.project_yaml(DATA, POLICY), {"data/train.jsonl": rows})
    _outcome(root)
    if edit == "line copied twice":  # the same key twice: one snapshot record for both
        rows = [*rows[:20], rows[20], *rows[20:], rows[7]]
    elif edit == "edit makes a near repeat of an earlier row":
        rows = [*rows[:40], _near(rows[10], " Thanks a lot"), *rows[41:]]
    elif edit == "edit makes a near repeat of a later row":
        rows = [*rows[:30], _near(rows[50], " Cheers"), *rows[31:]]
    else:
        rows = [*rows[:5], *rows[6:]]
    h.write_jsonl(project_dir / "data/train.jsonl", rows)
    # The snapshot read when first needed, not on a thread a small build may outrun.
    monkeypatch.setattr(stream, "READ_REPEATED_AHEAD", False)
    alone = _rows_alone(monkeypatch)
    again, messages = _outcome(root)
    cold = _cold(root, tmp_path)
    assert again == cold
    found, read = h.reused(messages)
    assert found >= read - 2
    # The rebuild did skip the lookups of rows alone (there are 55 and more here).
    assert alone and sum(alone) > 40
    # What each edit does to the step (so that the comparison above covers it): the near
    # repeat of line 6 goes unless line 6 does; a copy goes, as does the later of a new pair.
    dropped = again["report"]["splits"]["train"]["transforms"][0]["dropped_rows"]
    expected = {
        "line copied twice": ["22 ", "62 ", "63 "],
        "edit makes a near repeat of an earlier row": ["41 ", "61 "],
        "edit makes a near repeat of a later row": ["51 ", "61 "],
        "first of a near pair removed": [],
    }[edit]
    assert [d.split(":")[1][: len(e)] for d, e in zip(dropped, expected, strict=False)] == expected
    assert len(dropped) == len(expected)


def test_a_snapshot_whose_hashes_cannot_be_read_costs_the_lookups_not_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot's hashes are read on a thread; if that fails, every row is looked up
    (and the build is a cold one's, as ever)."""
    root = tmp_path / "ws"
    rows = _rows()
    project_dir = h.write_workspace(root, h.project_yaml(DATA, POLICY), {"data/train.jsonl": rows})
    _outcome(root)
    h.write_jsonl(
        project_dir / "data/train.jsonl", [*rows[:30], _near(rows[50], " Hi"), *rows[31:]]
    )

    def unreadable(*_args: Any) -> Any:
        raise OSError("the snapshot went away")

    monkeypatch.setattr(row_reuse.RowReuse, "repeated_hashes", unreadable)
    asked = stream._result_if_done

    def finished(future: Any) -> Any:
        future.exception()  # waits for the thread: the failure is what is tested
        return asked(future)

    monkeypatch.setattr(stream, "_result_if_done", finished)
    alone = _rows_alone(monkeypatch)
    again, _messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert alone and sum(alone) == 0


# --------------------------------------------------------------------------- kept hashes

SIGNED_AT, WORDS_AT, WIDTH = 1, 8, 64
KEPT = BandGeometry(WIDTH, WORDS_AT, BANDS, SIGNED_AT)


def _record(words: np.ndarray, signed: bool = True) -> bytes:
    body = bytes([0, int(signed)]) + b"\0" * 6 + np.asarray(words, "<u8").tobytes()
    return body + b"\0" * (WIDTH - len(body) - 1) + bytes([RECORD_END])


def _snapshot(path: Path, records: dict[int, np.ndarray], keep: Any = None) -> SnapshotReader:
    """A snapshot of `records` (key number -> band hashes); `keep(writer)` says what it keeps
    of the repeated hashes (by default: finds them)."""
    writer = SnapshotWriter(path, 20_000, path.parent)
    writer.add_many([(n.to_bytes(16, "big"), _record(words)) for n, words in records.items()])
    if keep is None:
        writer.exact.add(KEPT)
    else:
        keep(writer)
    assert writer.commit()
    reader = SnapshotReader.open(path)
    assert reader is not None
    return reader


def _exact(records: dict[int, np.ndarray]) -> list[int]:
    """The hashes two of `records` hold, found the plain way."""
    counts: dict[int, int] = {}
    for words in records.values():
        for word in words.tolist():
            counts[word] = counts.get(word, 0) + 1
    return sorted(word for word, count in counts.items() if count > 1)


def _keep(
    writer: SnapshotWriter, kept: tuple[np.ndarray, int], added: list[np.ndarray], rows: int
) -> None:
    writer.keep_repeated(KEPT, kept, added, rows)


def test_a_first_snapshot_keeps_the_hashes_two_of_its_records_hold(tmp_path: Path) -> None:
    records = {n: words for n, words in enumerate(_previous(np.random.default_rng(1), 500))}
    reader = _snapshot(tmp_path / "a.rows", records)
    try:
        words, base = reader.repeated[KEPT]
        assert words.tolist() == _exact(records) and base == words.size > 0
        assert reader.repeated_hashes(KEPT)[0] is words  # kept: not found again
        assert reader.intact()
    finally:
        reader.close()


def test_each_rebuilds_kept_hashes_hold_every_hash_two_of_its_records_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild keeps its last snapshot's set with every hash of the records it did not
    take from there: over generations of edits (records left out, taken, new, some new ones
    sharing hashes with taken ones and with each other) the set kept always holds the exact
    one, and it is found again exactly once it has grown too large."""
    monkeypatch.setattr(row_snapshot, "_GROWTH_MARGIN", 100)  # regrown within the test
    rng = np.random.default_rng(11)
    records = {n: words for n, words in enumerate(_previous(rng, 400))}
    last = _snapshot(tmp_path / "0.rows", records)
    next_key = len(records)
    regrown = 0
    for generation in range(1, 13):
        taken = {n: w for n, w in records.items() if rng.random() > 0.03}
        new: dict[int, np.ndarray] = {}
        for _ in range(20):
            words = rng.integers(0, 2**63, size=BANDS, dtype=np.uint64)
            pool = list(taken.values()) + list(new.values())
            donor = pool[int(rng.integers(0, len(pool)))]
            b = int(rng.integers(0, BANDS))
            words[b] = donor[int(rng.integers(0, BANDS))]  # shared with a taken or new record
            new[next_key] = words
            next_key += 1
        records = {**taken, **new}
        previous = (last.repeated[KEPT][0].copy(), last.repeated[KEPT][1])
        last.close()

        keep = functools.partial(_keep, kept=previous, added=list(new.values()), rows=len(records))
        last = _snapshot(tmp_path / f"{generation}.rows", records, keep)
        words, base = last.repeated[KEPT]
        assert set(_exact(records)) <= set(words.tolist()), generation
        assert words.tolist() == sorted(set(words.tolist()))
        if base == words.size:
            regrown += 1
            assert words.tolist() == _exact(records)
    last.close()
    assert regrown >= 1  # 20 new records a generation outgrow a small exact set


def test_a_build_of_mostly_new_records_finds_the_exact_hashes(tmp_path: Path) -> None:
    records = {n: words for n, words in enumerate(_previous(np.random.default_rng(5), 300))}
    new = [records[n] for n in range(100)]  # a third of the records are new

    def keep(writer: SnapshotWriter) -> None:
        writer.keep_repeated(KEPT, (np.zeros(0, np.uint64), 0), new, len(records))

    reader = _snapshot(tmp_path / "n.rows", records, keep)
    try:
        assert reader.repeated[KEPT][0].tolist() == _exact(records)
    finally:
        reader.close()


def test_a_snapshot_of_the_format_before_is_read_without_kept_hashes(tmp_path: Path) -> None:
    """A snapshot an ftctl before this one wrote (`FTRS2`: no repeated hashes, one number
    less in its footer) gives its values, and its repeated hashes are found from them."""
    records = {n: words for n, words in enumerate(_previous(np.random.default_rng(2), 200))}
    path = tmp_path / "old.rows"
    _snapshot(path, records).close()
    data = path.read_bytes()
    footer = data[-row_snapshot._FOOTER :]
    numbers = [int.from_bytes(footer[8 + 8 * i : 16 + 8 * i], "little") for i in range(6)]
    count, keys_at, strings_at, pairs_at, repeated_at, day = numbers
    body = data[:repeated_at]  # the repeated hashes, after the keys, left out
    fields = (count, keys_at, strings_at, pairs_at, day)
    path.write_bytes(
        body
        + b"FTRS2\n\0\0"
        + b"".join(n.to_bytes(8, "little") for n in fields)
        + hashlib.sha256(body).digest()
    )
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        assert reader.intact() and reader.repeated == {}
        assert reader.values([(7).to_bytes(16, "big")]) == [_record(records[7])]
        words, base = reader.repeated_hashes(KEPT)
        assert words.tolist() == _exact(records) and base == words.size
    finally:
        reader.close()


def test_a_rebuild_after_a_rebuild_tells_rows_alone_by_the_hashes_kept_and_equals_a_cold_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first rebuild adds a near repeat of line 11 (a new record: its hashes join those
    the snapshot keeps); the second edits another line, and tells the rows alone by the
    hashes the first kept: none is found again from the records, the lookups of rows alone
    are skipped, and the output is a cold build's. (That the hashes kept hold every hash two
    records hold is `test_each_rebuilds_kept_hashes_hold_every_hash_two_of_its_records_hold`.)"""
    root = tmp_path / "ws"
    rows = _rows()
    project_dir = h.write_workspace(root, h.project_yaml(DATA, POLICY), {"data/train.jsonl": rows})
    _outcome(root)
    rows = [*rows, _near(rows[10], " Thanks a lot")]
    h.write_jsonl(project_dir / "data/train.jsonl", rows)
    monkeypatch.setattr(stream, "READ_REPEATED_AHEAD", False)
    _outcome(root)
    rows[30] = h.chat("A new question entirely?", "And a new answer.")
    h.write_jsonl(project_dir / "data/train.jsonl", rows)
    found_again: list[int] = []
    find = row_snapshot.repeated_words

    def counted(*args: Any) -> Any:
        found_again.append(1)
        return find(*args)

    monkeypatch.setattr(row_snapshot, "repeated_words", counted)
    alone = _rows_alone(monkeypatch)
    again, _messages = _outcome(root)
    assert found_again == []
    assert alone and sum(alone) > 40
    dropped = again["report"]["splits"]["train"]["transforms"][0]["dropped_rows"]
    assert [d.split(":")[1][:3] for d in dropped] == ["61 ", "62 "]
    assert again == _cold(root, tmp_path)
