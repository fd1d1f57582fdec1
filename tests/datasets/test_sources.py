"""Sources: local files and globs, git revisions, inline rows; limit and weight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git
import pytest

from ftctl.datasets.build import BuiltProject, build_project
from ftctl.errors import ConfigError, DataError, Diagnostic

from . import build_helpers as h

ONE_SOURCE = """
train:
  sources:
    - path: {path}
"""


def _build(root: Path) -> BuiltProject:
    return build_project(*h.load(root))


def test_a_path_source_keeps_file_and_line_of_every_row(tmp_path: Path) -> None:
    # A build needs ten examples: the three looked at, then more.
    rows = [h.example(1), "", h.example(2), "   ", h.example(3), *h.examples(10, 10)]
    h.write_workspace(
        tmp_path,
        h.project_yaml(ONE_SOURCE.format(path="data/train.jsonl")),
        {"data/train.jsonl": rows},
    )
    built = _build(tmp_path)
    assert h.built_origins(built)[:4] == [
        f"{h.TRAIN_FILE}:1",
        f"{h.TRAIN_FILE}:3",
        f"{h.TRAIN_FILE}:5",
        f"{h.TRAIN_FILE}:6",
    ]
    assert h.built_rows(built)[:3] == [h.example(1), h.example(2), h.example(3)]


def test_a_glob_reads_its_files_in_sorted_order(tmp_path: Path) -> None:
    files = {
        "data/b.jsonl": h.examples(20, 3),
        "data/a.jsonl": h.examples(10, 3),
        "data/c/z.jsonl": h.examples(40, 3),
        "data/c/m.jsonl": h.examples(30, 3),
    }
    h.write_workspace(tmp_path, h.project_yaml(ONE_SOURCE.format(path="'data/**/*.jsonl'")), files)
    built = _build(tmp_path)
    assert [f["file"] for f in built.report["splits"]["train"]["sources"][0]["files"]] == [
        "projects/demo/data/a.jsonl",
        "projects/demo/data/b.jsonl",
        "projects/demo/data/c/m.jsonl",
        "projects/demo/data/c/z.jsonl",
    ]
    assert h.built_rows(built) == [h.example(i + j) for i in (10, 20, 30, 40) for j in range(3)]


def test_limit_keeps_the_first_rows_across_the_files_of_a_glob(tmp_path: Path) -> None:
    files = {"data/a.jsonl": h.examples(0, 10), "data/b.jsonl": h.examples(10, 10)}
    data = ONE_SOURCE.format(path="'data/*.jsonl'") + "      limit: 12\n"
    h.write_workspace(tmp_path, h.project_yaml(data), files)
    built = _build(tmp_path)
    assert h.built_rows(built) == h.examples(0, 12)
    assert h.built_origins(built)[-1] == "projects/demo/data/b.jsonl:2"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("data/train.jsonl", "file not found: projects/demo/data/train.jsonl"),
        ("'data/*.jsonl'", "glob 'data/*.jsonl' matches no file"),
    ],
)
def test_a_file_gone_since_loading_names_the_source_line_in_project_yaml(
    tmp_path: Path, path: str, message: str
) -> None:
    # The config loader checks files exist; the build checks again when it reads them.
    text = h.project_yaml(ONE_SOURCE.format(path=path))
    project_dir = h.write_workspace(tmp_path, text, {"data/train.jsonl": h.examples(0, 20)})
    project, workspace = h.load(tmp_path)
    (project_dir / "data/train.jsonl").unlink()
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.file == h.PROJECT_FILE
    assert diagnostic.line == h.line_of(text, "- path:")
    assert diagnostic.field == "spec.data.train.sources[0].path"
    assert diagnostic.message == message


def test_broken_rows_are_reported_at_their_source_line(tmp_path: Path) -> None:
    train = tmp_path / "projects/demo/data/train.jsonl"
    h.write_workspace(tmp_path, h.project_yaml(ONE_SOURCE.format(path="data/train.jsonl")))
    good = h.examples(0, 12)
    lines = [h.json_line(e) for e in good[:3]] + ['{"messages": [', "[1, 2]"]
    train.parent.mkdir(parents=True, exist_ok=True)
    train.write_bytes(
        "\n".join(lines).encode()
        + b'\n{"messages": "caf\xe9"}\n'
        + b"\n".join(h.json_line(e).encode() for e in good[3:])
        + b"\n"
    )
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    found = {(d.file, d.line, d.field) for d in caught.value.diagnostics}
    assert found == {
        (h.TRAIN_FILE, 4, "invalid_json"),
        (h.TRAIN_FILE, 5, "example"),
        (h.TRAIN_FILE, 6, "invalid_utf8"),
    }


def test_inline_rows_point_at_their_line_in_project_yaml(tmp_path: Path) -> None:
    data = """
