"""Example shapes: valid examples of every format pass; each problem has its category and path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.catalog.models import lookup_model
from ftctl.cli.data_cmd import render_report
from ftctl.datasets.formats import (
    CATEGORIES,
    FORMATS,
    Format,
    check_example,
    detect_format,
    plain_chat_messages,
)
from ftctl.datasets.stats import compute_stats

SYSTEM = {"role": "system", "content": "You are Acme support."}
USER = {"role": "user", "content": "Where is my order?"}
ANSWER = {"role": "assistant", "content": "It ships tomorrow."}
CALL = {
    "role": "assistant",
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "track", "arguments": '{"id": 7}'},
        }
    ],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "track",
            "description": "Track an order",
            "parameters": {"type": "object"},
        },
    }
]

VALID: list[tuple[Format, dict[str, Any]]] = [
    ("chat", {"messages": [SYSTEM, USER, ANSWER]}),
    (
        "chat",
        {
            "messages": [
                {"role": "developer", "content": "Be brief.", "name": "policy"},
                {"role": "user", "content": "hi", "name": "alice"},
                {"role": "assistant", "content": "Hello.", "weight": 0},
                USER,
                CALL,
                TOOL_RESULT,
                {"role": "assistant", "content": "Shipped.", "weight": 1},
            ],
            "tools": TOOLS,
            "parallel_tool_calls": False,
        },
    ),
    (
        "chat",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "track", "arguments": "{}"},
                },
                {"role": "function", "name": "track", "content": "shipped"},
                ANSWER,
            ],
            "functions": [{"name": "track", "parameters": {"type": "object"}}],
        },
    ),
    (
        "chat",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                        },
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
            ]
        },
    ),
    (
        "dpo",
        {
            "input": {"messages": [USER], "tools": TOOLS},
            "preferred_output": [ANSWER],
            "non_preferred_output": [{"role": "assistant", "content": "Dunno."}],
        },
    ),
    ("reinforcement", {"messages": [SYSTEM, USER], "reference_answer": "tomorrow", "id": 3}),
    (
        "reinforcement",
        {"messages": [{"role": "developer", "content": "Solve: 2+2"}], "tools": TOOLS},
    ),
]


@pytest.mark.parametrize(("fmt", "example"), VALID)
def test_valid_examples_pass_and_are_detected(fmt: Format, example: dict[str, Any]) -> None:
    assert check_example(example, fmt) == []
    assert detect_format(example) == fmt


def chat(*messages: Any, **top: Any) -> dict[str, Any]:
    return {"messages": list(messages), **top}


INVALID: list[tuple[str, Format, object, str, str]] = [
    # (test id, format, example, category, path)
    ("not an object", "chat", ["a"], "data_type", "$"),
    ("no messages", "chat", {"prompt": "x"}, "missing_messages_list", "$.messages"),
    ("empty messages", "chat", {"messages": []}, "missing_messages_list", "$.messages"),
    ("top key", "chat", chat(USER, ANSWER, temperature=1), "unrecognized_key", "$.temperature"),
    ("odd top key", "chat", chat(USER, ANSWER, **{"a b": 1}), "unrecognized_key", '$["a b"]'),
    ("message not object", "chat", chat("hi", ANSWER), "invalid_message", "$.messages[0]"),
    ("no role", "chat", chat({"content": "x"}, ANSWER), "message_missing_key", "$.messages[0]"),
    ("no content", "chat", chat({"role": "user"}, ANSWER), "message_missing_key", "$.messages[0]"),
    (
        "bad key",
        "chat",
        chat(USER, {**ANSWER, "score": 1}),
        "message_unrecognized_key",
        "$.messages[1].score",
    ),
    (
        "weight on user",
        "chat",
        chat({**USER, "weight": 1}, ANSWER),
        "message_unrecognized_key",
        "$.messages[0].weight",
    ),
    (
        "role",
        "chat",
        chat({"role": "bot", "content": "x"}, ANSWER),
        "unrecognized_role",
        "$.messages[0].role",
    ),
    (
        "empty content",
        "chat",
        chat(USER, {"role": "assistant", "content": ""}),
        "missing_content",
        "$.messages[1].content",
    ),
    (
        "null content",
        "chat",
        chat({"role": "user", "content": None}, ANSWER),
        "missing_content",
        "$.messages[0].content",
    ),
    (
        "content type",
        "chat",
        chat({"role": "user", "content": 5}, ANSWER),
        "invalid_content",
        "$.messages[0].content",
    ),
    (
        "image in assistant",
        "chat",
        chat(
            USER,
            {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
        ),
        "invalid_content_part",
        "$.messages[1].content[0].type",
    ),
    (
        "part type",
        "chat",
        chat({"role": "user", "content": [{"type": "audio", "data": "x"}]}, ANSWER),
        "invalid_content_part",
        "$.messages[0].content[0].type",
    ),
    (
        "image without url",
        "chat",
        chat({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}, ANSWER),
        "invalid_content_part",
        "$.messages[0].content[0].image_url",
    ),
    ("name", "chat", chat({**USER, "name": "a b"}, ANSWER), "invalid_name", "$.messages[0].name"),
    (
        "weight 2",
        "chat",
        chat(USER, {**ANSWER, "weight": 2}),
        "invalid_weight",
        "$.messages[1].weight",
    ),
    (
        "weight true",
        "chat",
        chat(USER, {**ANSWER, "weight": True}),
        "invalid_weight",
        "$.messages[1].weight",
    ),
    (
        "tool call arguments",
        "chat",
        chat(
            USER,
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}
                ],
            },
            ANSWER,
        ),
        "invalid_tool_call",
        "$.messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool call id",
        "chat",
        chat(
            USER,
            {
                "role": "assistant",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            ANSWER,
        ),
        "invalid_tool_call",
        "$.messages[1].tool_calls[0].id",
    ),
    (
        "unanswered tool result",
        "chat",
        chat(USER, CALL, {**TOOL_RESULT, "tool_call_id": "call_9"}, ANSWER),
        "invalid_tool_call",
        "$.messages[2].tool_call_id",
    ),
    (
        "tool without id",
        "chat",
        chat(USER, CALL, {"role": "tool", "content": "x"}, ANSWER),
        "message_missing_key",
        "$.messages[2]",
    ),
    (
        "function call",
        "chat",
        chat(USER, {"role": "assistant", "function_call": {"name": "f"}}, ANSWER),
        "invalid_function_call",
        "$.messages[1].function_call.arguments",
    ),
    (
        "tools",
        "chat",
        chat(USER, ANSWER, tools=[{"type": "function", "function": {"name": "bad name"}}]),
        "invalid_tools",
        "$.tools[0].function.name",
    ),
    ("tools type", "chat", chat(USER, ANSWER, tools={"f": 1}), "invalid_tools", "$.tools"),
    (
        "parallel",
        "chat",
        chat(USER, ANSWER, parallel_tool_calls="yes"),
        "invalid_tools",
        "$.parallel_tool_calls",
    ),
    ("no assistant", "chat", chat(SYSTEM, USER), "example_missing_assistant_message", "$.messages"),
    (
        "dpo no input",
        "dpo",
        {"preferred_output": [ANSWER], "non_preferred_output": [ANSWER]},
        "missing_key",
        "$",
    ),
    (
        "dpo input type",
        "dpo",
        {"input": [], "preferred_output": [ANSWER], "non_preferred_output": [ANSWER]},
        "invalid_input",
        "$.input",
    ),
    (
        "dpo no messages",
        "dpo",
        {"input": {}, "preferred_output": [ANSWER], "non_preferred_output": [ANSWER]},
        "missing_messages_list",
        "$.input.messages",
    ),
    (
        "dpo input message",
        "dpo",
        {
            "input": {"messages": [{"role": "user"}]},
            "preferred_output": [ANSWER],
            "non_preferred_output": [ANSWER],
        },
        "message_missing_key",
        "$.input.messages[0]",
    ),
    (
        "dpo two outputs",
        "dpo",
        {
            "input": {"messages": [USER]},
            "preferred_output": [ANSWER, ANSWER],
            "non_preferred_output": [ANSWER],
        },
        "invalid_dpo_output",
        "$.preferred_output",
    ),
    (
        "dpo output role",
        "dpo",
        {
            "input": {"messages": [USER]},
            "preferred_output": [ANSWER],
            "non_preferred_output": [USER],
        },
        "invalid_dpo_output",
        "$.non_preferred_output[0].role",
    ),
    (
        "dpo missing output",
        "dpo",
        {"input": {"messages": [USER]}, "preferred_output": [ANSWER]},
        "missing_key",
        "$",
    ),
    (
        "rft ends in answer",
        "reinforcement",
        chat(USER, ANSWER, reference="x"),
        "invalid_last_message",
        "$.messages[1].role",
    ),
    ("rft no messages", "reinforcement", {"reference": "x"}, "missing_messages_list", "$.messages"),
]


@pytest.mark.parametrize(
    ("fmt", "example", "category", "path"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_each_problem_has_its_category_and_path(
    fmt: Format, example: object, category: str, path: str
) -> None:
    issues = check_example(example, fmt)
    assert (category, path) in [(i.category, i.path) for i in issues], issues
    assert all(i.category in CATEGORIES for i in issues)
    assert all(i.message for i in issues)


def test_every_category_is_exercised() -> None:
    tested = {case[3] for case in INVALID} | {"invalid_json", "invalid_utf8"}  # test_jsonl
    assert tested == set(CATEGORIES)


def test_detect_format_of_broken_lines_is_chat() -> None:
    assert detect_format([1]) == "chat"
    assert detect_format({"messages": "x"}) == "chat"
    assert detect_format({"messages": [USER, ANSWER]}) == "chat"


def test_every_error_category_is_reported_with_file_line_and_path(tmp_path: Path) -> None:
    """Each bad example above, one per line of a file: the report names its line and path."""
    for fmt in FORMATS:
        cases = [case for case in INVALID if case[1] == fmt]
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text("".join(json.dumps(case[2]) + "\n" for case in cases), encoding="utf-8")
        report = compute_stats(path, lookup_model("gpt-4o-mini-2024-07-18"), fmt=fmt)
        rendered = "\n".join(render_report(report))
        for line_no, (name, _, _, category, json_path) in enumerate(cases, start=1):
            samples = report.errors[category].samples
            assert {"line": line_no, "path": json_path} in [
                {"line": s["line"], "path": s["path"]} for s in samples
            ], name
            if sum(1 for c in cases if c[3] == category) <= 3:  # the text shows 3 per category
                assert f"{path}:{line_no}: {json_path}: " in rendered, name


def test_docs_list_every_category(repo_root: Path) -> None:
    docs = (repo_root / "docs" / "data.md").read_text(encoding="utf-8")
    assert [c for c in CATEGORIES if f"| `{c}` |" not in docs] == []


def test_a_plain_chat_example_has_no_format_issue() -> None:
    """`plain_chat_messages` lets `data stats` and the build's workers skip `check_example`:
    every example it accepts must be one `check_example` accepts, and it must refuse every
    invalid chat example of the table above."""
    roles = ["system", "developer", "user", "assistant", "tool", "function", "bot", 7, None]
    contents: list[object] = ["Hi.", "", " ", None, 3, [{"type": "text", "text": "x"}]]
    extras: list[dict[str, object]] = [{}, {"name": "bob"}, {"weight": 0}, {"weight": 2}]
    accepted = 0
    for first in roles:
        for content in contents:
            for extra in extras:
                for messages in (
                    [{"role": first, "content": content, **extra}, ANSWER],
                    [USER, {"role": first, "content": content, **extra}],
                    [{"role": first, "content": content, **extra}],
                ):
                    example: dict[str, Any] = {"messages": messages}
                    if plain_chat_messages(example) is not None:
                        accepted += 1
                        assert check_example(example, "chat") == [], example
    assert accepted > 10  # the plain ones were among them
    for top in ({"messages": [USER, ANSWER], "tools": TOOLS}, {"messages": []}, {}):
        assert plain_chat_messages(top) is None
    for _name, fmt, example, _category, _path in INVALID:
        if fmt == "chat":
            assert plain_chat_messages(example) is None, _name
