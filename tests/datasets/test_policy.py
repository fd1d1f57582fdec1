"""Every policy check: level, threshold, and the file, line and field of each finding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftctl.datasets.build import BuiltProject, build_project
from ftctl.datasets.policy import looks_cut_off
from ftctl.datasets.validation import validate_project_data
from ftctl.errors import DataError, Diagnostic

from . import build_helpers as h

TRAIN = "train:\n  sources:\n    - path: data/train.jsonl\n"
REFUSAL = "I'm sorry, but I can't help with that request."


def _setup(root: Path, rows: list[Any], policy: str, **kwargs: str) -> str:
    text = h.project_yaml(kwargs.pop("data", TRAIN), policy=policy, **kwargs)
    h.write_workspace(root, text, {"data/train.jsonl": rows})
    return text


def _findings(root: Path) -> list[Diagnostic]:
    """Every diagnostic of the build, whether it failed or not."""
    project, workspace = h.load(root)
    try:
        built: BuiltProject = build_project(project, workspace)
    except DataError as error:
        return list(error.diagnostics)
    return list(built.diagnostics)


def _only(diagnostics: list[Diagnostic], field: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.field == field]


def _finding_at_policy_line(root: Path, text: str, key: str, severity: str) -> Diagnostic:
    """The one finding of check `key`, asserted to be at `key`'s line in project.yaml `text`."""
    [finding] = _only(_findings(root), f"policy.{key}")
    assert (finding.file, finding.line, finding.severity) == (
        h.PROJECT_FILE,
        h.line_of(text, key),
        severity,
    )
    return finding


# --------------------------------------------------------------------------- minExamples


def test_fewer_than_ten_examples_is_an_error_even_when_the_check_is_off(tmp_path: Path) -> None:
    text = _setup(tmp_path, h.examples(0, 6), "minExamples: {value: 50, level: 'off'}")
    finding = _finding_at_policy_line(tmp_path, text, "minExamples", "error")
    assert "has 6 examples; fine-tuning needs at least 10" in finding.message


@pytest.mark.parametrize(("level", "severity"), [("error", "error"), ("warn", "warning")])
def test_below_min_examples_at_its_level(tmp_path: Path, level: str, severity: str) -> None:
    text = _setup(tmp_path, h.examples(0, 20), f"minExamples: {{value: 30, level: {level}}}")
    [finding] = _only(_findings(tmp_path), "policy.minExamples")
    assert (finding.line, finding.severity) == (h.line_of(text, "minExamples"), severity)
    assert "has 20 examples, fewer than minExamples 30" in finding.message


# --------------------------------------------------------------------------- tokens


