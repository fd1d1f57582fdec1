"""The example cache: a rebuild reuses what it computed for unchanged examples, and a change
of a line, a transform, the policy or the tokenizer gives exactly what a build with an empty
cache gives."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets import similarity
from ftctl.datasets.build import build_project
from ftctl.datasets.example_cache import ExampleCache
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources: [{path: data/train.jsonl}]
  transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.8}}]
validation:
  split: {fraction: 0.2, seed: 3}
"""
POLICY = "leakage: warn\nsecrets: warn\nemptyAnswers: warn\n"


def _rows() -> list[Any]:
    rows: list[Any] = h.examples(0, 80)
    rows.append(rows[3])  # an exact repeat
    near = json.loads(json.dumps(rows[5]))
    near["messages"][-1]["content"] += " Thanks"
    rows.append(near)  # a near repeat
    rows.append(h.chat("I am sorry?", "I'm sorry, but I can't help with that."))
    return rows


def _outcome(root: Path) -> tuple[dict[str, Any], list[str]]:
    events: list[Event] = []
    built = build_project(*h.load(root), events.append)
    report = {k: v for k, v in built.report.items() if k != "cache_key"}
    outcome = {
        "splits": {n: (s.sha256, s.tokens, s.trained_tokens) for n, s in built.splits.items()},
        "diagnostics": [d.to_dict() for d in built.diagnostics],
        "report": json.loads(json.dumps(report)),
    }
    return outcome, [e.message for e in events if e.kind == "info"]


def _reused(messages: list[str]) -> tuple[int, int, int, int]:
    for message in messages:
        found = re.search(r"counts of (\d+) of (\d+) examples and (\d+) of (\d+) MinHash", message)
        if found:
            a, b, c, d = (int(x) for x in found.groups())
            return a, b, c, d
    raise AssertionError(messages)


def _cold(root: Path, tmp_path: Path) -> dict[str, Any]:
    """The same workspace built with an empty cache."""
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".ftctl"))
    return _outcome(fresh)[0]


