"""Canonical JSONL bytes: the same inputs give the same bytes; the cache serves rebuilds."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ftctl.datasets.build import build_project
from ftctl.datasets.canonical import canonical_line
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources:
    - path: data/train.jsonl
validation:
  split: {fraction: 0.2, seed: 1}
"""


def test_a_canonical_line_sorts_keys_keeps_utf8_and_is_compact() -> None:
    example = {"messages": [{"role": "user", "content": "Café 東京 \u2603"}], "a": 1.5}
    expected = '{"a":1.5,"messages":[{"content":"Café 東京 ☃","role":"user"}]}\n'
    assert canonical_line(example) == expected.encode("utf-8")


def test_a_canonical_line_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_line({"x": float("nan")})


def test_the_same_data_written_differently_gives_the_same_bytes(tmp_path: Path) -> None:
    rows = h.examples(0, 30)
    first = tmp_path / "one"
    h.write_workspace(first, h.project_yaml(DATA), {"data/train.jsonl": rows})
    second = tmp_path / "two"
    project_dir = h.write_workspace(second, h.project_yaml(DATA))
    # Other key order, indentation-free but spaced JSON, \\u escapes, CRLF line endings.
    lines = [json.dumps(dict(reversed(list(r.items()))), ensure_ascii=True) for r in rows]
    (project_dir / "data").mkdir()
    (project_dir / "data/train.jsonl").write_bytes(("\r\n".join(lines) + "\r\n").encode())

    built = [build_project(*h.load(root)) for root in (first, second)]
    for split in ("train", "validation"):
        one, two = (b.splits[split] for b in built)
        assert one.path.read_bytes() == two.path.read_bytes()
        assert one.sha256 == two.sha256 == hashlib.sha256(one.path.read_bytes()).hexdigest()
    text = built[0].splits["train"].path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    assert text.splitlines()[0] == h.canonical(json.loads(text.splitlines()[0]))


def test_origins_are_kept_next_to_the_canonical_file(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)})
    built = build_project(*h.load(tmp_path))
    for split in built.splits.values():
        origins = split.path.with_suffix(".origins.jsonl").read_text().splitlines()
        rows = split.path.read_text(encoding="utf-8").splitlines()
        assert len(origins) == len(rows) == split.examples
        for origin, row in zip(origins, rows, strict=True):
            file, line = json.loads(origin)
            source = (tmp_path / file).read_text(encoding="utf-8").splitlines()[line - 1]
            assert h.canonical(json.loads(source)) == row


def test_an_unchanged_rebuild_comes_from_the_cache(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)}
    )
    first = build_project(*h.load(tmp_path))
    events: list[Event] = []
    again = build_project(*h.load(tmp_path), events.append)
    assert again.splits == first.splits and again.report == first.report
    assert again.diagnostics == first.diagnostics and again.cost == first.cost
    assert any("unchanged" in e.message for e in events)
    assert (tmp_path / ".ftctl/cache/datasets/builds").is_dir()

    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 31))
    events.clear()
    changed = build_project(*h.load(tmp_path), events.append)
    assert not any("unchanged" in e.message for e in events)
    assert changed.splits["train"].sha256 != first.splits["train"].sha256


def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 30)})
    first = build_project(*h.load(tmp_path))
    good = first.splits["train"].path.read_bytes()
    first.splits["train"].path.write_bytes(good.replace(b"a", b"b", 1))
    again = build_project(*h.load(tmp_path))
    assert again.splits["train"].path.read_bytes() == good

    shutil.rmtree(tmp_path / ".ftctl")
    assert build_project(*h.load(tmp_path)).splits["train"].path.read_bytes() == good
