"""The example cache: a rebuild reuses what it computed for unchanged rows, and a change of
a line, a transform, the policy or the tokenizer gives exactly what a build with an empty
cache gives."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from ftctl.datasets import minhash_compiled, similarity
from ftctl.datasets.build import build_project
from ftctl.datasets.example_cache import ExampleCache
from ftctl.datasets.row_work import RowPlan
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources: [{path: data/train.jsonl}]
  transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.8}}]
validation:
  split: {fraction: 0.2, seed: 3}
"""
POLICY = "leakage: warn\nsecrets: warn\nemptyAnswers: warn\n"


def _rows() -> list[Any]:
    rows: list[Any] = h.examples(0, 80)
    rows.append(rows[3])  # an exact repeat
    near = json.loads(json.dumps(rows[5]))
    near["messages"][-1]["content"] += " Thanks"
    rows.append(near)  # a near repeat
    rows.append(h.chat("I am sorry?", "I'm sorry, but I can't help with that."))
    return rows


def _outcome(root: Path, warnings: list[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """What a build gives, and its info messages (its warnings go to `warnings`)."""
    events: list[Event] = []
    built = build_project(*h.load(root), events.append)
    if warnings is not None:
        warnings += [e.message for e in events if e.kind == "warning"]
    report = {k: v for k, v in built.report.items() if k != "cache_key"}
    outcome = {
        "splits": {n: (s.sha256, s.tokens, s.trained_tokens) for n, s in built.splits.items()},
        "diagnostics": [d.to_dict() for d in built.diagnostics],
        "report": json.loads(json.dumps(report)),
    }
    return outcome, [e.message for e in events if e.kind == "info"]


def _cold(root: Path, tmp_path: Path) -> dict[str, Any]:
    """The same workspace built with an empty cache."""
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".ftctl"))
    return _outcome(fresh)[0]


def _touch(root: Path, text: str = "# again\n") -> None:
    project = root / "projects" / "demo" / "project.yaml"
    project.write_text(project.read_text(encoding="utf-8") + text, encoding="utf-8")


def _edit_line_ten(root: Path) -> None:
    """Line 11 of the train file becomes another example altogether."""
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[10] = json.dumps(h.chat("A new question entirely?", "And a new answer.")) + "\n"
    train.write_text("".join(lines), encoding="utf-8")


def _train_plan(root: Path) -> RowPlan:
    """The plan of the train split's rows, as the build makes it."""
    from ftctl.datasets import build as build_module

    project, workspace = h.load(root)
    info, _ = build_module._model_info(project, workspace)
    return build_module._split_inputs(project, workspace, info, "chat")[0].plan


@pytest.fixture(params=["forked", "started one by one"])
def process_pool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[Any]:
    """`ProcessPool`, its workers forked from a fork server (Linux) or each started as a
    process of its own (elsewhere)."""
    from ftctl.datasets import row_pool

    if request.param != "forked":
        monkeypatch.setattr(row_pool, "fork_available", lambda: False)
    elif not row_pool.fork_available():
        pytest.skip("workers are not forked on this system")
    return row_pool.ProcessPool


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    h.write_workspace(workspace, h.project_yaml(DATA, POLICY), {"data/train.jsonl": _rows()})
    return workspace


def test_a_rebuild_reuses_every_unchanged_example(root: Path, tmp_path: Path) -> None:
    first, messages = _outcome(root)
    assert h.reused(messages) == (0, len(_rows()))
    _touch(root)  # the whole-build cache misses; every example is the same
    again, messages = _outcome(root)
    assert again == first
    assert h.reused(messages) == (len(_rows()), len(_rows()))


