"""The row snapshot of a project's last build: a rebuild takes its unchanged rows from it in
the build's own process, and anything in it (or in the objects lines are copied from) that
does not verify costs a second pass, never a wrong result."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ftctl.datasets import row_pool
from ftctl.datasets.row_snapshot import SnapshotReader, SnapshotWriter
from ftctl.errors import DataError

from . import build_helpers as h
from .test_example_cache import (
    DATA,
    POLICY,
    _cold,
    _edit_line_ten,
    _objects,
    _outcome,
    _Planted,
    _rows,
    _touch,
)

DAY = 20_000


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The workspace of test_example_cache.py: both dedupe transforms, a derived split."""
    workspace = tmp_path / "ws"
    h.write_workspace(workspace, h.project_yaml(DATA, POLICY), {"data/train.jsonl": _rows()})
    return workspace


def _key(n: int) -> bytes:
    return n.to_bytes(4, "big") * 4


def _write(path: Path, items: list[tuple[bytes, bytes]]) -> None:
    writer = SnapshotWriter(path, DAY, path.parent)
    writer.add_many(items)
    writer.commit()


def test_a_snapshot_gives_back_each_keys_value(tmp_path: Path) -> None:
    path = tmp_path / "p.rows"
    items = [(_key(n), b"value %d " % n * (n % 7)) for n in range(3000)]
    _write(path, [*items, (_key(5), b"a second value for a key seen")])
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        wanted = [_key(2999), _key(10_000), _key(0), _key(5), _key(1234), b"\xff" * 16]
        assert reader.values(wanted) == [
            items[2999][1],
            None,
            items[0][1],
            items[5][1],  # the first value written for a key is the one kept
            items[1234][1],
            None,
        ]
        assert reader.day == DAY
        assert reader.intact()
    finally:
        reader.close()
    assert not list((tmp_path / "objects").iterdir())  # the staged file became the snapshot


def test_records_and_strings_come_back_as_written(tmp_path: Path) -> None:
    """Records are written as their bytes; keys sharing their first 8 bytes are told apart;
    the strings the records number come back in order."""
    from ftctl.datasets.row_block import RECORD_END

    dtype = np.dtype([("n", "<i8"), ("end", "u1")])
    records = np.zeros(5, dtype=dtype)
    records["n"] = [10, 11, 12, 13, 14]
    records["end"] = RECORD_END
    keys = [b"same8pre" + bytes([n]) * 8 for n in range(4)] + [_key(99)]
    path = tmp_path / "p.rows"
    writer = SnapshotWriter(path, DAY, tmp_path)
    writer.strings = ["a prompt", None, "another"]
    writer.add_records(keys[:3], records[:3])
    writer.add_many([(_key(7), b"marshal data" + b"R")])
    writer.add_records(keys[3:], records[3:])
    writer.commit()
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        assert reader.strings == ["a prompt", None, "another"]
        wanted = [keys[2], _key(7), b"same8pre" + b"\xff" * 8, keys[0], keys[4], keys[3]]
        found = reader.values(wanted)
        assert found[1] == b"marshal dataR" and found[2] is None
        values = [found[i] for i in (0, 3, 4, 5)]
        assert all(v is not None and len(v) == dtype.itemsize for v in values)
        numbers = np.frombuffer(b"".join(v for v in values if v), dtype=dtype)["n"]
        assert numbers.tolist() == [12, 10, 14, 13]
    finally:
        reader.close()


