from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from ftctl.config.models import EvalGate
from ftctl.config.models import Grader as GraderConfig
from ftctl.errors import GateError, ProviderError
from ftctl.events import Event
from ftctl.gates.evals import run_eval, run_eval_gate
from ftctl.gates.examples import load_eval_examples
from ftctl.gates.graders import build_graders

Router = Callable[[dict[str, str]], Callable[..., str]]
GRADERS: list[dict[str, Any]] = [
    {"type": "json_schema", "schema": "evals/answer.schema.json"},
    {"type": "json_match", "keys": ["category", "priority"]},
    {"type": "refusal", "max": 0.1},
]
CANDIDATE = {
    "charged twice": '{"category": "billing", "priority": "urgent"}',
    "tracking": '{"category": "shipping", "priority": "normal"}',
    "refund": '{"category": "refund", "priority": "normal"}',
    "invoice": '{"category": "billing", "priority": "normal"}',  # should be low
}
BASELINE = {
    "tracking": '{"category": "shipping", "priority": "normal"}',
    "invoice": '{"category": "billing", "priority": "low"}',
}  # refuses everything else


def graders(project_dir: Path, configs: list[dict[str, Any]] = GRADERS) -> list[Any]:
    adapter = TypeAdapter(list[GraderConfig])
    return build_graders(adapter.validate_python(configs), project_dir)


def two_models(router: Router) -> Callable[..., str]:
    candidate, baseline = router(CANDIDATE), router(BASELINE)

    def complete(**kwargs: Any) -> str:
        return (candidate if kwargs["model"] == "ft:cand" else baseline)(**kwargs)

    return complete


def test_pass_rate_and_the_failing_example_with_its_reason(
    project_dir: Path, router: Router
) -> None:
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval(examples, graders(project_dir), router(CANDIDATE), "ft:cand")
    assert report.pass_rate == 0.75 and report.refusal_rate == 0.0
    assert (report.counts.passed, report.counts.failed) == (3, 1)
    (failed,) = report.failed_rows
    assert failed.line == 4
    assert failed.candidate.reasons == ['json_match: priority: got "normal", expected "low"']
    assert report.win_rate is None and report.baseline is None
    assert report.summary() == "test pass rate 0.75 (3/4)"


def test_win_rate_counts_wins_as_one_and_ties_as_half(project_dir: Path, router: Router) -> None:
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval(
        examples, graders(project_dir), two_models(router), "ft:cand", baseline="base-model"
    )
    assert [r.outcome for r in report.rows] == ["win", "tie", "win", "loss"]
    assert (report.counts.wins, report.counts.ties, report.counts.losses) == (2, 1, 1)
    assert report.win_rate == (2 + 0.5) / 4
    assert report.baseline_pass_rate == 0.5 and report.baseline_refusal_rate == 0.5
    assert report.counts.baseline_refusals == 2
    assert "win rate vs base-model 0.625 (2 won, 1 tied, 1 lost)" in report.summary()


def test_the_report_is_json_serialisable(project_dir: Path, router: Router) -> None:
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval(examples, graders(project_dir), two_models(router), "ft:cand", baseline="b")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["pass_rate"] == 0.75 and data["win_rate"] == 0.625
    assert data["counts"]["examples"] == 4
    row = data["rows"][3]
    assert row["line"] == 4 and row["outcome"] == "loss"
    assert row["candidate"]["grades"][1] == {
        "grader": "json_match",
        "passed": False,
        "reason": 'priority: got "normal", expected "low"',
    }


def test_the_model_gets_the_prompt_and_the_gate_sampling_settings(
    project_dir: Path, router: Router
) -> None:
    calls: list[dict[str, Any]] = []
    answer = router(CANDIDATE)

    def complete(**kwargs: Any) -> str:
        calls.append(kwargs)
        return answer(**kwargs)

    gate = EvalGate.model_validate(
        {"graders": GRADERS, "maxTokens": 24, "temperature": 0.3, "limit": 2}
    )
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval_gate(gate, examples, project_dir, complete, "ft:cand", seed=7)
    assert report.counts.examples == 2
    assert [c["messages"][-1]["role"] for c in calls] == ["user", "user"]
    assert all(len(c["messages"]) == 2 for c in calls)  # system + user, not the answer
    assert {(c["max_tokens"], c["temperature"], c["seed"]) for c in calls} == {(24, 0.3, 7)}