def test_an_edited_line_is_all_that_is_computed_again(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    _edit_line_ten(root)
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, looked_up = h.reused(messages)
    assert looked_up - found == 1  # the edited row; the rest came from the cache


def test_a_changed_transform_gives_a_cold_builds_output(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    project = root / "projects" / "demo" / "project.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.8}}]",
        'transforms: [{systemPrompt: {text: "Be brief.", mode: replace}}, {dedupe: {}}]',
    )
    project.write_text(text, encoding="utf-8")
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, looked_up = h.reused(messages)
    assert found == 0 and looked_up > 0  # every row is worked on differently: nothing reused


def test_rows_through_every_kind_of_transform_are_reused(root: Path, tmp_path: Path) -> None:
    """Each transform's per-row values (changed or not, a digest, band hashes, a token count
    and whether it was cut) are stored with the row's result: a rebuild works on no row."""
    _every_kind_of_transform(root)
    first, messages = _outcome(root)
    assert h.reused(messages) == (0, len(_rows()))
    _touch(root)
    again, messages = _outcome(root)
    assert again == first == _cold(root, tmp_path)
    assert h.reused(messages) == (len(_rows()), len(_rows()))


def test_a_changed_policy_gives_a_cold_builds_findings(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    _touch(root, "    maxRefusalRatio: {value: 0.0, phrases: [new answer, sorry]}\n")
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert any(d["field"] == "policy.maxRefusalRatio" for d in again["diagnostics"])


def test_a_changed_tokenizer_counts_again(root: Path, tmp_path: Path) -> None:
    first, _ = _outcome(root)
    project = root / "projects" / "demo" / "project.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "baseModel: local-tiny", "baseModel: gpt-3.5-turbo-0125"
    )
    project.write_text(text, encoding="utf-8")
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert again["splits"]["train"][1] != first["splits"]["train"][1]  # cl100k, not o200k
    found, looked_up = h.reused(messages)
    assert found == 0 and looked_up > 0  # counts belong to an encoding


def test_a_damaged_cache_is_a_miss_never_a_wrong_result(root: Path, tmp_path: Path) -> None:
    first, _ = _outcome(root)
    h.drop_snapshots(root)  # the example cache alone (the snapshot: test_row_snapshot.py)
    database = root / ".ftctl" / "cache" / "datasets" / "examples.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE rows SET value = substr(value, 2) WHERE unicode(key) % 2 = 0")
        db.execute("UPDATE rows SET value = zeroblob(length(value)) WHERE unicode(key) % 2 = 1")
    _touch(root)
    again, messages = _outcome(root)
    assert again == first
    assert h.reused(messages)[0] == 0


