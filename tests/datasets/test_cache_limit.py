"""The dataset cache's split objects are kept under `FTCTL_DATA_CACHE_MAX`: those used
longest ago go first, never a project's last build's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftctl.datasets.build import build_project
from ftctl.datasets.cache import DatasetCache
from ftctl.datasets.cache_limit import DEFAULT_BYTES, ENV, limit_from_env, limit_objects
from ftctl.errors import ConfigError
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources:
    - path: data/train.jsonl
"""


def test_the_limit_is_a_size_with_its_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert limit_from_env() == DEFAULT_BYTES == 10 * 2**30
    for given, size in [
        ("500MB", 500 * 10**6),
        ("10GiB", 10 * 2**30),
        ("1.5g", 1_500_000_000),
        ("64 KiB", 64 * 1024),
        ("2048B", 2048),
        ("0", 0),
        ("off", None),
    ]:
        monkeypatch.setenv(ENV, given)
        assert limit_from_env() == size, given
    for bad in ("20", "-1GB", "lots", "5 parsecs", "GB"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(ConfigError, match=f"{ENV} must be a size with its unit.*{bad!r}"):
            limit_from_env()


def _object(root: Path, name: str, size: int, used: float) -> None:
    cache = DatasetCache(root)
    for path, share in zip(cache.object_files(name), (size - 20, 10, 10), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * share)
        os.utime(path, (used, used))


def test_the_objects_used_longest_ago_go_first_but_never_a_last_builds(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for name, used in [("a" * 64, 100), ("b" * 64, 200), ("c" * 64, 300), ("d" * 64, 400)]:
        _object(root, name, 1000, used)
    DatasetCache(root).put_latest("demo", ["a" * 64])  # the oldest, but a last build's
    (root / "objects" / ".staged.x.jsonl").write_bytes(b"y" * 5000)  # a build under way

    removed = limit_objects(root, 2500)
    assert (removed.objects, removed.bytes) == (2, 2000)
    left = sorted({p.name.split(".")[0] for p in (root / "objects").iterdir()})
    assert left == ["", "a" * 64, "d" * 64]  # with every file of theirs, and the staged one
    assert limit_objects(root, 2500).objects == 0
    # However small the limit, each project keeps its last build.
    assert limit_objects(root, 0).objects == 1
    assert sorted({p.name.split(".")[0] for p in (root / "objects").iterdir()}) == ["", "a" * 64]


def test_builds_keep_the_cache_under_the_limit_and_rebuilds_still_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "0")
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 40)}
    )
    objects = tmp_path / ".ftctl/cache/datasets/objects"
    said: list[str] = []
    for edit in range(3):
        h.write_jsonl(
            project_dir / "data/train.jsonl", [*h.examples(0, 39), *h.examples(900 + edit, 1)]
        )
        events: list[Event] = []
        built = build_project(*h.load(tmp_path), events.append)
        said += [e.message for e in events if "split object" in e.message]
        # Only the last build's object is left (with its origins and line index).
        assert sorted(p.name for p in objects.iterdir()) == sorted(
            p.name for p in DatasetCache(objects.parent).object_files(built.splits["train"].sha256)
        )
        assert h.reused([e.message for e in events]) == ((39, 40) if edit else (0, 40))
    # The first build had nothing to remove; each after it removed the one before.
    assert len(said) == 2
    for message in said:
        assert re.fullmatch(
            r"dataset cache: removed 1 split object\(s\) used longest ago \(0\.\d MB\), to keep "
            r"them under 0 MiB \(FTCTL_DATA_CACHE_MAX sets the size\)",
            message,
        ), message


def test_a_bad_limit_fails_the_command_before_anything_is_written(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 40)})
    done = subprocess.run(
        [sys.executable, "-m", "ftctl", "--workspace", str(tmp_path), "data", "build", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, ENV: "20"},
    )
    assert done.returncode == 1
    assert "FTCTL_DATA_CACHE_MAX must be a size with its unit (500MB, 20GB, 10GiB)" in done.stderr
    assert not (tmp_path / ".ftctl" / "cache" / "datasets" / "objects").exists()