def test_examples_above_the_token_limit_are_named_by_source_line(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    rows[7] = h.chat("Explain?", " ".join(h.sentence(i) for i in range(8)) + ".")
    _setup(tmp_path, rows, "minExamples: 10\nmaxTokensPerExample: 60")
    [finding] = _only(_findings(tmp_path), "policy.maxTokensPerExample")
    assert (finding.file, finding.line, finding.severity) == (h.TRAIN_FILE, 8, "error")
    assert "more than the limit of 60" in finding.message


def test_token_limit_auto_is_the_models(tmp_path: Path) -> None:
    huge = h.chat("Explain?", " ".join(h.sentence(i) for i in range(400)) + ".")
    _setup(tmp_path, [*h.examples(0, 12), huge], "minExamples: 10")
    [finding] = _only(_findings(tmp_path), "policy.maxTokensPerExample")
    assert finding.line == 13
    assert "more than the limit of 4096 (local-tiny)" in finding.message


# --------------------------------------------------------------------------- refusals


def test_refusal_ratio_above_the_threshold(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    for i in (1, 4, 9):
        rows[i] = h.chat(h.sentence(i) + "?", REFUSAL)
    text = _setup(tmp_path, rows, "minExamples: 10\nmaxRefusalRatio: {value: 0.2, level: error}")
    finding = _finding_at_policy_line(tmp_path, text, "maxRefusalRatio", "error")
    assert finding.message == (
        "3 of 12 train answers are refusals (25.0%), more than maxRefusalRatio 20.0%"
    )
    assert finding.hint == f"e.g. {h.TRAIN_FILE}:2, {h.TRAIN_FILE}:5, {h.TRAIN_FILE}:10"


def test_refusal_phrases_are_configurable(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    for i in range(4):
        rows[i] = h.chat(h.sentence(i) + "?", "Computer says no, I am afraid.")
    policy = "minExamples: 10\nmaxRefusalRatio: {value: 0.1, phrases: ['computer says no']}"
    _setup(tmp_path, rows, policy)
    [finding] = _only(_findings(tmp_path), "policy.maxRefusalRatio")
    assert finding.severity == "warning" and "4 of 12" in finding.message


# --------------------------------------------------------------------------- duplicates


def test_duplicate_ratio(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), h.example(3), h.example(5)]
    text = _setup(tmp_path, rows, "minExamples: 10\nmaxDuplicateRatio: {value: 0.1, level: error}")
    finding = _finding_at_policy_line(tmp_path, text, "maxDuplicateRatio", "error")
    assert "2 of 14 train examples are exact duplicates" in finding.message
    assert "(14.3%), more than maxDuplicateRatio 10.0%" in finding.message
    assert f"{h.TRAIN_FILE}:13" in finding.hint


def test_near_duplicate_ratio(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    for i in range(3):
        near = h.example(i)
        near["messages"][2]["content"] = near["messages"][2]["content"][:-1] + " indeed."
        rows.append(near)
    text = _setup(tmp_path, rows, "minExamples: 10\nmaxNearDuplicateRatio: 0.1")
    finding = _finding_at_policy_line(tmp_path, text, "maxNearDuplicateRatio", "warning")
    assert finding.message.startswith("3 of 15 train examples are near-duplicates")
    assert "(20.0%), more than maxNearDuplicateRatio 10.0%" in finding.message


# --------------------------------------------------------------------------- system prompt


def test_inconsistent_system_prompt_names_the_odd_example(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    rows[6] = h.example(6, system="You are a pirate.")
    rows[8] = h.example(8, system=None)
    _setup(tmp_path, rows, "minExamples: 10\nrequireSystemPrompt: consistent")
    found = _only(_findings(tmp_path), "policy.requireSystemPrompt")
    assert [(d.file, d.line, d.severity) for d in found] == [
        (h.TRAIN_FILE, 7, "warning"),
        (h.TRAIN_FILE, 9, "warning"),
    ]
    assert found[0].message == (
        'train example\'s system prompt "You are a pirate." differs from the most common '
        'one "You are Acme support."'
    )
    assert found[1].message == "train example has no system prompt"


def test_system_prompt_expected_at_inference(tmp_path: Path) -> None:
    policy = (
        "minExamples: 10\n"
        "requireSystemPrompt: {mode: required, expected: 'You are Acme.', level: error}"
    )
    _setup(tmp_path, h.examples(0, 12), policy)
    found = _only(_findings(tmp_path), "policy.requireSystemPrompt")
    assert len(found) == 12 and {d.severity for d in found} == {"error"}
    assert "differs from the expected one" in found[0].message


# --------------------------------------------------------------------------- answers


def test_missing_and_empty_answers_are_errors_at_their_line(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    rows[2] = {"messages": [{"role": "user", "content": "Hello?"}]}
    rows[5] = h.chat("Hello again?", "   ")
    _setup(tmp_path, rows, "minExamples: 10")
    found = _findings(tmp_path)
    answers = _only(found, "policy.emptyAnswers")
    assert [(d.file, d.line, d.severity) for d in answers] == [
        (h.TRAIN_FILE, 3, "error"),
        (h.TRAIN_FILE, 6, "error"),
    ]
    assert answers[0].message == "example has no assistant message"
    assert answers[1].message == "assistant message 1 of 1 is empty"
    # Reported once, by the policy, not again as format errors.
    assert [d for d in found if d.severity == "error"] == answers


def test_empty_answers_at_warn_still_build(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), h.chat("Hello?", "")]
    _setup(tmp_path, rows, "minExamples: 10\nemptyAnswers: warn")
    [finding] = _only(_findings(tmp_path), "policy.emptyAnswers")
    assert (finding.line, finding.severity) == (13, "warning")


@pytest.mark.parametrize(
    ("answer", "cut"),
    [
        ("You can reset the router from the settings page and then you", True),
        ("Open the settings, choose the network tab, and then select,", True),
        ("You can reset the router from the settings page right away.", False),
        ("You can reset the router (see the settings page for details)", False),
        ('{"intent": "reset_router", "confidence": 0.93, "steps": [1, 2, 3]}', False),
        ("Billing", False),  # short answers such as labels are not sentences
        ("Here is the code:\n```python\nprint('hello world and more words')\n```", False),
        ("You can reset the router from the settings page right away 🙂", False),
    ],
)
def test_cut_off_heuristic(answer: str, cut: bool) -> None:
    assert looks_cut_off(answer) is cut


def test_cut_off_answers_are_warnings_at_their_line(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    rows[10] = h.chat("How do I reset it?", "Hold the button for ten seconds and then release the")
    _setup(tmp_path, rows, "minExamples: 10")
    [finding] = _only(_findings(tmp_path), "policy.truncatedAnswers")
    assert (finding.file, finding.line, finding.severity) == (h.TRAIN_FILE, 11, "warning")
    assert finding.message.startswith("the answer looks cut off mid-sentence")


# --------------------------------------------------------------------------- secrets


def test_secrets_are_errors_that_never_show_the_secret(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    rows[3] = h.chat("What is the deploy key?", f"Use {key} for the bucket.")
    private = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----"
    rows[9] = h.chat(f"Is this key fine? {private}", "Please rotate it now.")
    _setup(tmp_path, rows, "minExamples: 10")
    found = _only(_findings(tmp_path), "policy.secrets")
    assert [(d.file, d.line, d.severity) for d in found] == [
        (h.TRAIN_FILE, 4, "error"),
        (h.TRAIN_FILE, 10, "error"),
    ]
    assert found[0].message.endswith("AWS Access Key")
    assert found[1].message.endswith("Private Key")
    assert all(key not in str(d) for d in found)


def test_secret_check_off(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), h.chat("Key?", "AKIA" + "IOSFODNN7EXAMPLE is it.")]
    _setup(tmp_path, rows, "minExamples: 10\nsecrets: 'off'")
    assert _only(_findings(tmp_path), "policy.secrets") == []


# --------------------------------------------------------------------------- diversity


def test_low_prompt_diversity(tmp_path: Path) -> None:
    rows = [h.chat("Where is my order?", h.sentence(i) + ".") for i in range(10)]
    rows += h.examples(100, 4)
    text = _setup(
        tmp_path,
        rows,
        "minExamples: 10\nminPromptDiversity: {value: 0.5, level: error}",
    )
    finding = _finding_at_policy_line(tmp_path, text, "minPromptDiversity", "error")
    assert finding.message == (
        "only 5 distinct user prompts in 14 train examples (35.7%), "
        "less than minPromptDiversity 50.0%"
    )
    assert finding.hint == 'the most common, 10 times: "where is my order?"'


# --------------------------------------------------------------------------- budget


def test_budget_uses_the_catalog_price_and_epochs(tmp_path: Path) -> None:
    text = _setup(
        tmp_path,
        h.examples(0, 40),
        "minExamples: 10\nbudget: {maxCostUsd: 0.0001}",
        training="hyperparameters: {nEpochs: 4}",
        model="gpt-4o-mini-2024-07-18",
    )
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [finding] = _only(list(caught.value.diagnostics), "policy.budget.maxCostUsd")
    assert (finding.file, finding.line, finding.severity) == (
        h.PROJECT_FILE,
        h.line_of(text, "budget"),
        "error",
    )
    assert "4 epochs of gpt-4o-mini-2024-07-18" in finding.message
    assert "exceeds maxCostUsd $0.00" in finding.message

    (tmp_path / h.PROJECT_FILE).write_text(text.replace("0.0001", "100"))
    built = build_project(*h.load(tmp_path))
    tokens = built.splits["train"].tokens
    assert built.cost.epochs == 4 and built.cost.billed_tokens == 4 * tokens
    assert built.cost.cost_usd == pytest.approx(4 * tokens * 3.00 / 1_000_000)


# --------------------------------------------------------------------------- where


def test_a_threshold_from_workspace_defaults_points_at_ftctl_yaml(tmp_path: Path) -> None:
    rows = h.examples(0, 12)
    for i in range(5):
        rows[i] = h.chat(h.sentence(i) + "?", REFUSAL)
    _setup(tmp_path, rows, "minExamples: 10")
    workspace_yaml = (
        h.WORKSPACE_YAML + "  policy:\n    maxRefusalRatio: {value: 0.3, level: error}\n"
    )
    (tmp_path / "ftctl.yaml").write_text(workspace_yaml)
    [finding] = _only(_findings(tmp_path), "policy.maxRefusalRatio")
    assert (finding.file, finding.line, finding.severity) == (
        "ftctl.yaml",
        h.line_of(workspace_yaml, "maxRefusalRatio"),
        "error",
    )


def test_validate_project_data_returns_findings_instead_of_raising(tmp_path: Path) -> None:
    rows = [*h.examples(0, 12), h.chat("Hello?", "")]
    _setup(tmp_path, rows, "minExamples: 10")
    found = validate_project_data(*h.load(tmp_path))
    assert [(d.line, d.field, d.severity) for d in found] == [(13, "policy.emptyAnswers", "error")]
    project, workspace = h.load(tmp_path)
    (tmp_path / "projects/demo/data/train.jsonl").unlink()
    [missing] = validate_project_data(project, workspace)
    assert missing.field == "spec.data.train.sources[0].path"


def test_a_long_shared_system_prompt_does_not_make_short_examples_alike(tmp_path: Path) -> None:
    system = " ".join(h.sentence(9000 + i) + "." for i in range(12))  # ~170 words
    rows = [
        h.chat(f"Where is order {i}?", f"Order {i} ships {h.sentence(i, words=3)}.", system)
        for i in range(30)
    ]
    test = [h.chat(f"Can I return item {i}?", "Yes, within thirty days.", system) for i in range(5)]
    data = TRAIN + "test:\n  sources:\n    - path: data/test.jsonl\n"
    text = h.project_yaml(data, policy="minExamples: 10\nmaxNearDuplicateRatio: 0.01")
    h.write_workspace(tmp_path, text, {"data/train.jsonl": rows, "data/test.jsonl": test})
    found = _findings(tmp_path)
    assert _only(found, "policy.maxNearDuplicateRatio") == []
    assert _only(found, "policy.leakage") == []


# --------------------------------------------------------------------------- leakage


def _leakage_result(root: Path) -> dict[str, Any]:
    project, workspace = h.load(root)
    built = build_project(project, workspace)
    [result] = [r for r in built.report["policy"] if r["check"] == "leakage"]
    return result


@pytest.mark.parametrize(("level", "observed"), [("warn", 1), ("off", None)])
def test_leakage_observed_counts_leaks_only_when_checked(
    tmp_path: Path, level: str, observed: int | None
) -> None:
    """Off, nothing is searched: the report says not checked (None), not 0 leaks."""
    test = [h.example(4)]  # the same prompt as train row 5
    data = TRAIN + "test:\n  sources:\n    - path: data/test.jsonl\n"
    text = h.project_yaml(data, policy=f"minExamples: 10\nleakage: {level}")
    h.write_workspace(
        tmp_path, text, {"data/train.jsonl": h.examples(0, 12), "data/test.jsonl": test}
    )
    result = _leakage_result(tmp_path)
    assert (result["observed"], result["findings"]) == (observed, 1 if observed else 0)
