"""Built bytes, their SHA-256, every finding and the report are what the build before the
one-pass engine produced for the same inputs (recorded in data/build_golden.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftctl.datasets import build, stream

from . import golden_builds as g


@pytest.mark.parametrize("name", sorted(g.SCENARIOS))
def test_the_build_output_is_unchanged(tmp_path: Path, name: str) -> None:
    expected = json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
    assert g.build_scenario(tmp_path, name) == expected


@pytest.mark.parametrize("name", sorted(g.SCENARIOS))
def test_a_rebuild_from_the_example_cache_gives_the_same_output(tmp_path: Path, name: str) -> None:
    expected = json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
    g.build_scenario(tmp_path, name)
    # project.yaml touched (a comment): the whole-build cache misses, the example cache hits.
    project = tmp_path / "projects" / "demo" / "project.yaml"
    project.write_text(project.read_text(encoding="utf-8") + "# touched\n", encoding="utf-8")
    assert g.build_scenario_again(tmp_path) == expected


@pytest.mark.parametrize("group_rows", [7, 2048], ids=["decided-per-batch", "batches-grouped"])
@pytest.mark.parametrize("name", ["everything", "order_and_truncate", "fails"])
def test_rows_worked_on_by_worker_processes_give_the_same_output(
    tmp_path: Path, name: str, group_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large data goes to worker processes; these small workspaces are sent there too.
    monkeypatch.setattr(build, "POOL_MIN_BYTES", 0)
    monkeypatch.setenv("FTCTL_DATA_WORKERS", "2")
    monkeypatch.setattr(stream, "BATCH_ROWS", 7)  # many batches in flight, out of step
    # Ready batches decided one at a time, or several together (nearDedupe over more rows).
    monkeypatch.setattr(stream, "GROUP_ROWS", group_rows)
    expected = json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
    assert g.build_scenario(tmp_path, name) == expected


@pytest.mark.parametrize(
    "name", ["everything", "order_and_truncate", "defaults_drop", "map_fields_ok", "dpo"]
)
def test_a_rebuild_after_editing_lines_equals_a_cold_build(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of the last build's snapshot (records, and the whole results of rows with
    findings of their own) and rows worked on again share batches, and come out as a
    build from nothing would have them."""
    monkeypatch.setattr(stream, "BATCH_ROWS", 7)  # batches of found and changed rows
    monkeypatch.setattr(stream, "GROUP_ROWS", 20)
    root = tmp_path / "ws"
    g.build_scenario(root, name)
    data = next(p for p in sorted((root / "projects/demo/data").rglob("*.jsonl")))
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    for at in (1, 9, len(lines) // 2):  # one line in three batches becomes another example
        lines[at] = lines[at].replace("e", "E", 3)
    data.write_text("".join(lines), encoding="utf-8")
    again = g.build_scenario_again(root)
    cold = tmp_path / "cold"
    shutil.copytree(root, cold, ignore=shutil.ignore_patterns(".ftctl"))
    assert again == g.build_scenario_again(cold)
    assert again != json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
