"""The `ftctl eval` report of the example project (support-triage) against golden files.

The eval runs the project's real test set and graders; the models are deterministic
stand-ins (the candidate answers like the reference except on every 7th example, the
base model only on every 3rd), so the report is stable. To regenerate after an intended
change: `FTCTL_UPDATE_GOLDEN=1 pytest tests/gates/test_eval_report.py`, then review.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ftctl.config.loader import load_project_file
from ftctl.gates.decide import decide
from ftctl.gates.evals import run_eval_gate
from ftctl.gates.examples import EvalExample, load_eval_examples, message_text
from ftctl.gates.scorecard import LossPoint, Scorecard
from ftctl.render.evalreport import render_eval_json, render_eval_markdown, render_eval_text

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "support-triage"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("FTCTL_UPDATE_GOLDEN"))
CANDIDATE = "ft:local-tiny:local:triage:v3"


def _stand_in(examples: list[EvalExample]) -> Any:
    by_prompt = {json.dumps(e.prompt, sort_keys=True): e for e in examples}

    def complete(*, model: str, messages: list[dict[str, Any]], **_: Any) -> str:
        example = by_prompt[json.dumps(tuple(messages), sort_keys=True)]
        right = example.index % 7 != 3 if model == CANDIDATE else example.index % 3 == 0
        if right:
            return example.reference or ""
        if model == CANDIDATE:
            return '{"category": "billing", "priority": "low"}'
        return "Sure! I can help with that ticket."

    return complete


def scorecard() -> Scorecard:
    project = load_project_file(PROJECT / "project.yaml", REPO)
    gates = project.model.spec.gates
    assert gates.evals is not None
    examples = load_eval_examples(PROJECT / "data" / "test.jsonl", source="test")
    report = run_eval_gate(
        gates.evals,
        examples,
        PROJECT,
        _stand_in(examples),
        CANDIDATE,
        baseline="local-tiny",
    )
    metrics = {"full_valid_loss": 0.6184, "valid_mean_token_accuracy": 0.9132}
    curve = tuple(
        LossPoint(step, round(3.2 * 0.86**step + 0.4, 4), round(3.3 * 0.87**step + 0.5, 4))
        for step in range(1, 31)
    )
    prompts = tuple(
        next((message_text(m) or "" for m in reversed(e.prompt) if m.get("role") == "user"), "")
        for e in examples
    )
    return Scorecard(
        project="support-triage",
        version=3,
        model=CANDIDATE,
        baseline_name="base",
        decision=decide(gates, metrics, report),
        report=report,
        loss_curve=curve,
        calls=0,
        cached=100,
        metrics=metrics,
        prompts=prompts,
    )


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_markdown_report_of_the_example_project() -> None:
    card = scorecard()
    text = render_eval_markdown(card)
    check("eval_support_triage.md", text)
    # What a reviewer relies on, whatever the golden file says:
    lines = text.splitlines()
    assert lines[2].startswith("| | Candidate | Baseline")  # the summary table comes first
    assert "```mermaid" in lines and "xychart-beta" in lines
    assert text.index("| test pass rate |") < text.index("#### Per grader")
    assert text.index("#### Per grader") < text.index("#### Loss curve")
    samples = text[text.index("Samples, worst first") :]
    assert samples.index("❌") < samples.index("✅")  # failures before passes


def test_json_and_text_reports_of_the_example_project() -> None:
    card = scorecard()
    check("eval_support_triage.json", render_eval_json(card))
    check("eval_support_triage.txt", render_eval_text(card))
    data = card.to_dict()
    assert data["passed"] is True
    assert data["eval"]["pass_rate"] == 43 / 50
    assert [g["grader"] for g in data["eval"]["per_grader"]] == card.report.graders  # type: ignore[union-attr]
    assert data["eval"]["samples"][0]["candidate"]["passed"] is False
