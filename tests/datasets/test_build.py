"""build_project: the public result, format errors, methods, and how failures are reported."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.config.loader import sorted_diagnostics
from ftctl.datasets.build import build_project
from ftctl.datasets.counting import count_example
from ftctl.datasets.tokenizers import get_encoding
from ftctl.errors import DataError
from ftctl.events import Event

from . import build_helpers as h

ALL_SPLITS = """
train:
  sources:
    - path: data/train.jsonl
validation:
  split: {fraction: 0.2, seed: 7}
test:
  sources:
    - path: data/test.jsonl
"""


def test_a_build_describes_every_split(tmp_path: Path) -> None:
    files = {"data/train.jsonl": h.examples(0, 60), "data/test.jsonl": h.examples(900, 10)}
    h.write_workspace(tmp_path, h.project_yaml(ALL_SPLITS), files)
    events: list[Event] = []
    built = build_project(*h.load(tmp_path), events.append)

    assert built.project == "demo"
    assert list(built.splits) == ["train", "validation", "test"]
    enc = get_encoding("o200k_base")
    for name, split in built.splits.items():
        assert split.project == "demo" and split.split == name and split.format == "chat"
        assert split.path.is_relative_to(tmp_path / ".ftctl/cache/datasets")
        rows = h.built_rows(built, name)
        counts = [count_example(row, "chat", enc) for row in rows]
        assert split.examples == len(rows)
        assert split.tokens == sum(c.total for c in counts)
        assert split.trained_tokens == sum(c.trained for c in counts) > 0
    assert built.splits["train"].examples + built.splits["validation"].examples == 60
    assert built.splits["test"].examples == 10
    train = built.splits["train"]
    assert train.billed_tokens_per_epoch == train.tokens  # every example under the limit
    assert built.splits["validation"].billed_tokens_per_epoch == 0
    assert built.cost.epochs == 3 and built.cost.billed_tokens == 3 * train.tokens
    assert built.cost.cost_usd == 0.0  # the local model is free

    report = json.loads(json.dumps(built.report))
    assert report["splits"]["train"]["sha256"] == train.sha256
    source_bytes = (tmp_path / h.TRAIN_FILE).read_bytes()
    assert report["splits"]["train"]["sources"] == [
        {
            "kind": "path",
            "name": "data/train.jsonl",
            "files": [{"file": h.TRAIN_FILE, "sha256": hashlib.sha256(source_bytes).hexdigest()}],
            "rows_read": 60,
            "rows_kept": 60,
        }
    ]
    assert {c["check"] for c in report["policy"]} >= {
        "minExamples",
        "maxTokensPerExample",
        "maxRefusalRatio",
        "maxDuplicateRatio",
        "maxNearDuplicateRatio",
        "requireSystemPrompt",
        "emptyAnswers",
        "truncatedAnswers",
        "leakage",
        "secrets",
        "minPromptDiversity",
    }
    assert [e.kind for e in events if e.kind == "step"]


def test_format_errors_name_the_source_line_and_json_path(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    rows[4] = {
        "messages": [
            {"role": "wizard", "content": "Hi?"},
            {"role": "assistant", "content": "Hello."},
        ]
    }
    h.write_workspace(
        tmp_path,
        h.project_yaml(ALL_SPLITS),
        {
            "data/train.jsonl": rows,
            "data/test.jsonl": [*h.examples(900, 3), {"messages": "not a list"}],
        },
    )
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    errors = [d for d in caught.value.diagnostics if d.severity == "error"]
    where = {(d.file, d.line, d.field) for d in errors}
    assert (h.TRAIN_FILE, 5, "$.messages[0].role") in where
    assert ("projects/demo/data/test.jsonl", 4, "$.messages") in where
    assert caught.value.message == f"project 'demo': {len(errors)} data error(s)"
    assert caught.value.diagnostics == sorted_diagnostics(caught.value.diagnostics)


def _dpo(seed: int) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": h.sentence(seed) + "?"}]},
        "preferred_output": [{"role": "assistant", "content": h.sentence(seed + 1) + "."}],
        "non_preferred_output": [{"role": "assistant", "content": h.sentence(seed + 2) + "."}],
    }


def test_the_training_method_decides_the_format(tmp_path: Path) -> None:
    rows = [_dpo(i * 10) for i in range(12)]
    text = h.project_yaml(
        "train:\n  sources:\n    - path: data/train.jsonl\n",
        policy="minExamples: 10\nrequireSystemPrompt: 'off'",
        training="method: dpo",
        model="gpt-4o-mini-2024-07-18",
    )
    h.write_workspace(tmp_path, text, {"data/train.jsonl": rows})
    built = build_project(*h.load(tmp_path))
    assert built.splits["train"].format == "dpo"
    assert built.splits["train"].trained_tokens > 0

    # A chat row in a DPO project is a format error at its line.
    h.write_jsonl(tmp_path / "projects/demo/data/train.jsonl", [*rows, h.example(1)])
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    assert {d.line for d in caught.value.diagnostics if d.severity == "error"} == {13}


def test_an_unknown_base_model_is_an_error_at_base_model(tmp_path: Path) -> None:
    text = h.project_yaml(ALL_SPLITS, model="gpt-9-ultra")
    files = {"data/train.jsonl": h.examples(0, 12), "data/test.jsonl": h.examples(900, 3)}
    h.write_workspace(tmp_path, text, files)
    try:
        project, workspace = h.load(tmp_path)
    except Exception as error:  # the config loader may already know the catalog
        assert "gpt-9-ultra" in str(error)
        return
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line) == (h.PROJECT_FILE, h.line_of(text, "baseModel"))
    assert diagnostic.field == "spec.baseModel"
    assert "unknown model 'gpt-9-ultra'" in diagnostic.message


def test_a_failing_build_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), h.chat("Hello?", "")]
    h.write_workspace(
        tmp_path,
        h.project_yaml(ALL_SPLITS),
        {
            "data/train.jsonl": rows,
            "data/test.jsonl": h.examples(900, 3),
        },
    )
    with pytest.raises(DataError):
        build_project(*h.load(tmp_path))
    cache = tmp_path / ".ftctl/cache/datasets"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))
