"""Workspaces whose build output was recorded before the streaming engine, and must not change.

`GOLDEN` (tests/datasets/data/build_golden.json) holds, per scenario, the SHA-256 of each
built split, every diagnostic and the report (less what names the ftctl version or the
cache key), as the build of commit 74bde23 (before the one-pass engine) produced them.
`test_golden_builds.py` builds the same workspaces and compares.

Regenerate only when an output change is intended: `python -m tests.datasets.golden_builds`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

from ftctl.datasets.build import build_project
from ftctl.errors import DataError

from . import build_helpers as h

GOLDEN = Path(__file__).parent / "data" / "build_golden.json"
SYSTEM = "You are Acme support."
REFUSAL = "I'm sorry, but I can't help with that."
SECRET = "Use the key AKIAIOSFODNN7EXAMPLE with secret to deploy"


def _rows(seed: int, n: int, *, leaks_from: list[dict[str, Any]] | None = None) -> list[Any]:
    """Chat rows with every kind of finding: repeats, near repeats, refusals, secrets,
    cut-off and empty answers, missing or other system prompts, tool calls, non-ASCII."""
    rng = random.Random(seed)
    rows: list[Any] = []
    for i in range(n):
        pick = rng.random()
        if rows and pick < 0.06:
            rows.append(rng.choice(rows))  # exact repeat
            continue
        if rows and pick < 0.10:
            base = json.loads(json.dumps(rng.choice(rows)))
            if isinstance(base, dict) and base.get("messages"):
                last = base["messages"][-1]
                last["content"] = str(last.get("content", "")) + " Thanks"
                rows.append(base)  # near repeat
                continue
        if leaks_from and pick < 0.2:
            other = json.loads(json.dumps(rng.choice(leaks_from)))
            other["messages"][-1]["content"] = h.sentence(seed * 1000 + i) + "."
            rows.append(other)
            continue
        user = h.sentence(seed * 100_000 + i, words=rng.randint(3, 40)) + "?"
        answer = h.sentence(seed * 100_000 + 50_000 + i, words=rng.randint(2, 50)) + "."
        system: str | None = SYSTEM
        if pick < 0.14:
            answer = REFUSAL
        elif pick < 0.17:
            answer = answer.rstrip(".") + " and then the"  # cut off
        elif pick < 0.19:
            answer = "   "  # empty
        elif pick < 0.21:
            user = SECRET
        elif pick < 0.25:
            system = None
        elif pick < 0.27:
            system = "You are a pirate. Ünïcode 東京."
        row = h.chat(user, answer, system)
        if pick > 0.97:
            row["messages"].insert(
                -1,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": 1}'},
                        }
                    ],
                },
            )
            row["messages"].insert(
                -1, {"role": "tool", "tool_call_id": f"call_{i}", "content": "ok"}
            )
        if pick > 0.5 and pick < 0.55:
            row = dict(reversed(list(row.items())))
            rows.append(json.dumps(row, ensure_ascii=True, indent=None, separators=(" ,", " : ")))
            continue
        rows.append(row)
    return rows


def _train_and_test() -> dict[str, list[Any]]:
    train = _rows(1, 420)
    dicts = [r for r in train if isinstance(r, dict)]
    return {
        "data/train.jsonl": train,
        "data/more/a.jsonl": _rows(2, 60),
        "data/more/b.jsonl": _rows(3, 40),
        "data/test.jsonl": _rows(4, 50, leaks_from=dicts),
    }


SCENARIOS: dict[str, tuple[str, str, str, dict[str, list[Any]]]] = {
    # name: (data, policy, training, files)
    "everything": (
        """
train:
  sources:
    - path: data/train.jsonl
    - {path: "data/more/*.jsonl", weight: 1.5}
    - inline:
        - {messages: [{role: user, content: "Inline question?"}, {role: assistant, content: "Inline answer."}]}
  transforms:
    - systemPrompt: {text: "You are Acme support.", mode: ensure}
    - dedupe: {}
    - nearDedupe: {threshold: 0.8}
validation:
  split: {fraction: 0.2, seed: 7}
test:
  sources: [{path: data/test.jsonl}]
""",
        """
leakage: warn
secrets: warn
emptyAnswers: warn
maxRefusalRatio: 0.01
maxDuplicateRatio: 0.0
maxNearDuplicateRatio: 0.0
minPromptDiversity: 0.99
""",
        "",
        _train_and_test(),
    ),
    "order_and_truncate": (
        """