def test_a_cache_of_the_older_layout_is_replaced(root: Path, tmp_path: Path) -> None:
    database = root / ".ftctl" / "cache" / "datasets" / "examples.sqlite"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as db:  # keyed by key, as before: built again, once
        db.execute("CREATE TABLE rows (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        db.execute("INSERT INTO rows VALUES (x'00', x'01')")
    first, messages = _outcome(root)
    assert first == _cold(root, tmp_path)
    assert h.reused(messages)[0] == 0
    _touch(root)
    again, messages = _outcome(root)
    assert again == first and h.reused(messages) == (len(_rows()), len(_rows()))
    with sqlite3.connect(database) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'rows'").fetchone()
    assert "WITHOUT ROWID" not in sql.upper()


class _Planted:
    """What a commit could plant in a workspace's cache: a value that, unpickled, runs code
    (here: creates a file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_cached_value_that_would_run_code_is_not_run(root: Path, tmp_path: Path) -> None:
    """The cache lives in the workspace, where a pull request can commit one: every row's
    stored result replaced by a pickle that would run code (with a valid checksum) is a
    miss, and the rebuild equals a cold build."""
    import pickle

    from ftctl.datasets.example_cache import _checksum

    expected = _cold(root, tmp_path)
    _outcome(root)
    h.drop_snapshots(root)  # the example cache alone (the snapshot: test_row_snapshot.py)
    marker = tmp_path / "ran"
    database = root / ".ftctl" / "cache" / "datasets" / "examples.sqlite"
    planted = pickle.dumps(_Planted(marker))
    with sqlite3.connect(database) as db:
        keys = [key for (key,) in db.execute("SELECT key FROM rows")]
        db.executemany(
            "UPDATE rows SET value = ? WHERE key = ?",
            [(planted + _checksum(key, planted), key) for key in keys],
        )
    assert keys
    _touch(root)
    again, messages = _outcome(root)
    assert not marker.exists()
    assert again == expected
    assert h.reused(messages) == (0, len(_rows()))


def test_a_first_builds_cache_is_written_whole_and_left_for_readers_beside_a_writer(
    root: Path, tmp_path: Path
) -> None:
    """A first build keeps its rows' results in its row snapshot; the example cache gets
    only those of the rows it left out of its output (the exact and the near repeat: the
    next build has no line of theirs to copy). The file is filled under a rollback journal
    (its pages written once) and then turned WAL, so that a build reading it later does
    not wait for one writing it."""
    _outcome(root)
    path = root / ".ftctl/cache/datasets/examples.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = db.execute("SELECT count(*) FROM rows").fetchone()[0]
    assert stored == 2
    assert not Path(f"{path}-journal").exists()


def _every_kind_of_transform(root: Path) -> None:
    project = root / "projects" / "demo" / "project.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.8}}]",
        'transforms: [{mapFields: {}}, {systemPrompt: {text: "Be brief.", mode: replace}}, '
        "{maxTokens: {limit: 40, action: truncate}}, {dedupe: {}}, "
        "{nearDedupe: {threshold: 0.8}}]",
    )
    project.write_text(text, encoding="utf-8")


def _going_back(root: Path, change: Callable[[], None], undo: Callable[[], None]) -> None:
    """A build, one after `change`, one after `undo` (and a comment added: the whole-build
    cache misses): the last works on no row again (the rows the second left out of the
    first's snapshot went to the example cache), and gives the first's output."""
    first, _ = _outcome(root)
    change()
    _outcome(root)
    undo()
    _touch(root)
    again, messages = _outcome(root)
    assert again == first
    assert h.reused(messages) == (len(_rows()), len(_rows()))


def test_an_edit_undone_finds_the_rows_it_replaced(root: Path) -> None:
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    before = train.read_bytes()
    _going_back(root, lambda: _edit_line_ten(root), lambda: train.write_bytes(before))


def test_a_policy_given_up_and_taken_back_finds_every_row(root: Path) -> None:
    project = root / "projects" / "demo" / "project.yaml"
    before = project.read_text(encoding="utf-8")
    _going_back(
        root,
        lambda: _touch(root, "    maxRefusalRatio: {value: 0.5, phrases: [new answer]}\n"),
        lambda: project.write_text(before, encoding="utf-8"),
    )


def test_rows_of_every_kind_of_transform_come_back_from_the_example_cache(root: Path) -> None:
    """Rows through each transform leave the snapshot as records and come back from the
    example cache read with their plan's layout (`row_block.Layout.result`): the same
    results as computed, so the build going back to them equals its cold build."""
    _every_kind_of_transform(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    before = train.read_bytes()
    _going_back(
        root,
        lambda: h.write_jsonl(train, h.examples(500, 20)),
        lambda: train.write_bytes(before),
    )


def test_a_plain_rows_record_is_read_back_as_its_whole_result(root: Path) -> None:
    """`Layout.result` gives back what `Layout.records` made of a plain row's result (no
    line: the example cache does not keep it); a record of another layout, or of a row
    that is not plain, gives None."""
    from ftctl.datasets import build as build_module
    from ftctl.datasets.row_block import Interner, Layout
    from ftctl.datasets.row_work import RowWorker, with_line

    _every_kind_of_transform(root)
    project, workspace = h.load(root)
    info, _ = build_module._model_info(project, workspace)
    inputs = build_module._split_inputs(project, workspace, info, "chat")
    rows: list[bytes | dict[str, Any]] = [*_rows(), b"not json"]
    plans = [i.plan for i in inputs]
    plans.append(dataclasses.replace(plans[0], leakage=False, diversity=False, near=None))
    for plan in plans:
        results = RowWorker(plan).run(rows)
        layout = Layout(plan)
        strings = Interner()
        records = layout.records(results, strings)
        plain = 0
        for result, record in zip(results, records, strict=True):
            got = layout.result(record.tobytes(), strings.strings[record["system"]])
            if layout.is_rare(result):
                assert got is None
                continue
            plain += 1
            assert got == with_line(result, b""), plan
        assert plain > len(rows) // 2
        other = Layout(dataclasses.replace(plan, steps=(*plan.steps, plan.steps[-1])))
        assert other.result(records[0].tobytes(), None) is None


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    cache = ExampleCache(tmp_path / "file-not-dir" / "examples.sqlite")
    (tmp_path / "file-not-dir").write_text("", encoding="utf-8")
    cache.put_many("rows", [(b"k" * 16, b"v")])
    cache.commit()
    assert cache.get_many("rows", [b"k" * 16]) == {}


def test_rows_worked_on_by_worker_processes_are_the_same(
    root: Path, tmp_path: Path, process_pool: type[Any]
) -> None:
    import marshal

    from ftctl.datasets.example_cache import content_keys
    from ftctl.datasets.row_pool import Job
    from ftctl.datasets.row_work import RowWorker, with_line

    plan = _train_plan(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    rows: list[bytes | dict[str, Any]] = list(train.read_bytes().splitlines())
    rows += [b"not json", b"[1, 2]"]
    job = Job(plan, "test", tmp_path / "examples.sqlite")
    warm = cast(list[bytes], rows[::2])  # every other row's result is cached
    store = ExampleCache(job.cache)
    store.put_many(
        "rows",
        [
            (key, marshal.dumps(with_line(result, b"")))
            for key, result in zip(
                content_keys(job.namespace, warm), RowWorker(plan).run(warm), strict=True
            )
        ],
    )
    store.commit()
    store.close()
    # The encoding is loaded before the batches.
    expected = _answered_alike(process_pool(2, [plan.encoding]), job, rows)
    cached = set(rows[::2])  # by content: a repeat of a cached row is a hit too
    assert sum(a.reused for a in expected) == sum(row in cached for row in rows)
    records = _records(plan, expected)
    lines = [line for a in expected for line in a.results.lines]
    assert all(line for line, failed in zip(lines, records["error"], strict=True) if not failed)
    assert records["error"].sum() == 2  # the two rows that are not JSON


def test_without_a_python_to_start_workers_the_build_runs_in_process(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftctl.datasets import build as build_module

    expected = _cold(root, tmp_path)
    monkeypatch.setattr(build_module, "POOL_MIN_BYTES", 0)  # workers even for this data
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    assert _outcome(root)[0] == expected


def test_batches_larger_than_a_pipe_keep_their_order_in_flight(
    root: Path, process_pool: type[Any]
) -> None:
    """Requests and answers of ~1.5 MB each (a pipe holds 1 MB), two in flight per worker:
    nothing waits on anything forever, and the answers come back in the order sent."""
    from ftctl.datasets.row_pool import Job, LocalPool

    plan = _train_plan(root)
    job = Job(plan, "test", None)
    filler = " ".join(f"word{i}" for i in range(400))
    batches = [
        [
            json.dumps(h.chat(f"Question {b}-{i}: {filler}?", f"Answer {i}. {filler}.")).encode()
            for i in range(250)
        ]
        for b in range(7)
    ]
    assert all(sum(map(len, batch)) > 1.4e6 for batch in batches)
    # An encoding to load at start that does not exist only fails where rows are counted.
    local, processes = LocalPool(), process_pool(2, ["no-such-encoding"])
    try:
        for n, batch in enumerate(batches):
            processes.submit(n, job, batch)
            local.submit(n, job, batch)
        answers = [processes.collect() for _ in batches]
        assert answers == [local.collect() for _ in batches]
        assert [tag for tag, _answer in answers] == list(range(len(batches)))
        assert processes.lost is None
    finally:
        local.close()
        processes.close()


def test_a_worker_that_has_answered_gets_the_next_batch_while_another_is_awaited(
    root: Path, process_pool: type[Any]
) -> None:
    """Answers are taken in the order sent. While the build waits for a slow worker's answer
    (one sharing a core with the build), the next batches go to the worker with nothing
    left to do, whose answers are read as it writes them: it does not wait for the build
    to catch up, and the answers still come back in order, as computed in process."""
    from ftctl.datasets.row_pool import Job, LocalPool

    plan = _train_plan(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    rows: list[bytes | dict[str, Any]] = list(train.read_bytes().splitlines())
    job = Job(plan, "test", None)
    batches = [rows[n * 10 : n * 10 + 10] for n in range(6)]
    local, processes = LocalPool(), process_pool(2)
    slow = _pid(processes, 0)
    os.kill(slow, signal.SIGSTOP)
    try:
        processes.submit(0, job, batches[0])  # to worker 0, stopped: not answered
        for n, batch in enumerate(batches[1:], start=1):
            assert not processes.full
            processes.submit(n, job, batch)
            _answered(processes, worker=1, count=n)  # worker 1 answers all the others
        assert [worker for worker, *_ in processes._busy] == [0, 1, 1, 1, 1, 1]
        os.kill(slow, signal.SIGCONT)
        for n, batch in enumerate(batches):
            local.submit(n, job, batch)
        assert [processes.collect() for _ in batches] == [local.collect() for _ in batches]
        assert processes.lost is None
    finally:
        os.kill(slow, signal.SIGCONT)
        local.close()
        processes.close()


def _pid(processes: Any, worker: int) -> int:
    if processes._forked is None:
        return int(processes._processes[worker].pid)
    pid = processes._forked._reports.wait(worker, codes=False, timeout=None)  # once forked
    assert pid is not None
    return int(pid)


def _answered(processes: Any, worker: int, count: int) -> None:
    """Wait until `count` answers of `worker` have been read (at most a minute)."""
    deadline = time.monotonic() + 60
    while processes._inboxes[worker].qsize() < count:
        assert time.monotonic() < deadline, "the worker did not answer"
        time.sleep(0.01)


def test_workers_that_load_the_compiled_minhash_loop_answer_as_numpy_does(
    root: Path, process_pool: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold build's workers load the compiled loop before their first batch (`minhash`);
    their signatures, and so every band, leak and near-duplicate, are numpy's."""
    from ftctl.datasets.row_pool import MINHASH_COMPILE, Job

    plan = _train_plan(root)
    assert plan.leakage  # the rows are signed
    monkeypatch.setattr(minhash_compiled, "_kernel", False)  # this process: numpy only
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    rows: list[bytes | dict[str, Any]] = list(train.read_bytes().splitlines())
    job = Job(plan, "test", None)
    processes = process_pool(2, [plan.encoding], minhash=MINHASH_COMPILE)
    started = [processes._forked.server] if processes._forked is not None else processes._processes
    assert all(MINHASH_COMPILE in process.args for process in started)  # told to load it
    expected = _answered_alike(processes, job, rows)
    assert _records(plan, expected)["prompt_signed"].any()


def _records(plan: Any, answers: list[Any]) -> Any:
    """The records of `answers` (`row_pool.Answer`s of `plan`), one array."""
    from ftctl.datasets.row_block import Layout

    dtype = Layout(plan).dtype
    return np.concatenate([np.frombuffer(a.results.records, dtype=dtype) for a in answers])


def _answered_alike(processes: Any, job: Any, rows: list[bytes | dict[str, Any]]) -> list[Any]:
    """Two batches of `rows` answered by `processes` (a `ProcessPool`) and in this process
    (`LocalPool`): the same answers, returned."""
    from ftctl.datasets.row_pool import LocalPool

    local = LocalPool()
    try:
        for pool in (local, processes):
            pool.submit("a", job, rows[:40])
            pool.submit("b", job, rows[40:])
        expected = [local.collect()[1], local.collect()[1]]
        assert [processes.collect()[1], processes.collect()[1]] == expected
    finally:
        local.close()
        processes.close()
    return expected


def test_only_a_cold_build_has_its_workers_load_the_compiled_loop_first(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading it costs a worker ~0.3 s: worth it when every row is to be signed, not for a
    rebuild's few changed rows (which sign with numpy); compiling it (~2.5 s) only for
    data large enough to pay that back."""
    from ftctl.datasets import build as build_module
    from ftctl.datasets.worker_fork import MINHASH, MINHASH_COMPILE

    told: list[str | None] = []

    class Recording(build_module.ProcessPool):  # type: ignore[name-defined,misc]
        def __init__(self, *args: Any) -> None:
            told.append(args[3])
            super().__init__(*args)

    monkeypatch.setattr(build_module, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(build_module, "MINHASH_MIN_BYTES", 0)
    monkeypatch.setattr(build_module, "ProcessPool", Recording)
    first = _outcome(root)[0]
    _edit_line_ten(root)
    _outcome(root)
    assert told == [MINHASH, None]  # the loop if compiled before: small data
    monkeypatch.setattr(build_module, "MINHASH_COMPILE_BYTES", 0)
    assert _cold(root, root.parent)["splits"] != first["splits"]  # the edited line
    monkeypatch.setattr(build_module, "MINHASH_MIN_BYTES", 1 << 40)
    _cold(root, root.parent)
    assert told == [MINHASH, None, MINHASH_COMPILE, None]


def test_workers_given_no_batch_are_stopped_when_the_pool_closes(
    process_pool: type[Any],
) -> None:
    """A build starts its workers before it hashes the sources; when it finds them unchanged,
    it stops the workers it never used rather than waiting for them to finish starting."""
    processes = process_pool(2, ["o200k_base"])
    processes.close()
    if processes._forked is None:
        assert [process.returncode for process in processes._processes] == [-9, -9]
    else:  # the fork server (killed with its workers: one process group)
        assert processes._forked.server.returncode == -9
        assert all(_gone(pid) for pid in processes._forked._reports.pids.values())


def _gone(pid: int) -> bool:
    """The process has ended (a zombie left for an init that does not reap counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_a_worker_that_stops_costs_time_not_the_build(root: Path, process_pool: type[Any]) -> None:
    from ftctl.datasets.row_pool import Job, LocalPool

    plan = _train_plan(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    rows: list[bytes | dict[str, Any]] = list(train.read_bytes().splitlines())
    job = Job(plan, "test", None)
    batches = [("a", rows[:30]), ("b", rows[30:60]), ("c", rows[60:])]
    local, processes = LocalPool(), process_pool(2)
    try:
        processes.submit("a", job, batches[0][1])
        processes._processes[1].kill()  # as the kernel's OOM killer would
        processes._processes[1].wait()
        for tag, part in batches[1:]:  # "b" goes to the stopped worker
            processes.submit(tag, job, part)
        for tag, part in batches:
            local.submit(tag, job, part)
        expected = [local.collect() for _ in batches]
        assert [processes.collect() for _ in batches] == expected
        assert processes.lost == "killed by signal 9"
    finally:
        local.close()
        processes.close()


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "started one by one"])
def test_a_worker_whose_build_is_gone_ends_without_a_traceback(
    root: Path, capfd: pytest.CaptureFixture[str], forked: bool
) -> None:
    """A build that is killed (a cancelled CI job, the OOM killer) leaves its workers
    answering into a closed pipe; they share the build's stderr, the user's terminal, and
    end quietly there instead of printing a BrokenPipeError each."""
    import subprocess
    import sys

    from ftctl.datasets.row_pool import Job
    from ftctl.datasets.worker_fork import ForkedWorkers, fork_available
    from ftctl.datasets.worker_pipe import send, worker_env

    if forked and not fork_available():
        pytest.skip("workers are not forked on this system")
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    rows = train.read_bytes().splitlines()
    group = ForkedWorkers(1, [], worker_env()) if forked else None
    worker: Any = (
        group.workers[0]
        if group is not None
        else subprocess.Popen(
            [sys.executable, "-m", "ftctl.datasets.row_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=worker_env(),
        )
    )
    try:
        worker.stdout.close()  # the build is gone: nobody reads the answer
        send(worker.stdin, (Job(_train_plan(root), "test", None), rows))
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        if group is not None:
            group.close()
    assert "Traceback" not in capfd.readouterr().err


def _count_lines_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows whose canonical line a build makes again (not copied from its last build)."""
    from ftctl.datasets.row_work import RowWorker

    made: list[int] = []
    original = RowWorker.lines

    def lines(self: RowWorker, rows: Any) -> list[bytes]:
        made.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(RowWorker, "lines", lines)
    return made


def _objects(root: Path) -> list[Path]:
    folder = root / ".ftctl" / "cache" / "datasets" / "objects"
    return sorted(p for p in folder.glob("*.jsonl") if not p.name.endswith(".origins.jsonl"))


def test_a_rebuild_copies_unchanged_lines_from_the_last_build(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _outcome(root)
    assert all(path.with_suffix(".lines").is_file() for path in _objects(root))
    made = _count_lines_made(monkeypatch)
    _edit_line_ten(root)
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, _ = h.reused(messages)
    # Every cached row's line is copied, but the near repeat's: nearDedupe left it out of
    # the last build's output, so it is made again.
    assert found > 70 and sum(made) == 1


def test_a_damaged_earlier_output_is_made_again_not_copied(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _outcome(root)
    h.drop_snapshots(root)  # lines copied by workers (from the snapshot: test_row_snapshot.py)
    objects = _objects(root)
    # The first object's index cut short; the others' bytes changed in place (same size:
    # every offset in their indexes still points into the file, at the wrong text).
    objects[0].with_suffix(".lines").write_bytes(b"FTLX1\n" + b"\xff" * 20)
    for path in objects[1:]:
        path.write_bytes(path.read_bytes().replace(b"e", b"E"))
    made = _count_lines_made(monkeypatch)
    _touch(root)
    again, messages = _outcome(root)
    assert again == first
    found, _ = h.reused(messages)
    assert sum(made) == found  # nothing copied from the damaged objects


def test_a_line_index_finds_lines_by_digest_and_checks_them(tmp_path: Path) -> None:
    from ftctl.datasets.checks import example_digest
    from ftctl.datasets.line_index import (
        LineIndexWriter,
        PreviousLines,
        index_path,
        line_digests,
    )

    lines = [b'{"a":%d}\n' % i for i in range(300)]
    data = tmp_path / "object.jsonl"
    data.write_bytes(b"".join(lines))
    writer = LineIndexWriter()
    writer.add_many([example_digest(line) for line in lines], 0, list(map(len, lines)), [1] * 300)
    writer.write_to(index_path(data))
    previous = PreviousLines([data, tmp_path / "gone.jsonl"])
    wanted = [example_digest(lines[i]) for i in (299, 0, 7)] + [example_digest(b"other\n")]
    assert previous.lines(wanted) == [lines[299], lines[0], lines[7], None]
    assert line_digests(data) is not None and len(line_digests(data)) == 300  # type: ignore[arg-type]
    data.write_bytes(b"".join(lines).replace(b'"a"', b'"b"'))  # the object changed since
    assert previous.lines(wanted) == [None, None, None, None]
    previous.close()
    data.write_bytes(b"".join(lines) + b'{"a":"one more"}\n')  # a line the index lacks
    assert line_digests(data) is None  # not trusted for a plan's added/removed counts


def test_lines_located_by_digest_are_copied_in_runs(tmp_path: Path) -> None:
    """A rebuild locates its unchanged rows' lines first and copies them when it writes
    them: lines one after another in an object as one piece, the others one by one, with
    the rows whose line it holds itself in between; a piece the object no longer holds
    whole is said to be so (the build is then done again), at its length."""
    from ftctl.datasets.checks import example_digest
    from ftctl.datasets.line_index import LineIndexWriter, PreviousLines, index_path

    objects = []
    for name, count in (("first", 300), ("second", 50)):
        lines = [b'{"%s":%d}\n' % (name.encode(), i) for i in range(count)]
        data = tmp_path / f"{name}.jsonl"
        data.write_bytes(b"".join(lines))
        writer = LineIndexWriter()
        writer.add_many(
            [example_digest(line) for line in lines], 0, [len(x) for x in lines], [1] * count
        )
        writer.write_to(index_path(data))
        objects.append((data, lines))
    first, second = objects[0][1], objects[1][1]
    previous = PreviousLines([objects[0][0], objects[1][0]])
    wanted = [first[10], first[11], first[12], second[3], b"own\n", first[13], first[40], second[4]]
    digests = np.array([example_digest(line) for line in wanted], dtype="S16")
    refs = previous.locate(digests)
    assert refs[:, 0].tolist() == [0, 0, 0, 1, -1, 0, 0, 1]
    own = {4: b"own\n"}
    pieces, whole = previous.pieces(refs, own.__getitem__)
    assert whole and b"".join(pieces) == b"".join(wanted)
    assert len(pieces) == 6  # 10-12, second's 3, own, 13, 40, second's 4
    pieces, whole = previous.pieces(refs, own.__getitem__, apart=True)
    assert whole and pieces == wanted  # one a row
    # Read where they are written (`Span.read`), not now: the same pieces.
    cut: list[bool] = []
    spans, whole = previous.pieces(refs, own.__getitem__, later=lambda: cut.append(True))
    assert whole and [type(p) for p in spans].count(bytes) == 1  # own's line alone is bytes
    assert b"".join(p if isinstance(p, bytes) else p.read() for p in spans) == b"".join(wanted)
    assert not cut
    os.truncate(objects[0][0], len(b"".join(first[:12])))  # line 12 on cut off
    pieces, whole = previous.pieces(refs, own.__getitem__)
    assert not whole
    assert [len(p) for p in pieces] == [len(b"".join(first[10:13])), *map(len, wanted[3:])]
    read = [p if isinstance(p, bytes) else p.read() for p in spans]  # read after the cut
    assert cut and [len(p) for p in read] == [len(p) for p in pieces]
    assert read[0] == b"".join(first[10:12]) + bytes(len(first[12]))  # filled with zeros
    previous.close()


def _same(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and (a == b).all())


@pytest.mark.parametrize("num_perm", [16, 128])
@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_a_text_and_its_prompt_signed_in_one_pass_are_signed_right(
    num_perm: int, compiled: bool
) -> None:
    parts = ["", "one", "one two", "one two three", "Ünï cödé 東京 ΣΑΣ", "x\u0307y İİ", "!!"]
    parts += ["  a  b\t\tc  ", "A b C d", "x y z w v u"]
    parts += [h.sentence(seed, words=1 + seed % 9) for seed in range(30)]
    items = [(first, rest) for first in parts for rest in [None, *parts[:11]]]
    if compiled:
        assert minhash_compiled.load(), "numba could not load the compiled MinHash loop"
        signed = minhash_compiled.sign_many(items, num_perm)  # by the loop, once loaded
    else:
        signed = similarity.sign_pairs(items, num_perm)
    for (first, rest), (got_whole, got_first) in zip(items, signed, strict=True):
        whole = first if rest is None else first + "\n" + rest
        assert _same(got_whole, similarity.compute_signature(whole, num_perm)), (first, rest)
        assert _same(got_first, similarity.compute_signature(first, num_perm)), (first, rest)


@pytest.mark.parametrize(
    ("near", "leakage"),
    [((0.8, 128), True), ((0.8, 64), True), (None, True), ((0.9, 128), False)],
    ids=["paired", "near-other-perms", "leakage-only", "near-only"],
)
def test_rows_are_signed_as_each_text_alone_would_be(
    root: Path, near: tuple[float, int] | None, leakage: bool
) -> None:
    """A worker signs a batch's texts and prompts together (a text with its prompt in one
    pass, the band hashes of all rows at once): each row's text bands, prompt digest and
    prompt bands are those of signing its own texts one by one."""
    from ftctl.datasets.row_work import (
        LEAKAGE_NUM_PERM,
        LEAKAGE_THRESHOLD,
        RowWorker,
        band_bytes,
        text_digest,
    )

    plan = dataclasses.replace(_train_plan(root), near=near, leakage=leakage, steps=())
    rows: list[dict[str, Any]] = _rows()[:40]
    rows += [
        h.chat("!!", "??"),  # no words at all
        {"messages": [{"role": "assistant", "content": "An answer alone"}]},  # no prompt
        {"messages": [{"role": "user", "content": "A prompt alone"}]},  # no answer
        h.chat("Ünï cödé 東京", "ΣΑΣ x\u0307y İİ"),
    ]
    results = RowWorker(plan).run(rows)
    for row, result in zip(rows, results, strict=True):
        text = similarity.example_text(row)
        prompt = similarity.prompt_text(row) if leakage else ""
        expected_text = None
        if near is not None:
            signature = similarity.compute_signature(text, near[1])
            expected_text = band_bytes([signature], near[0], near[1])[0]
        expected_prompt = None
        if prompt:
            signature = similarity.compute_signature(prompt, LEAKAGE_NUM_PERM)
            expected_prompt = band_bytes([signature], LEAKAGE_THRESHOLD, LEAKAGE_NUM_PERM)[0]
        assert result.text_bands == expected_text, row
        assert result.prompt == (text_digest(prompt) if prompt else b""), row
        assert result.prompt_bands == expected_prompt, row


def test_a_packed_answer_unpacks_to_the_rows_it_holds(root: Path) -> None:
    """What a worker sends (`pack`) gives, cut at any batch boundary, the block the build
    made of the results themselves: records with the build's system ids, lines, rare rows."""
    from ftctl.datasets.row_block import Interner, Layout, RowBlock, pack
    from ftctl.datasets.row_work import RowWorker

    plan = _train_plan(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    lines = train.read_bytes().splitlines()
    # Other system prompts (and none) in among the rows, rows that are not examples.
    raws: list[bytes | dict[str, Any]] = [*lines[:30], b"not json", *lines[30:]]
    for n, prompt in [(4, "Be terse."), (12, None), (33, "Be terse."), (50, "Be kind.")]:
        row = json.loads(lines[n])
        if prompt is None:
            row["messages"] = row["messages"][1:]
        else:
            row["messages"][0]["content"] = prompt
        raws[n] = row
    results = RowWorker(plan).run(raws)
    layout = Layout(plan)
    packed = pack(layout, results)
    ours, theirs = Interner(), Interner()
    ours("a prompt the build met before")
    theirs("a prompt the build met before")
    for start, stop in [(0, 7), (7, 40), (40, 41), (41, len(results))]:
        made = RowBlock.of(layout, results[start:stop], ours)
        sent = RowBlock.unpacked(layout, packed, start, stop, theirs)
        assert sent.records.tobytes() == made.records.tobytes()
        assert sent.lines == made.lines
        assert sent.rare == made.rare
    assert theirs.strings == ours.strings and len(ours.strings) >= 4
    assert any(not r.line for r in results)  # the row that is not JSON: rare, no line
