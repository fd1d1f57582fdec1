"""`data stats` and `data build` run the same per-example checks (`ftctl.datasets.checks`):
on the same file, with the same policy, they flag the same lines for the same reasons."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.datasets import build_helpers as h
from tests.support.cli import run_ftctl

CUT = "This answer goes on about shipping and billing and then it simply stops right"
ROWS: list[Any] = [
    h.chat("Where is my order?", "It ships tomorrow."),
    # the same example with other spacing and key order: a duplicate for both
    '{"messages" : [{"content": "You are Acme support.", "role": "system"}, '
    '{"content": "Where is my order?", "role": "user"}, '
    '{"content": "It ships tomorrow.", "role": "assistant"}]}',
    h.chat("Refund?", "I'm sorry, but I can't help with that."),
    h.chat("Hello?", "   "),
    h.chat("Explain.", CUT),
    h.chat("My key is AKIAIOSFODNN7EXAMPLE, ok?", "Please never share keys."),
    h.chat("Short?", "A label"),  # short: not cut off under either reading
    h.chat("Json?", '{"a": 1, "b": "some words in a json value that end in a letter"}'),
    *[h.example(seed) for seed in range(12)],
    h.chat("Refund?", "I'm sorry, but I can't help with that."),  # duplicate of line 3
]
POLICY = """
maxRefusalRatio: 0.0
maxDuplicateRatio: 0.0
maxNearDuplicateRatio: off
minPromptDiversity: off
requireSystemPrompt: off
emptyAnswers: warn
truncatedAnswers: warn
secrets: warn
leakage: off
"""
# policy check -> `data stats` quality key
CHECKS = {
    "maxRefusalRatio": "refusals",
    "maxDuplicateRatio": "duplicates",
    "emptyAnswers": "empty_answers",
    "truncatedAnswers": "truncated_answers",
    "secrets": "secrets",
}


def _build_findings(diagnostics: list[dict[str, Any]]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {key: set() for key in CHECKS}
    for d in diagnostics:
        key = str(d.get("field", "")).removeprefix("policy.")
        if key not in found:
            continue
        if d["file"] == h.TRAIN_FILE:
            found[key].add(int(d["line"]))
        else:  # a ratio check: its examples are listed in the hint
            found[key].update(int(n) for n in re.findall(r"train\.jsonl:(\d+)", d["hint"]))
    return found


def test_stats_and_build_report_the_same_findings(tmp_path: Path) -> None:
    h.write_workspace(
        tmp_path,
        h.project_yaml("train:\n  sources: [{path: data/train.jsonl}]", POLICY),
        {"data/train.jsonl": ROWS},
    )
    train = tmp_path / h.TRAIN_FILE
    stats = json.loads(
        run_ftctl(
            "--json", "data", "stats", str(train), "--model", "local-tiny", "--no-cache", check=0
        ).stdout
    )
    built = json.loads(
        run_ftctl("--json", "data", "build", "demo", workspace=tmp_path, check=0).stdout
    )

    from_stats = {
        check: {s["line"] for s in stats["quality"][key]["samples"]}
        for check, key in CHECKS.items()
    }
    from_build = _build_findings(built["diagnostics"])
    assert from_stats == from_build
    assert from_stats == {
        "maxRefusalRatio": {3, 21},
        "maxDuplicateRatio": {2, 21},
        "emptyAnswers": {4},
        "truncatedAnswers": {5},
        "secrets": {6},
    }
    for check, key in CHECKS.items():
        assert stats["quality"][key]["count"] == len(from_build[check])
    assert stats["quality"]["secrets"]["samples"][0]["kinds"] == ["AWS Access Key"]