def test_records_are_told_from_whole_results_and_read_in_the_order_asked(
    tmp_path: Path,
) -> None:
    """What a rebuild reads a batch with (`records`): the values of record width that end
    as records, as rows of one array in the order asked for; every other value (a whole
    result, one of record width among them) as it is; a value the file no longer holds
    whole, not at all."""
    from ftctl.datasets.row_block import RECORD_END
    from ftctl.datasets.row_snapshot import RARE

    dtype = np.dtype([("n", "<i8"), ("end", "u1")])
    records = np.zeros(400, dtype=dtype)
    records["n"] = np.arange(400)
    records["end"] = RECORD_END
    path = tmp_path / "p.rows"
    writer = SnapshotWriter(path, DAY, tmp_path)
    writer.add_records([_key(n) for n in range(200)], records[:200])
    # Whole results between the records: one longer, one of a record's width.
    writer.add_many([(_key(1000), b"marshal data" + bytes((RARE,)))])
    writer.add_many([(_key(1001), b"12345678" + bytes((RARE,)))])
    writer.add_records([_key(n) for n in range(200, 400)], records[200:])
    writer.commit()
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        wanted = [_key(n) for n in (399, 1000, 5, 7777, 1001, 200, 0, 199)]
        at, raw, others, places = reader.records(wanted, dtype.itemsize, RECORD_END)
        assert at.tolist() == [0, 2, 5, 6, 7]
        assert raw.view(dtype).reshape(-1)["n"].tolist() == [399, 5, 200, 0, 199]
        assert others == [(1, b"marshal dataR"), (4, b"12345678R")]
        # Where each record's key is among the snapshot's (a record found twice tells).
        assert reader.keys[places].tobytes() == b"".join(wanted[i] for i in at.tolist())
        assert reader.values(wanted)[4] == b"12345678R"
        # The file cut short under the reader: the values past the cut are not found.
        os.truncate(path, 150 * dtype.itemsize)
        at, raw, others, places = reader.records(wanted, dtype.itemsize, RECORD_END)
        assert at.tolist() == [2, 6] and places.tolist() == [5, 0]
        assert raw.view(dtype).reshape(-1)["n"].tolist() == [5, 0]
        assert others == []
    finally:
        reader.close()


def test_an_empty_snapshot_finds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.rows"
    _write(path, [])
    reader = SnapshotReader.open(path)
    assert reader is not None
    assert reader.values([_key(1)]) == [None]
    assert reader.intact()
    reader.close()


def test_a_damaged_snapshot_is_found_out(tmp_path: Path) -> None:
    path = tmp_path / "p.rows"
    _write(path, [(_key(n), b"value %d" % n) for n in range(100)])
    data = path.read_bytes()
    path.write_bytes(data[:10] + b"X" + data[11:])  # a value changed in place
    reader = SnapshotReader.open(path)
    assert reader is not None
    assert not reader.intact()
    reader.close()
    for broken in (data[:-1], data[:40], b"not a snapshot at all" * 5, b""):
        path.write_bytes(broken)
        assert SnapshotReader.open(path) is None
    assert SnapshotReader.open(tmp_path / "missing.rows") is None


def test_a_snapshot_takes_the_place_of_the_last_one_and_leaves_nothing_beside_it(
    tmp_path: Path,
) -> None:
    """The last snapshot is moved aside, not renamed over (`SnapshotWriter.commit`), and
    removed once the new one is in place."""
    path = tmp_path / "latest" / "p.rows"
    _write(path, [(_key(1), b"first build")])
    _write(path, [(_key(2), b"second build")])
    reader = SnapshotReader.open(path)
    assert reader is not None
    try:
        assert reader.values([_key(1), _key(2)]) == [None, b"second build"]
    finally:
        reader.close()
    # Nothing beside it: not the last one, nor the staged file it was written to.
    assert sorted(p.name for p in path.parent.iterdir()) == ["objects", "p.rows"]
    assert not list((path.parent / "objects").iterdir())


def test_a_discarded_snapshot_leaves_nothing(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "p.rows", DAY, tmp_path)
    writer.add_many([(_key(n), b"x" * 5000) for n in range(300)])  # past one write buffer
    assert [p.name[:8] for p in (tmp_path / "objects").iterdir()] == [".staged."]
    writer.discard()
    assert not list((tmp_path / "objects").iterdir())
    assert not (tmp_path / "p.rows").exists()


