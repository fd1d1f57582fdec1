"""A source file is hashed before the pass only when that can find the data unchanged: not
when its stat is the one recorded with its SHA-256 (`source_record`), nor when it was
written since (the pass hashes it); a file written within a tick of its clock is hashed as
before."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ftctl.datasets import source_known, source_record
from ftctl.datasets.build import BuiltProject, build_project
from ftctl.datasets.cache import DatasetCache
from ftctl.datasets.source_record import FileStat, SourceRecord
from ftctl.errors import DataError
from ftctl.events import Event

from . import build_helpers as h
from .test_cache_hits import WHOLE


def _build(root: Path) -> tuple[list[str], BuiltProject]:
    events: list[Event] = []
    built = build_project(*h.load(root), events.append)
    return [e.message for e in events], built


def _shas(built: BuiltProject) -> dict[str, str]:
    return {name: split.sha256 for name, split in built.splits.items()}


def _hashes_counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files hashed before a pass, from now on."""
    hashed: list[Path] = []
    real = source_known.file_sha256

    def counted(path: Path) -> str | None:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(source_known, "file_sha256", counted)
    return hashed


def _cold(root: Path, elsewhere: Path) -> BuiltProject:
    """The same workspace built with no cache at all."""
    shutil.copytree(root, elsewhere, ignore=shutil.ignore_patterns(".ftctl"))
    return build_project(*h.load(elsewhere))


def test_files_are_hashed_before_the_pass_only_to_find_the_data_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 0)  # every write is settled at once
    root = tmp_path / "ws"
    project_dir = h.write_workspace(
        root, h.project_yaml(WHOLE), {"data/train.jsonl": h.examples(0, 40)}
    )
    hashed = _hashes_counted(monkeypatch)

    # Never recorded: nothing to find unchanged, the pass hashes the file as it reads it.
    events, first = _build(root)
    assert any(m.startswith("Reading the data") for m in events)
    # Not written since: found unchanged from the SHA-256 recorded.
    events, again = _build(root)
    assert [m for m in events if "data unchanged" in m]
    assert _shas(again) == _shas(first)
    # Written since: built again, as a build with no cache builds it.
    h.write_jsonl(project_dir / "data/train.jsonl", [*h.examples(0, 39), *h.examples(500, 3)])
    events, edited = _build(root)
    assert not any("unchanged" in m for m in events)
    assert _shas(edited) != _shas(first)
    assert hashed == []
    assert _shas(edited) == _shas(_cold(root, tmp_path / "cold"))
    events, _ = _build(root)
    assert [m for m in events if "data unchanged" in m]
    assert hashed == []


def test_a_file_written_within_a_tick_of_its_clock_is_hashed_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write in the same tick as the last could leave the same stat: not trusted.
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 10**18)
    h.write_workspace(tmp_path, h.project_yaml(WHOLE), {"data/train.jsonl": h.examples(0, 40)})
    hashed = _hashes_counted(monkeypatch)
    _build(tmp_path)
    assert len(hashed) == 1
    events, _ = _build(tmp_path)
    assert [m for m in events if "data unchanged" in m]
    assert len(hashed) == 2


def test_a_wrong_record_costs_a_pass_never_wrong_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 0)
    h.write_workspace(tmp_path, h.project_yaml(WHOLE), {"data/train.jsonl": h.examples(0, 40)})
    _, first = _build(tmp_path)
    record = DatasetCache(tmp_path / ".ftctl/cache/datasets").files_path("demo")
    value = json.loads(record.read_text())
    [entry] = value["files"].values()
    entry[-1] = "0" * 64  # the stat still holds, the SHA-256 is not the file's
    record.write_text(json.dumps(value))

    events, again = _build(tmp_path)
    assert any(m.startswith("Reading the data") for m in events)  # the key led nowhere
    assert _shas(again) == _shas(first)
    hashed = _hashes_counted(monkeypatch)
    events, _ = _build(tmp_path)  # recorded right by the pass
    assert [m for m in events if "data unchanged" in m]
    assert hashed == []


def test_a_record_is_left_by_a_build_that_passed_only(tmp_path: Path) -> None:
    h.write_workspace(
        tmp_path,
        h.project_yaml(WHOLE),
        {"data/train.jsonl": [*h.examples(0, 40), "{not json"]},
    )
    with pytest.raises(DataError):
        _build(tmp_path)
    assert not DatasetCache(tmp_path / ".ftctl/cache/datasets").files_path("demo").exists()


def test_a_stat_is_trusted_a_tick_after_the_last_write(tmp_path: Path) -> None:
    fine = FileStat(
        10,
        mtime_ns=1_700_000_000_123_456_789,
        ctime_ns=1_700_000_000_123_456_789,
        inode=1,
        device=1,
    )
    assert not fine.settled(fine.ctime_ns + 10_000_000)  # within Linux's coarse clock's tick
    assert fine.settled(fine.ctime_ns + 60_000_000)
    seconds = FileStat(
        10,
        mtime_ns=1_700_000_000_000_000_000,
        ctime_ns=1_700_000_000_000_000_000,
        inode=1,
        device=1,
    )
    assert not seconds.settled(seconds.mtime_ns + 2_500_000_000)  # FAT keeps 2 s
    assert seconds.settled(seconds.mtime_ns + 3_500_000_000)
    later_change = FileStat(10, mtime_ns=1, ctime_ns=fine.ctime_ns, inode=1, device=1)
    assert not later_change.settled(fine.ctime_ns + 1_000)  # `touch -d` set the mtime back


def test_a_recorded_stat_holds_until_the_file_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_bytes(b'{"a": 1}\n')
    stat = FileStat.of(data)
    assert stat is not None
    record = SourceRecord(tmp_path / "record.files")
    taken = stat.ctime_ns + 10**9
    record.save({data: (stat, taken, "a" * 64)})
    assert SourceRecord(record.path).sha256(data, stat) == "a" * 64
    # The same size, and the modification time set back as it was: the change time moved.
    os.utime(data, ns=(stat.mtime_ns, stat.mtime_ns))
    data.write_bytes(b'{"a": 2}\n')
    os.utime(data, ns=(stat.mtime_ns, stat.mtime_ns))
    rewritten = FileStat.of(data)
    assert rewritten is not None and rewritten.size == stat.size
    assert SourceRecord(record.path).sha256(data, rewritten) is None
    # Recorded while the file was still within a tick of its last write: never trusted.
    record.save({data: (rewritten, rewritten.ctime_ns + 1, "b" * 64)})
    assert SourceRecord(record.path).sha256(data, rewritten) is None


@pytest.mark.parametrize("text", ["", "not json", '{"format": 1, "files": {"x": [1, 2]}}', "[]"])
def test_a_record_that_cannot_be_read_is_no_record(tmp_path: Path, text: str) -> None:
    path = tmp_path / "record.files"
    path.write_text(text)
    stat = FileStat(1, 2, 3, 4, 5)
    assert SourceRecord(path).sha256(Path("x"), stat) is None