train:
  sources:
    - {path: data/train.jsonl, weight: 2}
    - {path: data/more/a.jsonl, limit: 30}
  transforms:
    - nearDedupe: {threshold: 0.7, numPerm: 64}
    - systemPrompt: {text: "Be brief.", mode: replace}
    - dedupe: {}
    - maxTokens: {limit: 40, action: truncate}
test:
  sources: [{path: data/test.jsonl}]
""",
        """
leakage: warn
secrets: warn
emptyAnswers: warn
requireSystemPrompt: {mode: required, level: warn}
""",
        "",
        _train_and_test(),
    ),
    "defaults_drop": (
        """
train:
  sources: [{path: data/train.jsonl}]
  transforms:
    - maxTokens: {limit: 60, action: drop}
    - systemPrompt: {mode: remove}
validation:
  sources: [{path: data/more/a.jsonl}]
""",
        "emptyAnswers: warn\nsecrets: warn\nleakage: warn\n",
        "",
        _train_and_test(),
    ),
    "fails": (
        """
train:
  sources: [{path: data/train.jsonl}]
""",
        "",
        "",
        _train_and_test(),
    ),
    "map_fields": (
        """
train:
  sources: [{path: data/pc.jsonl}]
  transforms:
    - mapFields: {system: "Sys."}
    - dedupe: {}
""",
        "",
        "",
        {
            "data/pc.jsonl": [
                {"prompt": h.sentence(i) + "?", "completion": h.sentence(i + 7) + "."}
                for i in range(30)
            ]
            + [{"input": "Same?", "output": "Yes."}] * 3
            + [{"foo": 1}, {"prompt": 1, "completion": "x"}]
        },
    ),
    "map_fields_ok": (
        """
train:
  sources: [{path: data/pc.jsonl}]
  transforms:
    - mapFields: {}
    - dedupe: {}
    - systemPrompt: {text: "Sys.", mode: ensure}
""",
        "minExamples: 5",
        "",
        {
            "data/pc.jsonl": [
                {"prompt": h.sentence(i) + "?", "completion": h.sentence(i + 7) + "."}
                for i in range(30)
            ]
            + [{"input": "Same?", "output": "Yes."}] * 3
        },
    ),
    "dpo": (
        """
train:
  sources: [{path: data/dpo.jsonl}]
  transforms: [{dedupe: {}}]
""",
        "emptyAnswers: warn",
        "method: dpo",
        {
            "data/dpo.jsonl": [
                {
                    "input": {"messages": [{"role": "user", "content": h.sentence(i) + "?"}]},
                    "preferred_output": [
                        {"role": "assistant", "content": REFUSAL if i % 9 == 0 else "Yes."}
                    ],
                    "non_preferred_output": [
                        {"role": "assistant", "content": " " if i % 11 == 0 else "No"}
                    ],
                }
                for i in range(40)
            ]
        },
    ),
}


def _clean(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in ("cache_key", "ftctl_version", "libraries")}
    return json.loads(json.dumps(out, sort_keys=True))


def build_scenario(root: Path, name: str) -> dict[str, Any]:
    """The recorded outcome of one scenario: the split hashes and report, or the errors."""
    data, policy, training, files = SCENARIOS[name]
    model = "gpt-4o-mini-2024-07-18" if "dpo" in training else "local-tiny"
    h.write_workspace(root, h.project_yaml(data, policy, training, model), files)
    try:
        built = build_project(*h.load(root))
    except DataError as error:
        return {"error": error.message, "diagnostics": [d.to_dict() for d in error.diagnostics]}
    return _outcome(built)


def build_scenario_again(root: Path) -> dict[str, Any]:
    """`build_scenario`'s outcome for the workspace already written at `root`."""
    try:
        built = build_project(*h.load(root))
    except DataError as error:
        return {"error": error.message, "diagnostics": [d.to_dict() for d in error.diagnostics]}
    return _outcome(built)


def _outcome(built: Any) -> dict[str, Any]:
    return {
        "splits": {n: s.sha256 for n, s in built.splits.items()},
        "origins": {
            n: hashlib.sha256(s.path.with_suffix(".origins.jsonl").read_bytes()).hexdigest()
            for n, s in built.splits.items()
        },
        "diagnostics": [d.to_dict() for d in built.diagnostics],
        "report": _clean(built.report),
    }


def main() -> None:
    import tempfile

    results: dict[str, Any] = {}
    for name in SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = build_scenario(Path(tmp), name)
    GOLDEN.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
