"""Canonical JSONL bytes: the same inputs give the same bytes; the cache serves rebuilds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from ftctl.datasets import canonical
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


def _reference_line(value: Any) -> bytes:
    """What a canonical line was before orjson wrote them: json.dumps's bytes."""
    text = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return (text + "\n").encode("utf-8")


_CHARACTERS = [
    *map(chr, range(0x20)),  # control characters: escaped, short (\n) or \u00XX
    *'"\\/ azAZ09_-.,:',
    "\x7f",
    "\x85",
    "\xa0",
    "é",
    "É",
    "ß",
    "東",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\U0001f600",
]
_NUMBERS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1]
_FLOATS = [0.0, -0.0, 0.1, 1.5, 100.0, 1e-05, 1e-07, 1e16, 1e22, 5e-324, 1.7976931348623157e308]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return "".join(rng.choice(_CHARACTERS) for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.choice(_NUMBERS)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice(_FLOATS) if rng.random() < 0.3 else rng.randrange(-1000, 1000)
    if kind in (4, 5):
        return "".join(rng.choice(_CHARACTERS) for _ in range(3))
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        "".join(rng.choice(_CHARACTERS) for _ in range(rng.randrange(4))): _random_value(
            rng, depth + 1
        )
        for _ in range(rng.randrange(5))
    }


def test_a_canonical_line_has_json_dumps_bytes_for_any_json_value() -> None:
    """Lines are written by orjson where its bytes are json.dumps's, and by json.dumps
    elsewhere (floats, integers past 64 bits): built bytes and cache keys stay as they were."""
    rng = random.Random(14)
    by_orjson = 0
    for _ in range(4000):
        value = {"messages": [_random_value(rng) for _ in range(3)], "n": _random_value(rng)}
        assert canonical_line(value) == _reference_line(value), value
        with contextlib.suppress(orjson.JSONEncodeError):
            by_orjson += not canonical._holds_float(value) and bool(orjson.dumps(value))
    assert by_orjson > 1000  # the fast path was taken, and agreed


def test_a_lone_surrogate_or_deep_nesting_fails_or_passes_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_line({"content": "\ud800"})
    deep: Any = "end"
    for _ in range(300):  # past orjson's 254 levels: json.dumps writes it
        deep = [deep]
    assert canonical_line({"x": deep}) == _reference_line({"x": deep})


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
