"""Transforms, applied in order: systemPrompt, dedupe, nearDedupe, maxTokens, mapFields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets.build import BuiltProject, build_project
from ftctl.datasets.counting import count_example
from ftctl.datasets.tokenizers import get_encoding
from ftctl.datasets.transforms import set_system_prompt, truncate_example
from ftctl.errors import DataError

from . import build_helpers as h

QUIET = "minExamples: 10\nrequireSystemPrompt: 'off'\n"


def _build(tmp_path: Path, transforms: str, rows: list[Any], policy: str = QUIET) -> BuiltProject:
    data = "train:\n  sources:\n    - path: data/train.jsonl\n  transforms:\n" + "".join(
        f"    {line}\n" for line in transforms.strip().splitlines()
    )
    h.write_workspace(tmp_path, h.project_yaml(data, policy=policy), {"data/train.jsonl": rows})
    project, workspace = h.load(tmp_path)
    return build_project(project, workspace)


def _transform(built: BuiltProject, index: int = 0) -> dict[str, Any]:
    report: dict[str, Any] = built.report["splits"]["train"]["transforms"][index]
    return report


# --------------------------------------------------------------------------- systemPrompt


def test_system_prompt_modes() -> None:
    with_prompt = h.chat("Hi?", "Hello.", system="Old prompt.")
    without = h.chat("Hi?", "Hello.", system=None)
    ensured = set_system_prompt(without, "New.", "ensure")
    assert ensured["messages"][0] == {"role": "system", "content": "New."}
    assert set_system_prompt(with_prompt, "New.", "ensure") is with_prompt
    replaced = set_system_prompt(with_prompt, "New.", "replace")
    assert [m["content"] for m in replaced["messages"]] == ["New.", "Hi?", "Hello."]
    removed = set_system_prompt(with_prompt, "", "remove")
    assert [m["role"] for m in removed["messages"]] == ["user", "assistant"]
    # A DPO row's conversation lives under `input`.
    dpo = {"input": {"messages": [{"role": "user", "content": "Q?"}]}, "preferred_output": []}
    assert set_system_prompt(dpo, "S.", "ensure")["input"]["messages"][0]["content"] == "S."
    assert dpo["input"]["messages"][0]["content"] == "Q?"  # the input row is not mutated


def test_system_prompt_transform_in_a_build(tmp_path: Path) -> None:
    rows = h.examples(0, 6, system=None) + h.examples(6, 6, system="Other.")
    built = _build(tmp_path, "- systemPrompt: {text: 'You are Acme.', mode: replace}", rows)
    assert {r["messages"][0]["content"] for r in h.built_rows(built)} == {"You are Acme."}
    assert _transform(built)["changed"] == 12


def test_a_system_prompt_without_text_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        _build(tmp_path, "- systemPrompt: {mode: ensure}", h.examples(0, 12))
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.file == h.PROJECT_FILE
    assert diagnostic.field == "spec.data.train.transforms[0].systemPrompt.text"
    assert diagnostic.line == 13  # the transform's line: `text` is not written
    assert "needs a non-empty text" in diagnostic.message


# --------------------------------------------------------------------------- dedupe


def test_dedupe_keeps_the_first_of_identical_rows(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    # Same content, other key order and spacing: the same example.
    rows.insert(5, json.dumps(dict(reversed(list(h.example(2).items()))), indent=None))
    rows.append(h.example(7))
    built = _build(tmp_path, "- dedupe: {}", rows)
    assert h.built_rows(built) == h.examples(0, 12)
    report = _transform(built)
    assert (report["rows_in"], report["rows_out"], report["dropped"]) == (14, 12, 2)
    assert report["dropped_rows"] == [
        f"{h.TRAIN_FILE}:6 (duplicate of {h.TRAIN_FILE}:3)",
        f"{h.TRAIN_FILE}:14 (duplicate of {h.TRAIN_FILE}:9)",
    ]


def test_near_dedupe_drops_rows_that_differ_by_a_word(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    base = h.example(3)
    near = json.loads(json.dumps(base))
    near["messages"][2]["content"] = base["messages"][2]["content"].replace(".", " today.")
    rows.append(near)
    built = _build(tmp_path, "- nearDedupe: {threshold: 0.8}", rows)
    assert h.built_rows(built) == h.examples(0, 12)
    assert _transform(built)["dropped_rows"] == [
        f"{h.TRAIN_FILE}:13 (near-duplicate of {h.TRAIN_FILE}:4, 96% similar)"
    ]


def test_near_dedupe_threshold_is_respected(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    near = json.loads(json.dumps(rows[3]))
    near["messages"][2]["content"] += " Thanks a lot for waiting so long."
    rows.append(near)
    built = _build(tmp_path, "- nearDedupe: {threshold: 1.0, numPerm: 64}", rows)
    assert len(h.built_rows(built)) == 13


# --------------------------------------------------------------------------- maxTokens


def _long_answer(seed: int, sentences: int) -> dict[str, Any]:
    answer = " ".join(h.sentence(seed * 1000 + i) + "." for i in range(sentences))
    return h.chat(h.sentence(seed) + "?", answer)


def test_max_tokens_drop(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), _long_answer(7, 10)]
    built = _build(tmp_path, "- maxTokens: {limit: 120, action: drop}", rows)
    assert h.built_rows(built) == h.examples(0, 12)
    [dropped] = _transform(built)["dropped_rows"]
    assert dropped.startswith(f"{h.TRAIN_FILE}:13 (")
    assert "> 120" in dropped


def test_max_tokens_auto_uses_the_models_limit(tmp_path: Path) -> None:
    huge = _long_answer(3, 300)  # local-tiny allows 4096 tokens per example
    enc = get_encoding("o200k_base")
    assert count_example(huge, "chat", enc).total > 4096
    built = _build(tmp_path, "- maxTokens: {limit: auto}", [*h.examples(0, 12), huge])
    assert len(h.built_rows(built)) == 12


def test_max_tokens_error_names_the_source_line(tmp_path: Path) -> None:
    rows = [*h.examples(0, 4), _long_answer(7, 10), *h.examples(4, 8)]
    with pytest.raises(DataError) as caught:
        _build(tmp_path, "- maxTokens: {limit: 120, action: error}", rows)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line) == (h.TRAIN_FILE, 5)
    assert diagnostic.field == "data.train.transforms[0].maxTokens"
    assert "more than the limit of 120" in diagnostic.message


def test_truncate_drops_trailing_turns_then_cuts_the_answer() -> None:
    enc = get_encoding("o200k_base")

    def count(example: dict[str, Any]) -> int:
        return count_example(example, "chat", enc).total

    turns = [
        {"role": "user", "content": h.sentence(1) + "?"},
        {"role": "assistant", "content": h.sentence(2) + "."},
        {"role": "user", "content": h.sentence(3) + "?"},
        {"role": "assistant", "content": " ".join(h.sentence(i) for i in range(10)) + "."},
    ]
    example = {"messages": turns}
    first_exchange = {"messages": turns[:2]}
    cut = truncate_example(example, count(first_exchange) + 5, count, enc)
    assert cut == first_exchange  # the longest prefix that ends with an answer and fits

    limit = count(first_exchange) - 6
    cut = truncate_example(example, limit, count, enc)
    assert cut is not None and count(cut) <= limit
    assert [m["role"] for m in cut["messages"]] == ["user", "assistant"]
    answer = cut["messages"][1]["content"]
    assert answer and turns[1]["content"].startswith(answer)

    prompt_only = count({"messages": [turns[0], {"role": "assistant", "content": ""}]})
    assert truncate_example(example, prompt_only, count, enc) is None  # no room for an answer


def test_max_tokens_truncate_in_a_build(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), _long_answer(7, 20)]
    built = _build(tmp_path, "- maxTokens: {limit: 100, action: truncate}", rows)
    rows_out = h.built_rows(built)
    assert len(rows_out) == 13 and _transform(built)["changed"] == 1
    enc = get_encoding("o200k_base")
    assert count_example(rows_out[-1], "chat", enc).total <= 100
    # The cut answer is reported by the truncatedAnswers check, at the source line.
    [warning] = [d for d in built.diagnostics if d.field == "policy.truncatedAnswers"]
    assert (warning.file, warning.line, warning.severity) == (h.TRAIN_FILE, 13, "warning")


# --------------------------------------------------------------------------- mapFields


def test_map_fields_turns_prompt_completion_rows_into_chat(tmp_path: Path) -> None:
    rows: list[Any] = [
        {"prompt": h.sentence(i) + "?", "completion": h.sentence(i + 50) + ".", "id": i}
        for i in range(6)
    ]
    rows += [
        {"input": h.sentence(i) + "?", "output": h.sentence(i + 50) + "."} for i in range(6, 12)
    ]
    built = _build(tmp_path, "- mapFields: {system: 'Be brief.'}", rows)
    assert h.built_rows(built)[0] == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": h.sentence(0) + "?"},
            {"role": "assistant", "content": h.sentence(50) + "."},
        ]
    }
    assert h.built_rows(built)[11]["messages"][1]["content"] == h.sentence(11) + "?"
    assert _transform(built)["changed"] == 12


def test_map_fields_with_custom_names_reports_rows_it_cannot_map(tmp_path: Path) -> None:
    rows: list[Any] = [{"q": h.sentence(i) + "?", "a": h.sentence(i + 50) + "."} for i in range(12)]
    rows.insert(3, {"question": "Where?", "a": "Here."})
    with pytest.raises(DataError) as caught:
        _build(tmp_path, "- mapFields: {prompt: q, completion: a}", rows)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.field) == (h.TRAIN_FILE, 4, "mapFields")
    assert diagnostic.message == "row has neither 'messages' nor 'q' and 'a'"


def test_transforms_apply_in_the_order_written(tmp_path: Path) -> None:
    rows: list[Any] = [
        {"prompt": h.sentence(i) + "?", "completion": "Yes, certainly."} for i in range(12)
    ]
    rows.append(rows[0])
    transforms = """
- mapFields: {}
- systemPrompt: {text: 'Acme.', mode: ensure}
- dedupe: {}
"""
    built = _build(tmp_path, transforms, rows)
    names = [t["name"] for t in built.report["splits"]["train"]["transforms"]]
    assert names == ["mapFields", "systemPrompt", "dedupe"]
    assert len(h.built_rows(built)) == 12
    assert all(
        r["messages"][0] == {"role": "system", "content": "Acme."} for r in h.built_rows(built)
    )