def _rows_worked_on(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of each batch the row pool looks up in the example cache or works
    on."""
    given: list[int] = []
    original = row_pool._Workbench.work_values

    def work_values(self: Any, job: Any, rows: Any) -> Any:
        given.append(len(rows))
        return original(self, job, rows)

    monkeypatch.setattr(row_pool._Workbench, "work_values", work_values)
    return given


def test_a_rebuild_takes_unchanged_rows_from_the_snapshot(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _outcome(root)
    assert len(h.snapshots(root)) == 1
    _edit_line_ten(root)
    given = _rows_worked_on(monkeypatch)
    again, messages = _outcome(root)
    # The edited row, and the near repeat: nearDedupe left it out of the last build's
    # output, so it has no line to copy. Every other row was found without the pool.
    assert sorted(given) == [2]
    assert again == _cold(root, tmp_path)
    assert h.reused(messages) == (len(_rows()) - 1, len(_rows()))


@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "worker-processes"])
def test_the_changed_rows_of_several_batches_go_to_the_pool_together(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: bool
) -> None:
    """A rebuild's batches miss a few rows each; the pool is asked for those of several
    batches at once (a request costs a worker ~1 ms of its own), and each batch gets its
    rows' results back."""
    from ftctl.datasets import build, stream

    monkeypatch.setattr(stream, "BATCH_ROWS", 7)
    if processes:
        monkeypatch.setattr(build, "POOL_MIN_BYTES", 0)
        monkeypatch.setenv("FTCTL_DATA_WORKERS", "2")
    _outcome(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    for at in (10, 40, 70):  # in batches 2, 6 and 11 of 12
        lines[at] = json.dumps(h.example(900 + at)) + "\n"
    train.write_text("".join(lines), encoding="utf-8")
    expected = _cold(root, tmp_path)
    given = _rows_worked_on(monkeypatch)
    again, messages = _outcome(root)
    assert again == expected
    assert h.reused(messages) == (len(_rows()) - 3, len(_rows()))  # the near repeat: SQLite
    if not processes:  # the three edited rows and the near repeat, in one request
        assert given == [4]


def test_near_duplicate_pairs_compared_last_build_are_not_compared_again(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nearDedupe compares a candidate pair by reading both rows again; a rebuild takes
    the similarity of the pairs the last build compared from its snapshot."""
    from ftctl.datasets import stream

    compared: list[int] = []
    ask = stream.NearPairs.__call__

    def counting(self: Any, row: int, candidate: int, compute: Any) -> float:
        return ask(self, row, candidate, lambda: (compared.append(row), compute())[1])

    monkeypatch.setattr(stream.NearPairs, "__call__", counting)
    _outcome(root)
    assert compared  # the near repeat of row 6 and its candidates
    _edit_line_ten(root)
    compared.clear()
    again, _ = _outcome(root)
    assert compared == []
    assert again == _cold(root, tmp_path)
    dropped = json.dumps(again["report"])
    assert "near-duplicate of" in dropped  # the similarity known gave the same decision


def test_a_line_the_last_builds_object_no_longer_holds_whole_is_not_trusted(
    root: Path,
) -> None:
    """A rebuild copies its unchanged rows' lines when it writes them; one that comes back
    short (the object cut since it was checked) makes the reuse not intact, and the build
    is done again without it (`build._ReusedDamaged`)."""
    from ftctl.datasets.cache import DatasetCache, cache_root
    from ftctl.datasets.row_block import RowBlock
    from ftctl.datasets.row_reuse import RowReuse

    _outcome(root)
    cache = DatasetCache(cache_root(root))
    snapshot = SnapshotReader.open(cache.snapshot_path("demo"))
    assert snapshot is not None
    objects = cache.latest("demo")
    reuse = RowReuse(snapshot, objects)
    try:
        size = objects[0].stat().st_size
        block = RowBlock(np.zeros(2, dtype=[("end", "u1")]), [b"", b"held\n"])
        block.copied_rows()[0] = (0, 0, 40)  # the first 40 bytes of the first object
        # Joined (read by the writer, `Span.read`), as a rebuild writes them.
        spans = reuse.spans(block, [0, 1])
        read = [p if isinstance(p, bytes) else p.read() for p in spans]
        assert read == [objects[0].read_bytes()[:40], b"held\n"]
        assert reuse.intact()
        block.copied_rows()[0] = (0, size - 10, 40)  # past the end
        assert [len(p) for p in reuse.lines(block, [0, 1])] == [40, 5]
        assert not reuse.intact()
    finally:
        reuse.close()


def test_a_damaged_snapshot_builds_again_without_it(root: Path) -> None:
    first, _ = _outcome(root)
    [snapshot] = h.snapshots(root)
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 3] ^= 0x01  # a value, a bit flipped
    snapshot.write_bytes(bytes(data))
    _touch(root)
    warnings: list[str] = []
    again, messages = _outcome(root, warnings)
    assert again == first
    assert any("did not verify" in w for w in warnings)
    # Its rows were worked on again, but those the last build left out of its output, which
    # the example cache has too (`stream.StreamBuild._keep_left_out`): the exact repeat
    # (whose original, the same bytes, finds it as well) and the near repeat.
    assert h.reused(messages) == (3, len(_rows()))
    # The pass without it wrote a good one: the next rebuild takes its rows from it.
    _touch(root, "# once more\n")
    warnings.clear()
    assert _outcome(root, warnings)[0] == first
    assert warnings == []


def test_a_snapshot_value_that_would_run_code_is_not_run(root: Path, tmp_path: Path) -> None:
    """Every value of the snapshot replaced by a pickle that would run code, in a file
    that verifies: each is a miss (values are read with marshal, never unpickled)."""
    expected = _cold(root, tmp_path)
    _outcome(root)
    [snapshot] = h.snapshots(root)
    reader = SnapshotReader.open(snapshot)
    assert reader is not None
    keys = [bytes(k) for k in reader.keys]
    reader.close()
    marker = tmp_path / "ran"
    planted = pickle.dumps(_Planted(marker))
    _write(snapshot, [(key, planted) for key in keys])
    _touch(root)
    again, _ = _outcome(root)
    assert not marker.exists()
    assert again == expected


def test_lines_of_a_damaged_earlier_output_are_not_kept(root: Path) -> None:
    first, _ = _outcome(root)
    for path in _objects(root):  # same size: every line is found, at the wrong text
        path.write_bytes(path.read_bytes().replace(b"e", b"E"))
    _touch(root)
    warnings: list[str] = []
    again, _ = _outcome(root, warnings)
    assert again == first
    assert any("did not verify" in w for w in warnings)


MIXED = """
train:
  sources:
    - {path: data/train.jsonl, limit: 40}
    - path: data/more-*.jsonl
      weight: 1.5
    - inline:
        - messages:
            - {role: user, content: "An inline question?"}
            - {role: assistant, content: "An inline answer."}
  transforms: [{dedupe: {}}, {maxTokens: {limit: 80, action: drop}}]
validation:
  split: {fraction: 0.25, seed: 11}
"""


def test_a_rebuild_of_limited_weighted_and_inline_sources_equals_a_cold_build(
    tmp_path: Path,
) -> None:
    """Rows from the snapshot go through a source's `limit`, weights, inline rows, a
    `maxTokens` drop and the derived split as rows worked on do."""
    root = tmp_path / "ws"
    files = {
        "data/train.jsonl": [*h.examples(0, 30), h.example(3), *h.examples(30, 20)],
        "data/more-a.jsonl": h.examples(200, 20),
        "data/more-b.jsonl": [h.chat("word " * 150 + "?", "A long one."), *h.examples(300, 5)],
    }
    project_dir = h.write_workspace(root, h.project_yaml(MIXED, POLICY), files)
    _outcome(root)
    h.write_jsonl(project_dir / "data/more-a.jsonl", [h.example(999), *h.examples(201, 19)])
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, read = h.reused(messages)
    assert 0 < found < read


SYSTEMS = """
train:
  sources: [{path: data/train.jsonl}]
  transforms: [{dedupe: {}}]
"""


def test_system_prompts_of_snapshot_rows_are_this_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records name a row's system prompt by a number of the build that wrote them: read
    by the next build, which numbers its prompts as it meets them, they are renumbered."""
    from ftctl.datasets import stream

    monkeypatch.setattr(stream, "BATCH_ROWS", 7)
    root = tmp_path / "ws"
    prompts = ["You are Acme support.", "Be brief.", None]
    rows = [h.example(n, system=prompts[0]) for n in range(7)]
    rows += [h.example(n, system=prompts[n % 3]) for n in range(7, 40)]
    policy = "requireSystemPrompt: {mode: consistent, level: warn}\n"
    project_dir = h.write_workspace(
        root, h.project_yaml(SYSTEMS, policy), {"data/train.jsonl": rows}
    )
    _outcome(root)
    # The first batch's rows all change, to a prompt the last build did not have: this
    # build numbers it first, before any row of the snapshot.
    rows[:7] = [h.example(100 + n, system="A new prompt.") for n in range(7)]
    h.write_jsonl(project_dir / "data/train.jsonl", rows)
    again, messages = _outcome(root)
    assert h.reused(messages) == (33, 40)
    assert again == _cold(root, tmp_path)
    assert any("requireSystemPrompt" in str(d) for d in again["diagnostics"])


def test_a_failing_build_keeps_the_last_snapshot(root: Path) -> None:
    _outcome(root)
    [snapshot] = h.snapshots(root)
    kept = snapshot.read_bytes()
    _edit_line_ten(root)
    _touch(root, "    maxRefusalRatio: {value: 0.0, phrases: [new answer, sorry], level: error}\n")
    with pytest.raises(DataError):
        _outcome(root)
    assert h.snapshots(root) == [snapshot]
    assert snapshot.read_bytes() == kept
    staging = root / ".ftctl/cache/datasets/objects"
    assert not list(staging.glob(".staged.*"))


def test_ranges_are_read_in_runs_and_those_past_the_end_are_none(tmp_path: Path) -> None:
    from ftctl.datasets import line_index

    data = bytes(range(256)) * 40_000  # 10 MB: more than one run's span
    path = tmp_path / "data"
    path.write_bytes(data)
    offsets = [0, 10, 10, 5000, 100_000, 4_200_000, 9_000_000, len(data) - 3, len(data) + 5]
    lengths = [10, 5, 5, 1, 300, 70_000, 12, 10, 1]
    fd = os.open(path, os.O_RDONLY)
    try:
        got = line_index.read_runs(fd, offsets, lengths)
    finally:
        os.close(fd)
    expected = [
        data[o : o + n] if o + n <= len(data) else None
        for o, n in zip(offsets, lengths, strict=True)
    ]
    assert got == expected
    assert got[-2] is None and got[-1] is None  # cut short by the end of the file


def _built(root: Path, name: str) -> tuple[list[Any], tuple[int, int]]:
    """Project `name`'s build: its splits' bytes and counts, its findings; the rows reused."""
    from ftctl.config.loader import load_workspace
    from ftctl.datasets.build import build_project
    from ftctl.events import Event

    workspace = load_workspace(root)
    events: list[Event] = []
    built = build_project(workspace.project(name), workspace, events.append)
    outcome = [
        {n: (s.sha256, s.tokens) for n, s in built.splits.items()},
        [d.to_dict() for d in built.diagnostics],
    ]
    return outcome, h.reused([e.message for e in events if e.kind == "info"])


def _add_project(root: Path, name: str, rows: list[Any] | None = None) -> None:
    """Project `name`: a copy of `demo` (its data too, unless `rows` are given)."""
    import shutil

    directory = root / "projects" / name
    shutil.copytree(root / "projects" / "demo", directory)
    yaml = directory / "project.yaml"
    yaml.write_text(
        yaml.read_text(encoding="utf-8").replace("name: demo", f"name: {name}"), encoding="utf-8"
    )
    if rows is not None:
        h.write_jsonl(directory / "data" / "train.jsonl", rows)


def test_a_projects_first_build_takes_the_rows_another_project_built(
    root: Path, tmp_path: Path
) -> None:
    """Two projects of the same data and checks (another base model with the same encoding,
    say): the second's first build works on none of the rows the first built (they are in
    the first's snapshot alone), and gives what it gives with an empty cache. A project of
    other data looks there for its first rows only, and works on all of them."""
    import shutil

    _outcome(root)
    _add_project(root, "twin")
    _add_project(root, "stranger", h.examples(300, 40))
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".ftctl"))
    twin, reused = _built(root, "twin")
    assert reused == (len(_rows()), len(_rows()))
    assert twin == _built(fresh, "twin")[0]
    stranger, reused = _built(root, "stranger")
    assert reused == (0, 40)
    assert stranger == _built(fresh, "stranger")[0]


def test_a_damaged_snapshot_of_another_project_is_not_trusted(root: Path, tmp_path: Path) -> None:
    import shutil

    _outcome(root)
    [snapshot] = h.snapshots(root)
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 3] ^= 0x01  # a value, a bit flipped
    snapshot.write_bytes(bytes(data))
    _add_project(root, "twin")
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".ftctl"))
    twin, reused = _built(root, "twin")
    assert twin == _built(fresh, "twin")[0]
    assert reused[0] < len(_rows())  # built again without it