def _touch(root: Path, text: str = "# again\n") -> None:
    project = root / "projects" / "demo" / "project.yaml"
    project.write_text(project.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    h.write_workspace(workspace, h.project_yaml(DATA, POLICY), {"data/train.jsonl": _rows()})
    return workspace


def test_a_rebuild_reuses_every_unchanged_example(root: Path, tmp_path: Path) -> None:
    first, messages = _outcome(root)
    found, looked_up, signatures_found, signed = _reused(messages)
    assert found == 0 and looked_up > 0 and signatures_found == 0 and signed > 0
    _touch(root)  # the whole-build cache misses; every example is the same
    again, messages = _outcome(root)
    assert again == first
    found, looked_up, signatures_found, signed = _reused(messages)
    assert found == looked_up > 0 and signatures_found == signed > 0


def test_an_edited_line_is_all_that_is_computed_again(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    train = root / "projects" / "demo" / "data" / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[10] = json.dumps(h.chat("A new question entirely?", "And a new answer.")) + "\n"
    train.write_text("".join(lines), encoding="utf-8")
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, looked_up, _, _ = _reused(messages)
    assert looked_up - found == 1  # the edited example's counts; the rest came from the cache


def test_a_changed_transform_gives_a_cold_builds_output(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    project = root / "projects" / "demo" / "project.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.8}}]",
        'transforms: [{systemPrompt: {text: "Be brief.", mode: replace}}, {dedupe: {}}]',
    )
    project.write_text(text, encoding="utf-8")
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    found, looked_up, _, _ = _reused(messages)
    assert found == 0 and looked_up > 0  # every example changed: nothing reused


def test_a_changed_policy_gives_a_cold_builds_findings(root: Path, tmp_path: Path) -> None:
    _outcome(root)
    _touch(root, "    maxRefusalRatio: {value: 0.0, phrases: [new answer, sorry]}\n")
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert any(d["field"] == "policy.maxRefusalRatio" for d in again["diagnostics"])


def test_a_changed_tokenizer_counts_again(root: Path, tmp_path: Path) -> None:
    first, _ = _outcome(root)
    project = root / "projects" / "demo" / "project.yaml"
    text = project.read_text(encoding="utf-8").replace(
        "baseModel: local-tiny", "baseModel: gpt-3.5-turbo-0125"
    )
    project.write_text(text, encoding="utf-8")
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert again["splits"]["train"][1] != first["splits"]["train"][1]  # cl100k, not o200k
    found, looked_up, signatures_found, signed = _reused(messages)
    assert found == 0 and looked_up > 0  # counts belong to an encoding
    assert signatures_found == signed > 0  # signatures do not


def test_a_damaged_cache_is_a_miss_never_a_wrong_result(root: Path, tmp_path: Path) -> None:
    first, _ = _outcome(root)
    database = root / ".ftctl" / "cache" / "datasets" / "examples.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE tokens SET value = zeroblob(24)")
        db.execute("UPDATE minhash SET value = substr(value, 2)")
    _touch(root)
    again, messages = _outcome(root)
    assert again == first
    found, _, signatures_found, _ = _reused(messages)
    assert found == 0 and signatures_found == 0


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    cache = ExampleCache(tmp_path / "file-not-dir" / "examples.sqlite")
    (tmp_path / "file-not-dir").write_text("", encoding="utf-8")
    cache.put_many("tokens", [(b"k" * 16, b"v")])
    cache.commit()
    assert cache.get_many("tokens", [b"k" * 16]) == {}


def test_signatures_signed_on_worker_processes_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [h.sentence(seed, words=5 + seed % 40) for seed in range(300)] + ["", "!!"]
    monkeypatch.setattr(similarity, "POOL_MIN_TEXTS", 10)
    monkeypatch.setattr(similarity, "PREFETCH_CHUNK", 64)
    monkeypatch.setattr(similarity.os, "cpu_count", lambda: 2)
    with similarity.reuse_signatures():
        similarity.prefetch_signatures(texts, 64)
        memo = similarity._memo.get()
        assert memo is not None and len(memo) == len(set(texts))
        for text in texts:
            ours = similarity.signature_of(text, 64)
            direct = similarity.compute_signature(text, 64)
            assert (ours is None and direct is None) or (
                ours is not None and direct is not None and (ours == direct).all()
            )


def _same(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and (a == b).all())


@pytest.mark.parametrize("num_perm", [16, 128])
def test_a_text_and_its_prompt_signed_in_one_pass_are_signed_right(num_perm: int) -> None:
    parts = ["", "one", "one two", "one two three", "Ünï cödé 東京 ΣΑΣ", "x\u0307y İİ", "!!"]
    parts += [h.sentence(seed, words=1 + seed % 9) for seed in range(30)]
    for first in parts:
        for rest in [None, *parts[:8]]:
            whole = first if rest is None else first + "\n" + rest
            got_whole, got_first = similarity.compute_pair(first, rest, num_perm)
            assert _same(got_whole, similarity.compute_signature(whole, num_perm)), (first, rest)
            assert _same(got_first, similarity.compute_signature(first, num_perm)), (first, rest)


def test_signing_examples_signs_their_prompts_too() -> None:
    rows = [h.example(seed) for seed in range(50)] + [h.chat("", "Only an answer here.")]
    with similarity.reuse_signatures():
        similarity.sign_texts(similarity.LazyTexts(rows, similarity.example_text), 128)
        memo = similarity._memo.get()
        assert memo is not None
        for row in rows:
            prompt = similarity.prompt_text(row)
            if prompt:
                key = (128, similarity._text_digest(prompt))
                raw = memo[key]
                assert raw is not None
                assert (
                    similarity.np.frombuffer(raw, dtype=similarity.np.uint32)
                    == similarity.compute_signature(prompt, 128)
                ).all()