train:
  sources:
    - path: data/train.jsonl
    - inline:
        - {messages: [{role: user, content: "Inline question one?"}, {role: assistant, content: "Inline answer one."}]}
        - {messages: [{role: user, content: "Inline question two?"}, {role: assistant, content: ""}]}
"""
    text = h.project_yaml(data)
    h.write_workspace(tmp_path, text, {"data/train.jsonl": h.examples(0, 12)})
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [empty] = [d for d in caught.value.diagnostics if d.field == "policy.emptyAnswers"]
    assert (empty.file, empty.line) == (h.PROJECT_FILE, h.line_of(text, "Inline question two"))


def test_weight_two_repeats_every_row_and_a_half_keeps_a_stable_half(tmp_path: Path) -> None:
    rows = h.examples(0, 400)
    weighted = ONE_SOURCE.format(path="data/train.jsonl") + "      weight: {weight}\n"

    def build(root: Path, weight: float, data: list[Any]) -> BuiltProject:
        files = {"data/train.jsonl": data}
        policy = 'minExamples: 10\nmaxDuplicateRatio: {level: "off"}'
        h.write_workspace(root, h.project_yaml(weighted.format(weight=weight), policy), files)
        return _build(root)

    doubled = build(tmp_path / "two", 2, rows)
    assert h.built_rows(doubled) == [e for e in rows for e in (e, e)]  # repeats follow
    halved = build(tmp_path / "half", 0.5, rows)
    kept = h.built_rows(halved)
    assert 160 <= len(kept) <= 240  # a hash-selected half, not the first half
    assert kept != rows[: len(kept)]
    # Stable: the same rows are kept when other rows are added or the order changes.
    more = list(reversed(rows + h.examples(5000, 100)))
    again = h.built_rows(build(tmp_path / "more", 0.5, more))
    as_json = {h.canonical(e) for e in again}
    assert {h.canonical(e) for e in kept} == as_json & {h.canonical(e) for e in rows}


def test_weights_mix_sources_in_a_build(tmp_path: Path) -> None:
    data = """
train:
  sources:
    - path: data/a.jsonl
      weight: 2
    - path: data/b.jsonl
      limit: 5
"""
    files = {"data/a.jsonl": h.examples(0, 10), "data/b.jsonl": h.examples(100, 10)}
    h.write_workspace(tmp_path, h.project_yaml(data, policy="minExamples: 10"), files)
    project, workspace = h.load(tmp_path)
    built = build_project(project, workspace)
    assert built.splits["train"].examples == 25
    # Intentional repeats are not duplicates.
    assert not [d for d in built.diagnostics if d.field == "policy.maxDuplicateRatio"]
    sources = built.report["splits"]["train"]["sources"]
    assert [(s["rows_read"], s["rows_kept"]) for s in sources] == [(10, 10), (5, 5)]


# --------------------------------------------------------------------------- git


GIT_SOURCE = """
train:
  sources:
    - git:
        rev: "{rev}"
        path: data/train.jsonl
