"""The cache's files are hashed once, then known by their stat (`cache_verified`): a build
found unchanged and a rebuild's check of what it copies read no object or snapshot that a
build before verified or wrote; a file written since (in place, its modification time set
back) is hashed, and its damage found, at once after the build that recorded it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets import cache, cache_verified, row_reuse, source_record
from ftctl.datasets.line_index import object_intact
from ftctl.datasets.row_snapshot import SnapshotReader
from ftctl.errors import DataError

from . import build_helpers as h
from .test_example_cache import DATA, POLICY, _cold, _edit_line_ten, _objects, _outcome, _rows


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    h.write_workspace(workspace, h.project_yaml(DATA, POLICY), {"data/train.jsonl": _rows()})
    return workspace


def _hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cache files hashed whole from now on: objects by name, snapshots as "rows"."""
    hashed: list[str] = []

    def object_hashed(path: Path) -> bool:
        hashed.append(path.name)
        return object_intact(path)

    real_intact = SnapshotReader.intact

    def snapshot_hashed(self: SnapshotReader) -> bool:
        hashed.append("rows")
        return real_intact(self)

    monkeypatch.setattr(cache, "object_intact", object_hashed)
    monkeypatch.setattr(row_reuse, "object_intact", object_hashed)
    monkeypatch.setattr(SnapshotReader, "intact", snapshot_hashed)
    return hashed


def _record(root: Path) -> dict[str, Any]:
    [path] = (root / ".ftctl/cache/datasets/builds/latest").glob("*.verified")
    files: dict[str, Any] = json.loads(path.read_text())["files"]
    return files


def _damage_in_place(path: Path) -> None:
    """The same size, the modification time set back: only the change time tells."""
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    with open(path, "r+b") as out:
        out.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_cache_files_are_hashed_once_then_known_by_their_stat(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _outcome(root)
    hashed = _hashed(monkeypatch)
    # Found unchanged: its objects are those the build wrote, recorded with their stat.
    again, messages = _outcome(root)
    assert again == first
    assert [m for m in messages if "data unchanged" in m]
    assert hashed == []
    # A rebuild copies lines from them and takes rows from the snapshot, unread.
    _edit_line_ten(root)
    edited, messages = _outcome(root)
    assert h.reused(messages)[0] > 0
    assert hashed == []
    assert edited == _cold(root, tmp_path)
    # What the record names: the snapshot and the objects the rebuild read and wrote.
    names = {Path(name).name for name in _record(root)}
    assert {p.name for p in _objects(root)} <= names
    assert any(name.endswith(".rows") for name in names)
    assert _outcome(root)[0] == edited
    assert hashed == []


def test_an_object_written_since_its_record_is_hashed_and_its_damage_found(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _outcome(root)
    objects = _objects(root)
    for path in objects:  # at once after the build: within what was its clock's tick
        _damage_in_place(path)
    hashed = _hashed(monkeypatch)
    again, messages = _outcome(root)
    assert not [m for m in messages if "data unchanged" in m]  # built again
    assert again == first
    assert hashed  # the objects were read whole, not taken by their stat
    assert all(object_intact(p) for p in _objects(root))

    # A rebuild whose earlier output was damaged in place copies nothing from it.
    _rebuild_after_damage(root, tmp_path, _objects(root))


def test_a_damaged_snapshot_written_since_its_record_is_found(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    _rebuild_after_damage(root, tmp_path, h.snapshots(root))


def _rebuild_after_damage(root: Path, tmp_path: Path, damaged: list[Path]) -> None:
    """`damaged` damaged in place, a line edited: the rebuild finds the damage and builds
    what a build with no cache builds."""
    for path in damaged:
        _damage_in_place(path)
    _edit_line_ten(root)
    warnings: list[str] = []
    edited, _ = _outcome(root, warnings)
    assert any("did not verify" in w for w in warnings)
    assert edited == _cold(root, tmp_path)


def test_a_record_naming_another_sha256_is_not_taken(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The source was written just before the first build: trusted by its stat at once, so
    # that the builds after it find the data unchanged without a pass. (A build that takes
    # its stat within a tick of the write does not record it; the next build then makes a
    # pass, which reads the snapshot, hashed whole here since its record names another
    # SHA-256: 1 run in 4 on a fast machine.)
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 0)
    _outcome(root)
    [path] = (root / ".ftctl/cache/datasets/builds/latest").glob("*.verified")
    value = json.loads(path.read_text())
    for entry in value["files"].values():
        entry[-1] = "0" * 64  # the stats still hold; the SHA-256s are not the files'
    path.write_text(json.dumps(value))
    hashed = _hashed(monkeypatch)
    _outcome(root)
    assert len(hashed) == len(_objects(root))  # each hashed, then recorded right
    hashed.clear()
    _outcome(root)
    assert hashed == []


def test_files_stamped_within_a_tick_are_not_recorded_where_the_clock_is_unknown(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No stamping clock to wait for (not Linux), and every stamp within a tick of now.
    monkeypatch.setattr(cache_verified, "_STAMPING_CLOCK", None)
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 10**18)
    _outcome(root)
    assert _record(root) == {}
    hashed = _hashed(monkeypatch)
    _outcome(root)
    assert len(hashed) == len(_objects(root))


def test_a_build_that_fails_leaves_the_record_as_it_was(root: Path) -> None:
    _outcome(root)
    [path] = (root / ".ftctl/cache/datasets/builds/latest").glob("*.verified")
    recorded = path.read_bytes()
    train = root / "projects/demo/data/train.jsonl"
    train.write_text(train.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(DataError):
        _outcome(root)
    assert path.read_bytes() == recorded
