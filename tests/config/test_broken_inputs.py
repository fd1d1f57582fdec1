"""A corpus of broken workspaces: each must give exactly one diagnostic, in the right place.

Every case edits the valid workspace of `conftest.py` and asserts the file, line, column
(of `token` in that line), the YAML field path and the message: what a user needs to fix
the file without guessing. Exactly one diagnostic per case also proves there is no
cascade of follow-on errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ftctl.config.loader import read_workspace

PROJECT = "projects/demo/project.yaml"
WORKSPACE = "ftctl.yaml"


@dataclass(frozen=True)
class Broken:
    id: str
    edits: tuple[tuple[str, str], ...]
    line: int
    token: str | None  # the column is where this text starts on `line`; None: column 1
    field: str
    message: str
    hint: str = ""
    file: str = PROJECT
    setup: Callable[[Path], None] | None = None


def _symlink_train_outside(root: Path) -> None:
    outside = root.parent / "secret.jsonl"
    outside.write_text('{"messages": []}\n')
    train = root / "projects/demo/data/train.jsonl"
    train.unlink()
    os.symlink(outside, train)


def _remove_grader_schema(root: Path) -> None:
    (root / "projects/demo/evals/answer.schema.json").unlink()


def _break_grader_schema(root: Path) -> None:
    (root / "projects/demo/evals/answer.schema.json").write_text('{"type": "object",\n')


def _invalid_grader_schema(root: Path) -> None:
    (root / "projects/demo/evals/answer.schema.json").write_text('{"type": "objekt"}\n')


CASES = [
    Broken(
        "typo-key-did-you-mean",
        (("  baseModel: local-tiny", "  baseModle: local-tiny"),),
        8,
        "baseModle",
        "spec.baseModle",
        "unknown key 'baseModle'",
        hint="did you mean 'baseModel'?",
    ),
    Broken(
        "n-epochs-not-a-number",
        (("nEpochs: 3", "nEpochs: abc"),),
        26,
        "abc",
        "spec.training.hyperparameters.nEpochs",
        "should be a valid integer or 'auto' (got 'abc')",
    ),
    Broken(
        "n-epochs-out-of-range",
        (("nEpochs: 3", "nEpochs: 100"),),
        26,
        "100",
        "spec.training.hyperparameters.nEpochs",
        "between 1 and 50",
    ),
    Broken(
        "snake-case-key",
        (("nEpochs: 3", "n_epochs: 3"),),
        26,
        "n_epochs",
        "spec.training.hyperparameters.n_epochs",
        "unknown key 'n_epochs'",
        hint="did you mean 'nEpochs'?",
    ),
    Broken(
        "beta-without-dpo",
        (("nEpochs: 3", "beta: 0.5"),),
        26,
        "0.5",
        "spec.training.hyperparameters.beta",
        "only valid with method: dpo",
    ),
    Broken(
        "method-misspelt",
        (("method: supervised", "method: supervized"),),
        24,
        "supervized",
        "spec.training.method",
        "should be 'supervised', 'dpo' or 'reinforcement'",
        hint="did you mean 'supervised'?",
    ),
    Broken(
        "source-unknown-key",
        (("- path: data/train.jsonl", "- {path: data/train.jsonl, limt: 3}"),),
        12,
        "limt",
        "spec.data.train.sources[0].limt",
        "unknown key 'limt'",
        hint="did you mean 'limit'?",
    ),
    Broken(
        "source-empty",
        (("- path: data/train.jsonl", "- {}"),),
        12,
        "{}",
        "spec.data.train.sources[0]",
        "needs exactly one of 'git', 'inline', 'path'",
    ),
    Broken(
        "transform-misspelt",
        (("- dedupe: {}", "- dedup: {}"),),
        14,
        "dedup",
        "spec.data.train.transforms[0].dedup",
        "unknown key 'dedup'",
        hint="did you mean 'dedupe'?",
    ),
    Broken(
        "transforms-combined-in-one-item",
        (("- dedupe: {}", "- {dedupe: {}, systemPrompt: {text: x}}"),),
        14,
        "{dedupe",
        "spec.data.train.transforms[0]",
        "cannot combine 'dedupe' and 'systemPrompt' in one item",
        hint="write each as its own list item",
    ),
    Broken(
        "split-fraction-too-big",
        (("fraction: 0.1", "fraction: 2"),),
        16,
        "2,",
        "spec.data.validation.split.fraction",
        "should be less than 1 (got 2)",
    ),
    Broken(
        "ratio-not-a-number",
        (("maxRefusalRatio: 0.2", "maxRefusalRatio: lots"),),
        21,
        "lots",
        "spec.policy.maxRefusalRatio",
        "should be a valid number",
    ),
    Broken(
        "ratio-above-one",
        (("maxRefusalRatio: 0.2", "maxRefusalRatio: {value: 1.5, level: error}"),),
        21,
        "1.5",
        "spec.policy.maxRefusalRatio.value",
        "less than or equal to 1",
    ),
    Broken(
        "system-prompt-mode-unknown",
        (("requireSystemPrompt: consistent", "requireSystemPrompt: sometimes"),),
        22,
        "sometimes",
        "spec.policy.requireSystemPrompt",
        "should be 'consistent', 'required' or 'off'",
    ),
    Broken(
        "grader-type-misspelt",
        (("type: json_schema", "type: json_schma"),),
        32,
        "json_schma",
        "spec.gates.evals.graders[0].type",
        "unknown type 'json_schma'",
        hint="did you mean 'json_schema'?",
    ),
    Broken(
        "metric-gate-without-bound",
        (("{metric: full_valid_loss, max: 2.0}", "{metric: full_valid_loss}"),),
        29,
        "{metric",
        "spec.gates.metrics[0]",
        "a metric gate needs min or max",
    ),
    Broken(
        "metric-name-unknown",
        (("metric: full_valid_loss", "metric: valid_los"),),
        29,
        "valid_los",
        "spec.gates.metrics[0].metric",
        "should be 'train_loss'",
        hint="did you mean 'valid_loss'?",
    ),
    Broken(
        "required-key-missing",
        (("  baseModel: local-tiny", "  suffix: demo"),),
        6,
        "spec",
        "spec.baseModel",
        "required key 'baseModel' is missing",
    ),
    Broken(
        "api-version-wrong-no-cascade",
        (("apiVersion: ftctl/v1", "apiVersion: ftctl/v2"), ("baseModel", "baseModle")),
        2,
        "ftctl/v2",
        "apiVersion",
        "unsupported apiVersion 'ftctl/v2'",
    ),
    Broken(
        "api-version-missing",
        (("apiVersion: ftctl/v1", "# (no apiVersion)"),),
        3,
        None,
        "apiVersion",
        "required key 'apiVersion' is missing",
    ),
    Broken(
        "kind-of-the-other-file",
        (("kind: FineTuneProject", "kind: Workspace"),),
        3,
        "Workspace",
        "kind",
        "expected kind FineTuneProject, got 'Workspace'",
    ),
    Broken(
        "duplicate-key",
        (("  provider: local", "  baseModel: other"),),
        8,
        "baseModel",
        "spec.baseModel",
        "duplicate key 'baseModel' (first defined on line 7)",
    ),
    Broken(
        "yaml-tab-indentation",
        (("  baseModel: local-tiny", "\tbaseModel: local-tiny"),),
        8,
        None,
        "",
        "YAML syntax error: found character '\\t' that cannot start any token",
    ),
    Broken(
        "yaml-unclosed-quote",
        (("name: demo", 'name: "demo'),),
        5,
        '"demo',
        "",
        "YAML syntax error: found unexpected end of stream while scanning a quoted scalar started on line 5",
    ),
    Broken(
        "project-name-invalid",
        (("name: demo", "name: Demo_Bot"),),
        5,
        "Demo_Bot",
        "metadata.name",
        "lowercase letters, digits or '-'",
    ),
    Broken(
        "training-is-a-list",
        (
            (
                "  training:\n    method: supervised\n    hyperparameters:\n      nEpochs: 3",
                "  training: [supervised]\n  #\n  #\n  #",
            ),
        ),
        23,
        "training",
        "spec.training",
        "should be a mapping (got a list)",
    ),
    Broken(
        "provider-unknown",
        (("provider: local", "provider: locall"),),
        7,
        "locall",
        "spec.provider",
        "unknown provider 'locall'",
        hint="did you mean 'local'?",
    ),
    Broken(
        "source-escapes-workspace",
        (("path: data/train.jsonl", "path: ../../../outside.jsonl"),),
        12,
        "../",
        "spec.data.train.sources[0].path",
        "escapes the workspace",
    ),
    Broken(
        "source-absolute",
        (("path: data/train.jsonl", "path: /etc/hostname"),),
        12,
        "/etc",
        "spec.data.train.sources[0].path",
        "absolute path '/etc/hostname'",
    ),
    Broken(
        "source-glob-matches-nothing",
        (("path: data/train.jsonl", "path: data/*.parquet"),),
        12,
        "data/",
        "spec.data.train.sources[0].path",
        "glob 'data/*.parquet' matches no file",
    ),
    Broken(
        "source-missing-file",
        (("path: data/test.jsonl", "path: data/tset.jsonl"),),
        19,
        "data/",
        "spec.data.test.sources[0].path",
        "file not found: projects/demo/data/tset.jsonl",
    ),
    Broken(
        "source-symlink-outside",
        (),
        12,
        "data/",
        "spec.data.train.sources[0].path",
        "outside the workspace",
        setup=_symlink_train_outside,
    ),
    Broken(
        "git-source-escapes",
        (("- path: data/test.jsonl", "- git: {rev: v1, path: ../../x.jsonl}"),),
        19,
        "../",
        "spec.data.test.sources[0].git.path",
        "escapes the workspace",
    ),
    Broken(
        "grader-schema-missing",
        (),
        32,
        "evals/",
        "spec.gates.evals.graders[0].schema",
        "file not found: projects/demo/evals/answer.schema.json",
        setup=_remove_grader_schema,
    ),
    Broken(
        "grader-schema-not-json",
        (),
        32,
        "evals/",
        "spec.gates.evals.graders[0].schema",
        "cannot read JSON schema",
        setup=_break_grader_schema,
    ),
    Broken(
        "grader-schema-not-a-schema",
        (),
        32,
        "evals/",
        "spec.gates.evals.graders[0].schema",
        "not a valid JSON Schema",
        setup=_invalid_grader_schema,
    ),
    Broken(
        "eval-gate-without-test-split",
        (("    test:\n      sources:\n        - path: data/test.jsonl", "    #\n    #\n    #"),),
        30,
        "evals",
        "spec.gates.evals.dataset",
        "uses the test split",
    ),
    Broken(
        "workspace-default-provider-unknown",
        (),
        12,
        "lokal",
        "defaults.provider",
        "unknown provider 'lokal'",
        hint="did you mean 'local'?",
        file=WORKSPACE,
        setup=lambda root: _edit(root / WORKSPACE, "provider: local", "provider: lokal"),
    ),
    Broken(
        "workspace-provider-type-misspelt",
        (),
        10,
        "open-ai",
        "providers.openai.type",
        "unknown type 'open-ai'",
        hint="did you mean 'openai'?",
        file=WORKSPACE,
        setup=lambda root: _edit(root / WORKSPACE, "type: openai", "type: open-ai"),
    ),
    Broken(
        "workspace-top-level-typo",
        (),
        11,
        "defaultz",
        "defaultz",
        "unknown key 'defaultz'",
        hint="did you mean 'defaults'?",
        file=WORKSPACE,
        setup=lambda root: _edit(root / WORKSPACE, "defaults:", "defaultz:"),
    ),
    Broken(
        "workspace-project-glob-escapes",
        (),
        14,
        "../",
        "projects[0]",
        "escapes the workspace",
        file=WORKSPACE,
        setup=lambda root: _append(root / WORKSPACE, "projects:\n  - ../*/project.yaml\n"),
    ),
]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_input_is_reported_once_at_its_place(workspace: Path, case: Broken) -> None:
    for old, new in case.edits:
        _edit(workspace / PROJECT, old, new)
    if case.setup:
        case.setup(workspace)

    report = read_workspace(workspace)

    assert not report.valid
    assert len(report.diagnostics) == 1, "\n".join(map(str, report.diagnostics))
    diagnostic = report.diagnostics[0]
    line_text = (workspace / case.file).read_text().splitlines()[case.line - 1]
    column = 1 if case.token is None else line_text.index(case.token) + 1
    assert (diagnostic.file, diagnostic.line, diagnostic.column) == (case.file, case.line, column)
    assert diagnostic.field == case.field
    assert case.message in diagnostic.message
    assert diagnostic.hint == case.hint
    assert str(diagnostic).startswith(f"{case.file}:{case.line}:{column}: error: ")
    # A broken project file never yields a loaded project.
    if case.file == PROJECT:
        assert "demo" not in [p.name for p in report.projects]


@pytest.mark.parametrize("replacement", ["[]", "{}", "null", "7", "'x y'", "[{}]"])
def test_any_value_replaced_gives_located_diagnostics_never_a_crash(
    workspace: Path, replacement: str
) -> None:
    """Every value of the valid project, replaced in turn: errors always have a place."""
    path = workspace / PROJECT
    original = path.read_text().splitlines()
    for index, line in enumerate(original):
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        key, _, _ = line.partition(":")
        mutated = [*original[:index], f"{key}: {replacement}", *original[index + 1 :]]
        path.write_text("\n".join(mutated) + "\n")

        report = read_workspace(workspace)

        for diagnostic in report.diagnostics:
            assert diagnostic.file == PROJECT, diagnostic
            assert diagnostic.line is not None and 1 <= diagnostic.line <= len(mutated)
            assert diagnostic.message
