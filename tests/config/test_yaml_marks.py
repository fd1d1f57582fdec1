"""The marked YAML reader: positions, duplicate keys, YAML 1.2 scalars, merges."""

from __future__ import annotations

from pathlib import Path

from ftctl.config.yaml_marks import format_field_path, parse_yaml


def _parse(text: str):  # type: ignore[no-untyped-def]
    return parse_yaml(text, Path("f.yaml"), "f.yaml")


def test_keys_values_and_list_items_have_positions() -> None:
    parsed = _parse("a:\n  b: [1, {c: x}]\n  d:\n    - e: 1\n")
    source_map = parsed.source_map
    assert parsed.diagnostics == ()
    assert source_map.locate(("a",)) == (1, 1)
    assert source_map.locate(("a", "b")) == (2, 3)
    assert source_map.position(("a", "b"), value=True).column == 6
    assert source_map.locate(("a", "b", 1, "c")) == (2, 11)
    assert source_map.locate(("a", "d", 0)) == (4, 7)
    assert source_map.locate(("a", "d", 0, "e")) == (4, 7)
    assert source_map.locate(("a", "missing", "deeper")) == (1, 1)


def test_duplicate_keys_are_reported_and_the_first_is_kept() -> None:
    parsed = _parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert parsed.data == {"a": 1, "b": {"c": 1}}
    assert [str(d) for d in parsed.diagnostics] == [
        "f.yaml:4:3: error: b.c: duplicate key 'c' (first defined on line 3)",
        "f.yaml:5:1: error: a: duplicate key 'a' (first defined on line 1)",
    ]


def test_merge_keys_may_be_overridden_without_a_duplicate_error() -> None:
    parsed = _parse("base: &base {x: 1, y: 2}\nthing:\n  <<: *base\n  y: 3\n")
    assert parsed.diagnostics == ()
    assert parsed.data["thing"] == {"x": 1, "y": 3}


def test_yaml_1_2_scalars() -> None:
    parsed = _parse("a: off\nb: yes\nc: true\nd: False\ne: 2024-01-01\nf: 0.5\n")
    assert parsed.data == {
        "a": "off",
        "b": "yes",
        "c": True,
        "d": False,
        "e": "2024-01-01",
        "f": 0.5,
    }


def test_syntax_errors_have_file_line_and_column() -> None:
    parsed = _parse("a: 1\nb: [1, 2\nc: 3\n")
    assert parsed.data is None
    (diagnostic,) = parsed.diagnostics
    assert (diagnostic.file, diagnostic.line) == ("f.yaml", 3)
    assert "started on line 2" in diagnostic.message


def test_several_documents_are_an_error() -> None:
    (diagnostic,) = _parse("a: 1\n---\nb: 2\n").diagnostics
    assert diagnostic.line == 2
    assert "expected a single document" in diagnostic.message


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    parsed = _parse("a: &x [1, *x]\n")
    assert [d.message for d in parsed.diagnostics] == ["recursive YAML alias"]


def test_field_path_format() -> None:
    assert format_field_path(("spec", "data", "train", "sources", 0, "path")) == (
        "spec.data.train.sources[0].path"
    )
    assert format_field_path(()) == ""


def test_aliases_of_aliases_are_refused_before_they_blow_up() -> None:
    # Ten levels of ten aliases each would be 10**10 values ("billion laughs").
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    parsed = _parse("\n".join(lines) + "\n")

    assert parsed.data is None
    [diagnostic] = parsed.diagnostics
    assert (diagnostic.line, diagnostic.field) == (4, "a3")  # 10**4 values: over the limit
    assert "aliases expand to more than 10,000 values" in diagnostic.message


def test_a_few_aliases_still_work() -> None:
    parsed = _parse("base: &base {level: warn, value: 0.1}\nx: *base\ny: *base\n")

    assert parsed.diagnostics == ()
    assert parsed.data["x"] == parsed.data["y"] == {"level": "warn", "value": 0.1}


def test_deep_nesting_is_a_diagnostic_not_a_recursion_error() -> None:
    just_over = _parse("spec: " + "{a: " * 60 + "1" + "}" * 60 + "\n")
    [diagnostic] = just_over.diagnostics
    assert diagnostic.line == 1
    assert "nested more than 50 levels deep" in diagnostic.message

    # So deep that the YAML composer itself would exceed Python's recursion limit.
    far_over = _parse("x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert far_over.data is None
    assert [d.message for d in far_over.diagnostics] == [
        "nested too deeply to read (more than 50 levels is refused)"
    ]


def test_a_second_document_is_reported_where_it_starts() -> None:
    parsed = _parse("---\na: 1\n---\nb: 2\n")

    assert [str(d) for d in parsed.diagnostics] == [
        "f.yaml:3:1: error: YAML syntax error: expected a single document in the stream "
        "(line 2), but found another document"
    ]
