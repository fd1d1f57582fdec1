"""Built bytes, their SHA-256, every finding and the report are what the build before the
one-pass engine produced for the same inputs (recorded in data/build_golden.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftctl.datasets import build, stream

from . import golden_builds as g


@pytest.mark.parametrize("name", sorted(g.SCENARIOS))
def test_the_build_output_is_unchanged(tmp_path: Path, name: str) -> None:
    expected = json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
    assert g.build_scenario(tmp_path, name) == expected


@pytest.mark.parametrize("name", ["everything", "order_and_truncate", "dpo"])
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
