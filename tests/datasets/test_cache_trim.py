"""The dataset cache does not grow without end: after a build, at most once a day, what no
build has used for five days is removed, and what is used now is kept."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from ftctl.datasets import build
from ftctl.datasets.build import BuiltProject, build_project
from ftctl.datasets.cache_trim import MARK
from ftctl.datasets.example_cache import today
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources:
    - path: data/train.jsonl
"""
DAY = 24 * 3600


def _build(root: Path) -> tuple[list[str], BuiltProject]:
    events: list[Event] = []
    built = build_project(*h.load(root), events.append)
    return [e.message for e in events], built


def _cache(root: Path) -> Path:
    return root / ".ftctl/cache/datasets"


def _object_files(root: Path, built: BuiltProject) -> list[Path]:
    sha256 = built.splits["train"].sha256
    objects = _cache(root) / "objects"
    return [objects / f"{sha256}{suffix}" for suffix in (".jsonl", ".origins.jsonl", ".lines")]


def _age(paths: list[Path], days: float) -> None:
    when = time.time() - days * DAY
    for path in paths:
        os.utime(path, (when, when))


def _everything(root: Path) -> list[Path]:
    return [p for p in _cache(root).rglob("*") if p.is_file()]


def _two_builds(root: Path) -> tuple[Path, BuiltProject, BuiltProject]:
    """A build of one version of the data, then of another: the first one's files aged
    six days, as if it had not been used since."""
    project_dir = h.write_workspace(
        root, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _, old = _build(root)
    _age(_everything(root), 6)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    _, new = _build(root)
    assert new.splits["train"].sha256 != old.splits["train"].sha256
    return project_dir, old, new


def test_what_was_not_used_for_five_days_is_removed_and_what_is_used_stays(
    tmp_path: Path,
) -> None:
    project_dir, old, new = _two_builds(tmp_path)
    # The second build found the trim due (its mark aged too) and removed the first one.
    assert not any(p.exists() for p in _object_files(tmp_path, old))
    assert all(p.exists() for p in _object_files(tmp_path, new))
    # The build kept is still served from the cache, and its object is intact.
    events, again = _build(tmp_path)
    assert any("data unchanged" in m for m in events)
    assert again == new
    # The data of the first build is built again, to the same bytes.
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 30))
    events, rebuilt = _build(tmp_path)
    assert any(m.startswith("Reading the data") for m in events)
    assert rebuilt.splits["train"].sha256 == old.splits["train"].sha256


def test_the_build_says_what_it_removed(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _build(tmp_path)
    _age(_everything(tmp_path), 6)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    events, _ = _build(tmp_path)
    [said] = [m for m in events if m.startswith("dataset cache: removed")]
    # The first build's two manifests (by the source bytes and by every input) and its
    # object's three files; its last-build record was replaced by the second build's.
    assert said.startswith("dataset cache: removed 5 file(s) unused for 5 days (")


def test_a_cache_trimmed_less_than_a_day_ago_is_left_alone(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _, old = _build(tmp_path)
    _age([p for p in _everything(tmp_path) if p.name != MARK], 6)
    _age([_cache(tmp_path) / MARK], 0.5)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    events, _ = _build(tmp_path)
    assert all(p.exists() for p in _object_files(tmp_path, old))
    assert not any(m.startswith("dataset cache: removed") for m in events)


def test_a_build_served_from_the_cache_keeps_its_files(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)})
    _, first = _build(tmp_path)
    _age(_everything(tmp_path), 6)
    # Unchanged: served from the cache, which makes its files used now; the trim that runs
    # after it (due: its mark is six days old) keeps them.
    events, again = _build(tmp_path)
    assert any("data unchanged" in m for m in events)
    assert all(p.exists() for p in _object_files(tmp_path, first))
    _, third = _build(tmp_path)
    assert third == again == first


