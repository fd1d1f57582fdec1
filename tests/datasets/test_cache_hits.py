"""Cache hits: an unchanged build is found from the source bytes, without reading rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets import build, source_record
from ftctl.datasets.build import BuiltProject, build_project
from ftctl.errors import DataError
from ftctl.events import Event

from . import build_helpers as h

LIMITED = """
train:
  sources:
    - path: data/train.jsonl
      limit: 20
"""


def _build(root: Path) -> tuple[list[str], BuiltProject]:
    events: list[Event] = []
    built = build_project(*h.load(root), events.append)
    return [e.message for e in events], built


def test_an_unchanged_build_is_served_without_reading_rows(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(LIMITED), {"data/train.jsonl": h.examples(0, 30)})
    first_events, first = _build(tmp_path)
    assert any(m.startswith("Reading the data") for m in first_events)

    again_events, again = _build(tmp_path)
    assert again == first
    assert [m for m in again_events if "unchanged" in m]
    assert not any(m.startswith("Reading the data") for m in again_events)


def test_a_change_past_the_limit_reads_again_and_keeps_the_rows(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(LIMITED), {"data/train.jsonl": h.examples(0, 30)}
    )
    _, first = _build(tmp_path)
    # Rows after the first 20 change: the bytes differ, so the rows are read again; the
    # rows used are the same, and so is the data.
    h.write_jsonl(project_dir / "data/train.jsonl", [*h.examples(0, 20), *h.examples(100, 10)])
    events, again = _build(tmp_path)
    assert any(m.startswith("Reading the data") for m in events)
    assert again.splits["train"].sha256 == first.splits["train"].sha256
    # ...and from then on it is found from the bytes again.
    events, _ = _build(tmp_path)
    assert not any(m.startswith("Reading the data") for m in events)


def test_a_changed_row_is_rebuilt(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(LIMITED), {"data/train.jsonl": h.examples(0, 30)}
    )
    _, first = _build(tmp_path)
    h.write_jsonl(project_dir / "data/train.jsonl", [*h.examples(1, 20), *h.examples(20, 10)])
    events, changed = _build(tmp_path)
    assert not any("unchanged" in m for m in events)
    assert changed.splits["train"].sha256 != first.splits["train"].sha256


WHOLE = """
train:
  sources:
    - path: data/train.jsonl
validation:
  split: {fraction: 0.3, seed: 1}
"""


def test_a_cached_build_lists_its_splits_in_the_same_order(tmp_path: Path) -> None:
    data = WHOLE + "test:\n  sources:\n    - path: data/test.jsonl\n"
    files = {"data/train.jsonl": h.examples(0, 30), "data/test.jsonl": h.examples(500, 5)}
    h.write_workspace(tmp_path, h.project_yaml(data), files)
    _, first = _build(tmp_path)
    events, again = _build(tmp_path)
    assert [m for m in events if "unchanged" in m]
    assert list(again.splits) == list(first.splits) == ["train", "validation", "test"]


@pytest.mark.parametrize("settled", [False, True], ids=["hashed before", "told by its stat"])
def test_a_file_edited_while_the_build_reads_it_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    # Hashed before the pass (written a moment ago), the edit is told by the hashes; settled
    # and never recorded, the file is not hashed before, and the edit is told by its stat.
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 0 if settled else 10**18)
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(WHOLE), {"data/train.jsonl": h.examples(0, 30)}
    )
    known_before = build._sources_known
    seen: list[bool] = []

    def know_then_edit(*args: Any) -> Any:
        known = known_before(*args)
        seen.append(known.digests is None)
        # Meanwhile, with a size of its own: with no tick to wait (above), the edit may get
        # the times of the write before it.
        h.write_jsonl(project_dir / "data/train.jsonl", h.examples(100, 31))
        return known

    monkeypatch.setattr(build, "_sources_known", know_then_edit)
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    assert seen == [settled]
    [finding] = caught.value.diagnostics
    assert (finding.file, finding.message) == (
        h.TRAIN_FILE,
        "changed while the build read it; build again",
    )
    assert not (tmp_path / ".ftctl/cache/datasets/builds").exists()


GLOB = """
train:
  sources:
    - path: data/*.jsonl
"""


def test_a_file_a_glob_matches_once_the_build_has_started_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_record, "_FINE_TICK_NS", 0)  # told by the stats
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(GLOB), {"data/a.jsonl": h.examples(0, 30)}
    )
    known_before = build._sources_known

    def know_then_add(*args: Any) -> Any:
        known = known_before(*args)
        h.write_jsonl(project_dir / "data/b.jsonl", h.examples(100, 5))
        return known

    monkeypatch.setattr(build, "_sources_known", know_then_add)
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    [finding] = caught.value.diagnostics
    assert finding.file is not None and finding.file.endswith("data/b.jsonl")
    assert finding.message == "changed while the build read it; build again"
