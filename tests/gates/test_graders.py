from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from ftctl.config.models import Grader as GraderConfig
from ftctl.errors import GateError
from ftctl.gates.examples import EvalExample
from ftctl.gates.graders import Grader, build_grader, build_graders

CONFIG = TypeAdapter(GraderConfig)


def grader_for(config: dict[str, object], project_dir: Path) -> Grader:
    return build_grader(CONFIG.validate_python(config), project_dir)


def example(reference: str | None) -> EvalExample:
    return EvalExample(0, "test.jsonl", 1, ({"role": "user", "content": "hi"},), reference)


REF = example('{"category": "billing", "priority": "urgent"}')


def test_json_schema_accepts_valid_answers_and_says_what_is_wrong_with_others(
    project_dir: Path,
) -> None:
    grader = grader_for({"type": "json_schema", "schema": "evals/answer.schema.json"}, project_dir)
    ok = grader.grade('{"category": "refund", "priority": "low"}', REF)
    assert ok.passed and ok.reason == "valid against evals/answer.schema.json"

    cases = {
        '{"category": "refund"}': "$: 'priority' is a required property",
        '{"category": "refund", "priority": "asap"}': "$.priority: 'asap' is not one of",
        '{"category": "refund", "priority": "low", "x": 1}': "Additional properties",
        "Category: refund": "not JSON: Expecting value at line 1 column 1",
        "   ": "not JSON: the answer is empty",
    }
    for answer, reason in cases.items():
        grade = grader.grade(answer, REF)
        assert not grade.passed and reason in grade.reason, (answer, grade.reason)


def test_json_graders_accept_one_code_fence_around_the_json(project_dir: Path) -> None:
    grader = grader_for({"type": "json_schema", "schema": "evals/answer.schema.json"}, project_dir)
    fenced = '```json\n{"category": "refund", "priority": "low"}\n```'
    assert grader.grade(fenced, REF).passed
    assert not grader.grade('Sure! {"category": "refund", "priority": "low"}', REF).passed


def test_json_schema_misconfiguration_is_a_gate_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(
        GateError, match=r"graders\[0\]\.schema: schema file missing.json not found"
    ):
        build_graders(
            [CONFIG.validate_python({"type": "json_schema", "schema": "missing.json"})], tmp_path
        )
    (tmp_path / "broken.json").write_text('{"type": "object",\n  oops}')
    with pytest.raises(GateError, match="not valid JSON") as info:
        grader_for({"type": "json_schema", "schema": "broken.json"}, tmp_path)
    assert info.value.diagnostics[0].line == 2
    (tmp_path / "bad.json").write_text(json.dumps({"type": "objekt"}))
    with pytest.raises(GateError, match="not a valid JSON Schema"):
        grader_for({"type": "json_schema", "schema": "bad.json"}, tmp_path)


def test_exact_match_ignores_surrounding_whitespace_only(tmp_path: Path) -> None:
    grader = grader_for({"type": "exact_match"}, tmp_path)
    ref = example("SELECT 1;")
    assert grader.grade("  SELECT 1;\n", ref).passed
    grade = grader.grade("select 1;", ref)
    assert not grade.passed and grade.reason == "got 'select 1;', expected 'SELECT 1;'"
    assert grader.reference_problem(None) == "exact_match needs a reference answer"


def test_json_match_compares_the_listed_keys(tmp_path: Path) -> None:
    grader = grader_for({"type": "json_match", "keys": ["category", "priority"]}, tmp_path)
    assert grader.grade('{"priority": "urgent", "category": "billing", "note": "x"}', REF).passed
    wrong = grader.grade('{"category": "billing", "priority": "high"}', REF)
    assert not wrong.passed and wrong.reason == 'priority: got "high", expected "urgent"'
    missing = grader.grade('{"priority": "normal"}', REF)
    assert missing.reason == (
        'category: missing, expected "billing"; priority: got "normal", expected "urgent"'
    )
    assert grader.grade('["billing", "urgent"]', REF).reason.startswith("not a JSON object")


def test_json_match_without_keys_compares_whole_documents(tmp_path: Path) -> None:
    grader = grader_for({"type": "json_match"}, tmp_path)
    assert grader.grade('{"priority":"urgent","category":"billing"}', REF).passed
    grade = grader.grade('{"category": "billing", "priority": "urgent", "x": 1}', REF)
    assert not grade.passed and grade.reason.endswith("keys x")


def test_json_match_rejects_references_it_cannot_use(tmp_path: Path) -> None:
    grader = grader_for({"type": "json_match", "keys": ["category"]}, tmp_path)
    assert grader.reference_problem("billing") is not None
    assert grader.reference_problem('{"priority": "low"}') == (
        "the reference answer has no key 'category'"
    )
    assert grader.reference_problem('{"category": "billing"}') is None


def test_regex_searches_the_answer(tmp_path: Path) -> None:
    grader = grader_for({"type": "regex", "pattern": r"(?i)^\s*select\b.*;\s*$"}, tmp_path)
    assert grader.grade("SELECT * FROM t;", REF).passed
    grade = grader.grade("Here you go: SELECT 1", REF)
    assert not grade.passed and "does not match" in grade.reason
    with pytest.raises(GateError, match=r"pattern: invalid regular expression"):
        grader_for({"type": "regex", "pattern": "(unclosed"}, tmp_path)


def test_refusal_grader_marks_refusals_and_does_not_count_per_example(tmp_path: Path) -> None:
    grader = grader_for({"type": "refusal", "max": 0.1}, tmp_path)
    assert not grader.counts
    assert not grader.grade("I'm sorry, but I can't help with that.", REF).passed
    assert grader.grade('{"category": "billing"}', REF).passed
    custom = build_grader(
        CONFIG.validate_python({"type": "refusal"}), tmp_path, refusal_phrases=["computer says no"]
    )
    assert not custom.grade("Computer says no.", REF).passed
    assert custom.grade("I'm sorry, but I can't help with that.", REF).passed
