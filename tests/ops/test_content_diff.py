"""The added/removed example counts a plan shows for changed data: from the split objects'
line indexes, and the same by hashing every line when an object has none."""

from __future__ import annotations

import json
from pathlib import Path

from ftctl.datasets.build import build_project
from ftctl.datasets.line_index import index_path
from ftctl.ops.prepare import lines_added_removed

from ..datasets import build_helpers as h

DATA = """
train:
  sources: [{path: data/train.jsonl}]
  transforms: [{dedupe: {}}]
"""


def _train_object(root: Path, rows: list[object]) -> Path:
    h.write_jsonl(root / "projects" / "demo" / "data" / "train.jsonl", rows)  # type: ignore[arg-type]
    built = build_project(*h.load(root))
    path = built.splits["train"].path
    assert path is not None
    return path


def test_counts_from_the_line_indexes_equal_counts_from_the_lines(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    rows = h.examples(0, 40)
    h.write_workspace(root, h.project_yaml(DATA), {"data/train.jsonl": rows})
    before = _train_object(root, rows)
    changed = json.loads(json.dumps(rows[4]))
    changed["messages"][-1]["content"] += " Edited."
    # Two removed (one of them edited, so also one added), two new, a repeat of a kept row.
    after_rows = [*rows[:4], changed, *rows[6:], *h.examples(100, 2), rows[7]]
    after = _train_object(root, after_rows)
    assert index_path(before).is_file() and index_path(after).is_file()
    from_indexes = lines_added_removed(before, after)
    assert from_indexes == (3, 2)
    index_path(before).unlink()  # an object built before line indexes
    assert lines_added_removed(before, after) == from_indexes
    assert lines_added_removed(after, before) == (2, 3)
