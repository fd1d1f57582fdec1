"""The example workspaces (the repo root, and examples/openai): valid configs, data their
own gates accept."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftctl.config.models import FineTuneProject, Workspace
from ftctl.gates.evals import run_eval_gate
from ftctl.gates.examples import EvalExample, load_eval_examples

REPO = Path(__file__).resolve().parents[2]
WORKSPACES = (REPO, REPO / "examples" / "openai", REPO / "examples" / "open-weights")
DIRS = {p.parent.name: p.parent for w in WORKSPACES for p in w.glob("projects/*/project.yaml")}
PROJECTS = sorted(DIRS)
# Projects whose data is another project's, copied: made by that project's generator.
DATA_FROM = {"smollm2-triage": "support-triage"}


def load_project(name: str) -> FineTuneProject:
    text = (DIRS[name] / "project.yaml").read_text(encoding="utf-8")
    return FineTuneProject.model_validate(yaml.safe_load(text))


def answering(examples: list[EvalExample], pick: str) -> Any:
    """A stand-in model that answers every prompt with a stored answer of its example."""
    lines = Path(examples[0].source).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    by_prompt = {}
    for example, row in zip(examples, rows, strict=True):
        answer = example.reference if pick == "reference" else row[pick][-1]["content"]
        by_prompt[json.dumps(example.prompt)] = answer

    def complete(*, messages: list[dict[str, Any]], **_: Any) -> str:
        return str(by_prompt[json.dumps(tuple(messages))])

    return complete


def test_the_workspaces_and_every_project_validate() -> None:
    main = Workspace.model_validate(yaml.safe_load((REPO / "ftctl.yaml").read_text()))
    # The main example workspace runs offline: no project needs an account or a key.
    assert set(main.providers) == {"local"}
    openai = Workspace.model_validate(yaml.safe_load((WORKSPACES[1] / "ftctl.yaml").read_text()))
    assert set(openai.providers) == {"openai"}
    hf = Workspace.model_validate(yaml.safe_load((WORKSPACES[2] / "ftctl.yaml").read_text()))
    assert {"support-triage", "tone-rewriter", "sql-helper"} <= set(PROJECTS)
    for name in PROJECTS:
        project = load_project(name)
        assert project.metadata.name == name
        workspace = {WORKSPACES[0]: main, WORKSPACES[1]: openai, WORKSPACES[2]: hf}[
            DIRS[name].parent.parent
        ]
        assert project.spec.provider in workspace.providers


@pytest.mark.parametrize("name", PROJECTS)
def test_the_reference_answers_pass_the_project_gates(name: str) -> None:
    project = load_project(name)
    evals = project.spec.gates.evals
    assert evals is not None
    project_dir = DIRS[name]
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    report = run_eval_gate(evals, examples, project_dir, answering(examples, "reference"), "oracle")
    assert report.pass_rate == 1.0, [r.candidate.reasons for r in report.failed_rows][:3]
    assert report.refusal_rate == 0.0


def test_the_tone_gate_rejects_the_over_apologetic_replies() -> None:
    project = load_project("tone-rewriter")
    assert project.spec.gates.evals is not None
    project_dir = DIRS["tone-rewriter"]
    examples = load_eval_examples(project_dir / "data" / "test.jsonl")
    verbose = answering(examples, "non_preferred_output")
    report = run_eval_gate(project.spec.gates.evals, examples, project_dir, verbose, "verbose")
    assert report.pass_rate == 0.0


def test_support_triage_sets_are_large_enough_and_disjoint() -> None:
    data = REPO / "projects" / "support-triage" / "data"
    train, test = (
        [json.loads(x)["messages"][1]["content"] for x in (data / f).read_text().splitlines()]
        for f in ("train.jsonl", "test.jsonl")
    )
    assert len(train) >= 220 and len(test) >= 45
    normalized = {" ".join(t.lower().split()) for t in train}
    assert not normalized & {" ".join(t.lower().split()) for t in test}


@pytest.mark.parametrize("name", PROJECTS)
def test_the_committed_data_is_what_the_generator_makes(name: str, tmp_path: Path) -> None:
    script = DIRS[DATA_FROM.get(name, name)] / "tools" / "make_data.py"
    (tmp_path / "tools").mkdir()
    shutil.copy(script, tmp_path / "tools" / "make_data.py")
    subprocess.run(
        [sys.executable, str(tmp_path / "tools" / "make_data.py")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for split in ("train", "test"):
        committed = (DIRS[name] / "data" / f"{split}.jsonl").read_bytes()
        assert (tmp_path / "data" / f"{split}.jsonl").read_bytes() == committed, split