def test_an_old_object_a_recent_build_names_is_kept(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _, old = _build(tmp_path)
    # Only the object's files are old; its build manifest was used recently.
    _age(_object_files(tmp_path, old), 6)
    _age([_cache(tmp_path) / MARK], 2)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    _build(tmp_path)
    assert all(p.exists() for p in _object_files(tmp_path, old))


def test_files_left_by_a_killed_build_are_removed_a_day_later(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _build(tmp_path)
    objects = _cache(tmp_path) / "objects"
    left = objects / ".staged.abc123.jsonl.tmp"
    running = objects / ".staged.def456.jsonl.tmp"  # a build writing it now
    left.write_bytes(b"{}\n" * 100)
    running.write_bytes(b"{}\n")
    _age([left], 2)
    _age([_cache(tmp_path) / MARK], 2)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    _build(tmp_path)
    assert not left.exists()
    assert running.exists()


def _rows_used(root: Path) -> list[int]:
    """Each row result in the example cache: its day of last use, relative to today."""
    path = _cache(root) / "examples.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'rows'").fetchall():
            return []
        return sorted(day - today() for (day,) in db.execute("SELECT used FROM rows"))


def _date_rows(root: Path, days_ago: int) -> None:
    with sqlite3.connect(_cache(root) / "examples.sqlite") as db:
        db.execute("UPDATE rows SET used = ?", (today() - days_ago,))


@pytest.mark.parametrize("workers", [False, True])
def test_row_results_not_used_for_five_days_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    if workers:  # found by worker processes, marked used by the build
        monkeypatch.setattr(build, "POOL_MIN_BYTES", 0)
    rows = h.examples(0, 30)
    project_dir = h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": rows})
    _build(tmp_path)
    assert _rows_used(tmp_path) == []  # the build's row snapshot holds them all
    # The next day line 11 is edited: the other 29 results are found again; the old line's
    # leaves the snapshot for the example cache, dated the day the snapshot was last used.
    h.date_snapshots(tmp_path, 1)
    _age(_everything(tmp_path), 1)
    edited = [*rows[:10], h.example(999), *rows[11:]]
    h.write_jsonl(project_dir / "data/train.jsonl", edited)
    events, _ = _build(tmp_path)
    assert h.reused(events) == (29, 30)
    assert _rows_used(tmp_path) == [-1]
    # Six days later line 11 is edited again: the result of the line before, unused for
    # six days, is removed; that of the line before that, unused for seven, too.
    _date_rows(tmp_path, 7)
    h.date_snapshots(tmp_path, 6)
    _age(_everything(tmp_path), 6)
    h.write_jsonl(project_dir / "data/train.jsonl", [*rows[:10], h.example(998), *rows[11:]])
    events, _ = _build(tmp_path)
    assert h.reused(events) == (29, 30)
    assert _rows_used(tmp_path) == []
    [said] = [m for m in events if m.startswith("dataset cache: removed")]
    assert " and 2 row result(s) unused for 5 days" in said
    # The first line comes back: its result is worked out again, the rest found.
    h.write_jsonl(project_dir / "data/train.jsonl", rows)
    events, _ = _build(tmp_path)
    assert h.reused(events) == (29, 30)


def test_a_cache_from_before_rows_were_dated_is_kept_and_dated(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _build(tmp_path)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(100, 30))
    _build(tmp_path)  # the first 30 rows leave the snapshot for the example cache
    with sqlite3.connect(_cache(tmp_path) / "examples.sqlite") as db:  # the older table
        db.execute("CREATE TABLE old AS SELECT key, value FROM rows ORDER BY rowid")
        db.execute("DROP TABLE rows")
        db.execute("ALTER TABLE old RENAME TO rows")
        db.execute("CREATE UNIQUE INDEX rows_key ON rows (key)")
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 31))
    events, _ = _build(tmp_path)
    assert h.reused(events) == (30, 31)  # read as before
    # and dated today from then on, with the 30 rows that left the snapshot this time
    assert _rows_used(tmp_path) == [0] * 60


def test_row_snapshots_and_records_not_used_for_five_days_are_removed(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _build(tmp_path)
    [current] = h.snapshots(tmp_path)
    # A project no longer built: its snapshot and its records of its source files and of
    # the cache files it verified.
    records = [current.with_suffix(suffix) for suffix in (".rows", ".files", ".verified")]
    gone = [record.with_name("0" * 32 + record.suffix) for record in records]
    for record, copy in zip(records, gone, strict=True):
        copy.write_bytes(record.read_bytes())
    _age([*gone, _cache(tmp_path) / MARK], 6)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    _build(tmp_path)
    assert h.snapshots(tmp_path) == [current]
    assert not any(copy.exists() for copy in gone)
    assert all(record.exists() for record in records)


def test_copies_of_source_files_not_used_for_five_days_are_removed(tmp_path: Path) -> None:
    """A rebuild takes unchanged lines' keys from the copy of a source file its project's
    last build kept (`line_carry`); a copy whose keys no build used for five days goes
    (the file renamed, the project gone), and so does one left without its keys."""
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    _build(tmp_path)
    carried = _cache(tmp_path) / "lines"
    current = sorted(carried.iterdir())
    assert [p.suffix for p in current] == [".copy", ".keys"]
    gone = [path.with_name("0" * 32 + path.suffix) for path in current]
    alone = current[0].with_name("1" * 32 + ".copy")
    for path, copy in zip(current, gone, strict=True):
        copy.write_bytes(path.read_bytes())
    alone.write_bytes(current[0].read_bytes())
    # The copy in use is as old as the others: its keys were used by the build below.
    _age([*current, *gone, alone, _cache(tmp_path) / MARK], 6)
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 29))
    _build(tmp_path)
    assert sorted(carried.iterdir()) == current