def test_progress_events_count_every_call(project_dir: Path, router: Router) -> None:
    events: list[Event] = []
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    run_eval(
        examples,
        graders(project_dir),
        two_models(router),
        "ft:cand",
        baseline="b",
        sink=events.append,
    )
    progress = [e for e in events if e.kind == "progress"]
    assert [e.completed for e in progress] == list(range(1, 9))
    assert {e.total for e in progress} == {8}
    assert events[-1].kind == "info" and events[-1].message.startswith("test pass rate 0.75")


def test_with_only_a_refusal_grader_an_example_passes_unless_refused(
    project_dir: Path, router: Router
) -> None:
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval(examples, graders(project_dir, [{"type": "refusal"}]), router(BASELINE), "m")
    assert report.pass_rate == 0.5 and report.refusal_rate == 0.5
    assert report.failed_rows[0].candidate.reasons[0].startswith("refusal: a refusal: ")


def test_multi_turn_and_dpo_rows(tmp_path: Path, save_jsonl: Callable[..., Path]) -> None:
    path = save_jsonl(
        tmp_path / "t.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "q1"},
                    {"role": "assistant", "content": "a1", "weight": 0},
                    {"role": "user", "content": "q2"},
                    {"role": "assistant", "content": [{"type": "text", "text": "a2"}]},
                ]
            },
            {
                "input": {"messages": [{"role": "user", "content": "be nice"}]},
                "preferred_output": [{"role": "assistant", "content": "nice"}],
                "non_preferred_output": [{"role": "assistant", "content": "meh"}],
            },
            {"messages": [{"role": "user", "content": "no reference"}]},
        ],
    )
    first, dpo, bare = load_eval_examples(path)
    assert [m["content"] for m in first.prompt] == ["q1", "a1", "q2"]
    assert "weight" not in first.prompt[1]  # the chat API does not take training-only keys
    assert first.reference == "a2"
    assert dpo.prompt == ({"role": "user", "content": "be nice"},) and dpo.reference == "nice"
    assert bare.reference is None and bare.line == 3


def test_bad_eval_files_are_gate_errors_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n\n{"messages": \n')
    with pytest.raises(GateError, match="not valid JSONL") as info:
        load_eval_examples(path)
    assert (info.value.diagnostics[0].file, info.value.diagnostics[0].line) == (str(path), 3)

    path.write_text('{"messages": []}\n{"prompt": "x"}\n')
    with pytest.raises(GateError, match="2 unusable example") as info:
        load_eval_examples(path)
    assert [d.line for d in info.value.diagnostics] == [1, 2]

    path.write_text("\n")
    with pytest.raises(GateError, match="has no examples"):
        load_eval_examples(path)
    with pytest.raises(GateError, match="cannot read eval set"):
        load_eval_examples(tmp_path / "missing.jsonl")


def test_unusable_references_stop_the_eval_before_any_model_call(
    project_dir: Path, save_jsonl: Callable[..., Path], make_row: Callable[..., dict[str, Any]]
) -> None:
    row = make_row("hello", "billing", "low")
    row["messages"][-1]["content"] = "billing, low"  # not JSON
    path = save_jsonl(project_dir / "data" / "bad.jsonl", [make_row("x", "refund", "low"), row])
    calls: list[str] = []

    def complete(**kwargs: Any) -> str:
        calls.append(kwargs["model"])
        return "{}"

    with pytest.raises(GateError, match="1 example") as info:
        run_eval(load_eval_examples(path), graders(project_dir), complete, "m")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.line == 2 and diagnostic.field == "json_match"
    assert "reference answer is not JSON" in diagnostic.message
    assert calls == []


def test_failing_calls_propagate_naming_the_example(project_dir: Path) -> None:
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")

    def broken(**kwargs: Any) -> str:
        if "parcel" in kwargs["messages"][-1]["content"]:
            raise ConnectionError("connection reset")
        return "{}"

    with pytest.raises(GateError, match="eval call to m failed on example 2: connection reset"):
        run_eval(examples, graders(project_dir), broken, "m")

    def refused(**kwargs: Any) -> str:
        raise ProviderError("model ft:x not found")

    with pytest.raises(ProviderError, match="not found"):
        run_eval(examples, graders(project_dir), refused, "m")


def test_many_unusable_references_list_the_first_twenty(
    project_dir: Path, save_jsonl: Callable[..., Path]
) -> None:
    rows = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(25)]
    path = save_jsonl(project_dir / "data" / "open.jsonl", rows)
    with pytest.raises(
        GateError, match=r"25 example\(s\) .* cannot be graded \(the first 20"
    ) as info:
        run_eval(
            load_eval_examples(path),
            graders(project_dir, [{"type": "exact_match"}]),
            lambda **_: "",
            "m",
        )
    assert len(info.value.diagnostics) == 20
    assert info.value.diagnostics[0].message == "exact_match needs a reference answer"
