"""The near-duplicate policy check is not run again over rows that a nearDedupe with its
settings already cleared (`row_work.near_deduped`), nor the exact-duplicate check over rows
a dedupe cleared (`row_work.deduped`): the build says what running them says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets import build
from ftctl.datasets.build import build_project
from ftctl.datasets.row_work import Step, deduped, near_deduped

from . import build_helpers as h
from . import golden_builds as g

NEAR = Step("near", threshold=0.8, num_perm=128)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([NEAR], True),
        ([Step("system", text="S.", mode="ensure"), Step("dedupe"), NEAR], True),
        ([NEAR, Step("dedupe"), Step("max", limit=50, action="drop")], True),
        ([NEAR, Step("max", limit=50, action="error"), Step("skip")], True),
        ([NEAR, Step("near", threshold=0.5, num_perm=64)], True),
        ([NEAR, Step("system", text="S.", mode="replace")], False),
        ([NEAR, Step("max", limit=50, action="truncate")], False),
        ([Step("near", threshold=0.9, num_perm=128)], False),  # other settings
        ([Step("near", threshold=0.8, num_perm=64)], False),
        ([Step("dedupe")], False),
        ([], False),
    ],
)
def test_only_a_near_dedupe_with_the_same_settings_and_nothing_changing_after_it_counts(
    steps: list[Step], expected: bool
) -> None:
    assert near_deduped(steps, 0.8, 128) is expected


def _outcome(root: Path) -> dict[str, Any]:
    built = build_project(*h.load(root))
    report = {k: v for k, v in built.report.items() if k not in ("cache_key", "ftctl_version")}
    return {
        "splits": {n: s.sha256 for n, s in built.splits.items()},
        "diagnostics": [d.to_dict() for d in built.diagnostics],
        "report": json.loads(json.dumps(report, sort_keys=True, default=str)),
    }


@pytest.mark.parametrize(
    "transforms",
    [
        "[{nearDedupe: {threshold: 0.8}}]",
        "[{systemPrompt: {text: 'Be brief.', mode: replace}}, {nearDedupe: {threshold: 0.8}},"
        " {dedupe: {}}, {maxTokens: {limit: 60, action: drop}}]",
        "[{nearDedupe: {threshold: 0.6, numPerm: 64}}, {nearDedupe: {threshold: 0.9}}]",
    ],
    ids=["near-last", "near-then-drops", "two-nears"],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_the_check_skipped_after_a_near_dedupe_reports_what_running_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transforms: str, seed: int
) -> None:
    # Near repeats (and exact ones, and rows without words) across two weighted sources,
    # with a validation split taken out of train.
    files = {"data/a.jsonl": g._rows(seed, 300), "data/b.jsonl": g._rows(seed + 10, 80)}
    files["data/b.jsonl"] += [{"messages": [{"role": "user", "content": "?"}]}] * 2
    data = f"""
train:
  sources: [{{path: data/a.jsonl}}, {{path: data/b.jsonl, weight: 1.5}}]
  transforms: {transforms}
validation:
  split: {{fraction: 0.2, seed: {seed}}}
"""
    policy = "maxNearDuplicateRatio: 0.0\nmaxDuplicateRatio: 0.0\nsecrets: warn\nleakage: warn\nemptyAnswers: warn"
    skipped_root, checked_root = tmp_path / "skipped", tmp_path / "checked"
    for root in (skipped_root, checked_root):
        h.write_workspace(root, h.project_yaml(data, policy), files)
    skipped = _outcome(skipped_root)

    ran: list[bool] = []
    monkeypatch.setattr(build, "near_deduped", lambda *args: ran.append(True) or False)
    checked = _outcome(checked_root)

    assert ran, "the build did not ask whether the check could be skipped"
    assert skipped == checked
    transforms_run = checked["report"]["splits"]["train"]["transforms"]
    assert sum(t["dropped"] for t in transforms_run if t["name"] == "nearDedupe") > 0
    near = [r for r in checked["report"]["policy"] if r["check"] == "maxNearDuplicateRatio"]
    assert near and near[0]["observed"] == 0.0


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([Step("dedupe")], True),
        ([Step("system", text="S.", mode="ensure"), Step("dedupe"), NEAR], True),
        ([Step("dedupe"), Step("max", limit=50, action="drop"), Step("skip")], True),
        ([Step("dedupe"), Step("system", text="S.", mode="replace")], False),
        ([Step("dedupe"), Step("max", limit=50, action="truncate")], False),
        ([NEAR], False),
        ([], False),
    ],
)
def test_only_a_dedupe_with_nothing_changing_after_it_counts(
    steps: list[Step], expected: bool
) -> None:
    assert deduped(steps) is expected


@pytest.mark.parametrize(
    ("transforms", "skips"),
    [
        ("[{dedupe: {}}]", True),
        (
            "[{systemPrompt: {text: 'Be brief.', mode: replace}}, {dedupe: {}},"
            " {maxTokens: {limit: 60, action: drop}}]",
            True,
        ),
        ("[{dedupe: {}}, {systemPrompt: {text: 'Be brief.', mode: replace}}]", False),
    ],
    ids=["dedupe-last", "dedupe-then-drops", "changed-after"],
)
def test_the_exact_check_skipped_after_a_dedupe_reports_what_running_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transforms: str, skips: bool
) -> None:
    # Exact repeats within and across two weighted sources, and rows that differ only in
    # their system prompt (equal once it is replaced), with a validation split out of train.
    rows = g._rows(3, 200)
    other_system = [
        {"messages": [{"role": "system", "content": "Other."}, *_without_system(row)]}
        for row in rows[:30]
        if isinstance(row, dict) and row.get("messages")
    ]
    files = {
        "data/a.jsonl": rows + rows[:40] + other_system,
        "data/b.jsonl": rows[100:150] + g._rows(4, 30),
    }
    data = f"""
train:
  sources: [{{path: data/a.jsonl}}, {{path: data/b.jsonl, weight: 1.5}}]
  transforms: {transforms}
validation:
  split: {{fraction: 0.2, seed: 5}}
"""
    policy = "maxDuplicateRatio: 0.0\nsecrets: warn\nleakage: warn\nemptyAnswers: warn"
    skipped_root, checked_root = tmp_path / "skipped", tmp_path / "checked"
    for root in (skipped_root, checked_root):
        h.write_workspace(root, h.project_yaml(data, policy), files)
    asked: list[bool] = []
    real = build.deduped
    monkeypatch.setattr(build, "deduped", lambda steps: asked.append(real(steps)) or asked[-1])
    skipped = _outcome(skipped_root)
    monkeypatch.setattr(build, "deduped", lambda steps: False)
    checked = _outcome(checked_root)

    assert asked == [skips]
    assert skipped == checked
    transforms_run = checked["report"]["splits"]["train"]["transforms"]
    assert sum(t["dropped"] for t in transforms_run if t["name"] == "dedupe") > 0
    exact = [r for r in checked["report"]["policy"] if r["check"] == "maxDuplicateRatio"]
    assert exact and (exact[0]["observed"] == 0.0) is skips


def _without_system(row: dict[str, Any]) -> list[Any]:
    return [m for m in row["messages"] if not (isinstance(m, dict) and m.get("role") == "system")]