"""


def _repo_with_history(root: Path) -> git.Repo:
    """A repo whose data/train.jsonl had 12 rows at tag v1 and 15 (changed) rows now."""
    project_dir = h.write_workspace(root, h.project_yaml(GIT_SOURCE.format(rev="v1")))
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.com")
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 12))
    repo.index.add(["ftctl.yaml", "projects/demo/project.yaml", "projects/demo/data/train.jsonl"])
    repo.index.commit("v1 data")
    repo.create_tag("v1")
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(500, 15))
    repo.index.add(["projects/demo/data/train.jsonl"])
    repo.index.commit("new data")
    return repo


def test_a_git_source_reads_the_file_as_it_was_at_the_revision(tmp_path: Path) -> None:
    repo = _repo_with_history(tmp_path)
    project, workspace = h.load(tmp_path)
    old = build_project(project, workspace)
    assert old.splits["train"].examples == 12
    lines = old.splits["train"].path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == h.canonical(h.example(0))
    origins = (old.splits["train"].path.with_suffix(".origins.jsonl")).read_text().splitlines()
    assert origins[2] == '["projects/demo/data/train.jsonl@v1",3]'

    first_commit = repo.commit("v1").hexsha
    (project.path).write_text(h.project_yaml(GIT_SOURCE.format(rev=first_commit[:10])))
    project, workspace = h.load(tmp_path)
    assert build_project(project, workspace).splits["train"].sha256 == old.splits["train"].sha256

    (project.path).write_text(h.project_yaml(GIT_SOURCE.format(rev="HEAD")))
    project, workspace = h.load(tmp_path)
    assert build_project(project, workspace).splits["train"].examples == 15


def test_an_unknown_revision_names_the_rev_line(tmp_path: Path) -> None:
    _repo_with_history(tmp_path)
    text = h.project_yaml(GIT_SOURCE.format(rev="v9.9"))
    (tmp_path / h.PROJECT_FILE).write_text(text)
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.line) == (h.PROJECT_FILE, h.line_of(text, 'rev: "v9.9"'))
    assert diagnostic.field == "spec.data.train.sources[0].git.rev"
    assert "unknown git revision 'v9.9'" in diagnostic.message


def test_a_commit_hash_of_digits_read_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    text = h.project_yaml(GIT_SOURCE.format(rev="4500704823").replace('"4500704823"', "4500704823"))
    h.write_workspace(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        h.load(tmp_path)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.field) == (
        h.line_of(text, "rev: 4500704823"),
        "spec.data.train.sources[0].git.rev",
    )
    assert 'quote it, e.g. rev: "4500704823"' in diagnostic.message


def test_a_path_missing_at_the_revision_names_the_path_line(tmp_path: Path) -> None:
    _repo_with_history(tmp_path)
    text = h.project_yaml(GIT_SOURCE.format(rev="v1").replace("data/train.jsonl", "data/old.jsonl"))
    (tmp_path / h.PROJECT_FILE).write_text(text)
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError) as caught:
        build_project(project, workspace)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.field) == (
        h.line_of(text, "path: data/old.jsonl"),
        "spec.data.train.sources[0].git.path",
    )
    assert "'projects/demo/data/old.jsonl' does not exist at revision 'v1'" in diagnostic.message


def test_a_file_in_the_wrong_format_lists_the_first_hundred_errors(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(ONE_SOURCE.format(path="data/train.jsonl")))
    csv = "question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(129))
    (tmp_path / h.TRAIN_FILE).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / h.TRAIN_FILE).write_text(csv)
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    diagnostics = caught.value.diagnostics
    assert len(diagnostics) == 101
    assert [d.line for d in diagnostics[1:4]] == [1, 2, 3]
    assert diagnostics[0] == Diagnostic(
        file=h.TRAIN_FILE, message="30 more row error(s) in this file not listed"
    )


def test_an_inline_row_that_is_not_json_is_an_error_at_its_line(tmp_path: Path) -> None:
    data = """
train:
  sources:
    - path: data/train.jsonl
    - inline:
        - {messages: [{role: user, content: "Hi?"}, {role: assistant, content: "Hello."}], score: .nan}
"""
    text = h.project_yaml(data)
    h.write_workspace(tmp_path, text, {"data/train.jsonl": h.examples(0, 12)})
    with pytest.raises(DataError) as caught:
        build_project(*h.load(tmp_path))
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.field) == (
        h.line_of(text, "score: .nan"),
        "spec.data.train.sources[1].inline[0]",
    )
    assert diagnostic.message.startswith("the row is not JSON")
