"""Validation by a stable hash split; leakage between train, validation and test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets.build import BuiltProject, build_project
from ftctl.errors import DataError

from . import build_helpers as h

DERIVED = """
train:
  sources:
    - path: data/train.jsonl
validation:
  split: {fraction: 0.25, seed: 7}
"""


def _build(root: Path, data: str, files: dict[str, list[Any]], policy: str = "") -> BuiltProject:
    h.write_workspace(root, h.project_yaml(data, policy=policy), files)
    project, workspace = h.load(root)
    return build_project(project, workspace)


def test_adding_rows_never_moves_existing_rows_to_the_other_split(tmp_path: Path) -> None:
    first = _build(tmp_path / "a", DERIVED, {"data/train.jsonl": h.examples(0, 80)})
    train, validation = h.built_rows(first, "train"), h.built_rows(first, "validation")
    assert 8 <= len(validation) <= 32 and len(train) + len(validation) == 80

    grown = h.examples(0, 80) + h.examples(1000, 40)
    grown = grown[40:] + grown[:40]  # new rows and a new order
    second = _build(tmp_path / "b", DERIVED, {"data/train.jsonl": grown})
    train2, validation2 = h.built_rows(second, "train"), h.built_rows(second, "validation")
    assert all(row in train2 for row in train)
    assert all(row in validation2 for row in validation)
    assert len(train2) + len(validation2) == 120


def test_the_seed_decides_the_split_and_is_recorded(tmp_path: Path) -> None:
    built = _build(tmp_path / "a", DERIVED, {"data/train.jsonl": h.examples(0, 80)})
    other = _build(
        tmp_path / "b",
        DERIVED.replace("seed: 7", "seed: 8"),
        {"data/train.jsonl": h.examples(0, 80)},
    )
    assert h.built_rows(built, "validation") != h.built_rows(other, "validation")
    assert built.report["splits"]["validation"]["derived_from"] == {
        "split": "train",
        "fraction": 0.25,
        "seed": 7,
    }


def test_the_split_depends_on_a_rows_content_and_the_seed_only(tmp_path: Path) -> None:
    rows = h.examples(0, 200)
    first = _build(tmp_path / "a", DERIVED.replace("0.25", "0.1"), {"data/train.jsonl": rows})
    validation = h.built_rows(first, "validation")
    assert 5 <= len(validation) <= 40
    again = _build(tmp_path / "b", DERIVED.replace("0.25", "0.1"), {"data/train.jsonl": rows[::-1]})
    assert sorted(map(h.canonical, h.built_rows(again, "validation"))) == sorted(
        map(h.canonical, validation)
    )
    lines = [int(o.rsplit(":", 1)[1]) for o in h.built_origins(first, "train")]
    assert lines == sorted(lines)  # each side keeps the order of the source


def test_leakage_exact_and_near_between_explicit_splits(tmp_path: Path) -> None:
    train = h.examples(0, 20)
    test = h.examples(500, 8)
    # Same question as train line 3, another answer: the eval would be contaminated.
    test.insert(2, h.chat(train[2]["messages"][1]["content"], "A different reference answer."))
    # A long question of train (line 6), and the same with one word more in test.
    long_question = " ".join(h.sentence(700 + i) for i in range(3)) + "?"
    train[5] = h.chat(long_question, "The answer to the long question.")
    near_prompt = long_question.replace("?", " please?")
    test.insert(5, h.chat(near_prompt, "Another answer for the reference."))
    data = DERIVED.replace("validation:\n  split: {fraction: 0.25, seed: 7}\n", "") + (
        "test:\n  sources:\n    - path: data/test.jsonl\n"
    )
    with pytest.raises(DataError) as caught:
        _build(tmp_path, data, {"data/train.jsonl": train, "data/test.jsonl": test})
    leaks = [d for d in caught.value.diagnostics if d.field == "policy.leakage"]
    test_file = "projects/demo/data/test.jsonl"
    assert [(d.file, d.line, d.severity) for d in leaks] == [
        (test_file, 3, "error"),
        (test_file, 6, "error"),
    ]
    assert leaks[0].message == f"test example has the same prompt in train ({h.TRAIN_FILE}:3)"
    assert "similar to one in train" in leaks[1].message
    assert leaks[1].message.endswith(f"({h.TRAIN_FILE}:6)")


def test_leakage_at_warn_builds_and_is_reported(tmp_path: Path) -> None:
    train = h.examples(0, 20)
    validation = [*h.examples(600, 5), train[4]]
    data = DERIVED.replace(
        "  split: {fraction: 0.25, seed: 7}", "  sources:\n    - path: data/val.jsonl"
    )
    built = _build(
        tmp_path,
        data,
        {"data/train.jsonl": train, "data/val.jsonl": validation},
        policy="minExamples: 10\nleakage: warn",
    )
    [leak] = [d for d in built.diagnostics if d.field == "policy.leakage"]
    assert (leak.file, leak.line, leak.severity) == ("projects/demo/data/val.jsonl", 6, "warning")
    assert built.report["leakage"]["count"] == 1
    assert built.report["leakage"]["examples"][0]["other"] == f"{h.TRAIN_FILE}:5"


def test_a_derived_split_does_not_leak_identical_rows(tmp_path: Path) -> None:
    # Each row twice: a row and its copy go to the same side, so neither leaks.
    rows = h.examples(0, 50) * 2
    built = _build(
        tmp_path,
        DERIVED.replace("0.25", "0.3"),
        {"data/train.jsonl": rows},
        policy='minExamples: 10\nmaxDuplicateRatio: {level: "off"}\nleakage: warn',
    )
    assert built.report["splits"]["validation"]["examples"] > 0
    assert built.report["leakage"]["count"] == 0
