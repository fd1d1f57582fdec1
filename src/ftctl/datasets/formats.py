"""The shapes of OpenAI fine-tuning examples, and the checks that find what is wrong with one.

Three formats, one example per JSONL line:

- ``chat`` (supervised): ``{"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool,
  "functions"?: [...]}`` with roles system, developer, user, assistant, tool (and the
  legacy function role). Assistant messages may carry ``weight`` (0 or 1), ``tool_calls``
  (then ``content`` may be missing) or a legacy ``function_call``; tool messages carry a
  ``tool_call_id`` naming an earlier tool call. Content is a string or a list of parts
  (``text``; ``image_url`` in user messages).
- ``dpo``: ``{"input": {"messages": [...], "tools"?: [...]}, "preferred_output": [one
  assistant message], "non_preferred_output": [one assistant message]}``.
- ``reinforcement``: ``{"messages": [... ending in a user or developer turn], ...}`` plus any
  other top-level keys, which graders read (e.g. ``reference_answer``).

Issue categories reuse the names of OpenAI's data-prep notebook where one exists
(``data_type``, ``missing_messages_list``, ``message_missing_key``,
``message_unrecognized_key``, ``unrecognized_role``, ``missing_content``,
``example_missing_assistant_message``); the rest are ftctl's (see `CATEGORIES`). Each issue
carries a JSON path such as ``$.messages[2].content``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

Format = Literal["chat", "dpo", "reinforcement"]
FORMATS: tuple[Format, ...] = get_args(Format)

# Every category check_example (or the JSONL reader) can report, with what it means.
CATEGORIES: dict[str, str] = {
    "invalid_utf8": "the line is not valid UTF-8",
    "invalid_json": "the line is not valid JSON",
    "data_type": "the example is not a JSON object",
    "missing_messages_list": "no non-empty `messages` list",
    "missing_key": "a required top-level key is missing (DPO: input, preferred_output, ...)",
    "unrecognized_key": "a top-level key the format does not define",
    "invalid_message": "a message is not a JSON object",
    "message_missing_key": "a message lacks `role`, `content`, `tool_call_id` or `name`",
    "message_unrecognized_key": "a message key its role does not allow",
    "unrecognized_role": "a role other than system/developer/user/assistant/tool/function",
    "missing_content": "empty or null content (and no tool call)",
    "invalid_content": "content is neither a string nor a list of parts",
    "invalid_content_part": "a content part of unknown type or shape, or not allowed for the role",
    "invalid_name": "`name` is not a string of 1-64 letters, digits, _ or -",
    "invalid_weight": "`weight` is not 0 or 1",
    "invalid_tool_call": "malformed `tool_calls`, or a tool message answering no known call",
    "invalid_function_call": "malformed legacy `function_call`",
    "invalid_tools": "malformed top-level `tools`, `functions` or `parallel_tool_calls`",
    "example_missing_assistant_message": "a chat example with no assistant message",
    "invalid_input": "DPO `input` is not an object",
    "invalid_dpo_output": "a DPO output is not a list of exactly one assistant message",
    "invalid_last_message": "a reinforcement example does not end in a user or developer turn",
}

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "weight", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_ANY_ROLE_KEYS = frozenset().union(*_ROLE_KEYS.values())
_PART_TYPES: dict[str, frozenset[str]] = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url"}),
    "assistant": frozenset({"text"}),
    "tool": frozenset({"text"}),
    "function": frozenset({"text"}),
}
CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FormatIssue:
    category: str
    path: str  # a JSON path: "$.messages[2].content"
    message: str


def key_path(base: str, key: str) -> str:
    """`$.a` + `b` -> `$.a.b`; keys that are not identifiers are quoted: `$["a b"]`."""
    if _IDENT_RE.fullmatch(key):
        return f"{base}.{key}"
    return f"{base}[{json.dumps(key, ensure_ascii=False)}]"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def detect_format(example: object) -> Format:
    """Guess an example's format from its shape (a file's format: the majority of its lines).

    DPO has `input`/`preferred_output`; a conversation ending in a user or developer turn is
    a reinforcement prompt; anything else is chat (so broken lines count as chat).
    """
    if not isinstance(example, dict):
        return "chat"
    if "input" in example or "preferred_output" in example or "non_preferred_output" in example:
        return "dpo"
    messages = example.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") in ("user", "developer"):
            return "reinforcement"
    return "chat"


PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_PLAIN_KEYS = frozenset({"role", "content"})


def plain_chat_messages(example: object) -> list[dict[str, str]] | None:
    """The messages of a plain chat example, or None when it needs the general path.

    Plain: `{"messages": [...]}` only; every message exactly `role` + non-empty string
    `content`, with a system, developer, user or assistant role; at least one assistant
    message. Such a chat example has no format issue (`check_example` finds none: a test
    holds the two to it) and needs no other key counted: `data stats` and the build's
    workers skip the general walks for it.
    """
    if type(example) is not dict or len(example) != 1:
        return None
    messages = example.get("messages")
    if type(messages) is not list or not messages:
        return None
    has_assistant = False
    for message in messages:
        if type(message) is not dict or message.keys() != _PLAIN_KEYS:
            return None
        content = message["content"]
        role = message["role"]
        if type(content) is not str or not content or role not in PLAIN_ROLES:
            return None
        if role == "assistant":
            has_assistant = True
    return messages if has_assistant else None


def check_example(example: object, fmt: Format) -> list[FormatIssue]:
    """Every format problem of one example, as a list (empty when the example is valid)."""
    issues: list[FormatIssue] = []
    if not isinstance(example, dict):
        issues.append(
            FormatIssue(
                "data_type", "$", f"example must be a JSON object, not {_type_name(example)}"
            )
        )
        return issues
    if fmt == "dpo":
        _check_dpo(example, issues)
    elif fmt == "reinforcement":
        _check_reinforcement(example, issues)
    else:
        _check_chat(example, issues)
    return issues


# --- formats -------------------------------------------------------------------------


def _check_chat(example: dict[str, Any], issues: list[FormatIssue]) -> None:
    _check_top_keys(example, CHAT_KEYS, "$", "chat", issues)
    messages = _messages_list(example, "$", issues)
    _check_tool_definitions(example, "$", issues)
    if messages is None:
        return
    _check_messages(messages, "$.messages", issues, allow_weight=True)
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        issues.append(
            FormatIssue(
                "example_missing_assistant_message",
                "$.messages",
                "no assistant message: a chat example needs at least one to train on",
            )
        )


def _check_dpo(example: dict[str, Any], issues: list[FormatIssue]) -> None:
    _check_top_keys(example, DPO_KEYS, "$", "DPO", issues)
    if "input" not in example:
        issues.append(FormatIssue("missing_key", "$", "DPO example has no 'input'"))
    else:
        inp = example["input"]
        if not isinstance(inp, dict):
            issues.append(
                FormatIssue(
                    "invalid_input", "$.input", f"input must be an object, not {_type_name(inp)}"
                )
            )
        else:
            _check_top_keys(inp, DPO_INPUT_KEYS, "$.input", "DPO input", issues)
            messages = _messages_list(inp, "$.input", issues)
            _check_tool_definitions(inp, "$.input", issues)
            if messages is not None:
                _check_messages(messages, "$.input.messages", issues, allow_weight=False)
    for key in ("preferred_output", "non_preferred_output"):
        if key not in example:
            issues.append(FormatIssue("missing_key", "$", f"DPO example has no '{key}'"))
            continue
        output = example[key]
        path = f"$.{key}"
        if not isinstance(output, list) or len(output) != 1:
            shape = f"{len(output)} items" if isinstance(output, list) else _type_name(output)
            issues.append(
                FormatIssue(
                    "invalid_dpo_output",
                    path,
                    f"{key} must be a list of exactly one assistant message, not {shape}",
                )
            )
            continue
        message = output[0]
        if isinstance(message, dict) and "role" in message and message.get("role") != "assistant":
            issues.append(
                FormatIssue(
                    "invalid_dpo_output",
                    f"{path}[0].role",
                    f"{key} must hold an assistant message, not {message.get('role')!r}",
                )
            )
        _check_messages(output, path, issues, allow_weight=False)


def _check_reinforcement(example: dict[str, Any], issues: list[FormatIssue]) -> None:
    # Other top-level keys are free: graders read them (reference answers, ids, ...).
    messages = _messages_list(example, "$", issues)
    _check_tool_definitions(example, "$", issues)
    if messages is None:
        return
    _check_messages(messages, "$.messages", issues, allow_weight=False)
    last = messages[-1]
    if isinstance(last, dict) and last.get("role") not in ("user", "developer"):
        issues.append(
            FormatIssue(
                "invalid_last_message",
                f"$.messages[{len(messages) - 1}].role",
                f"a reinforcement prompt must end in a user or developer turn, not {last.get('role')!r}",
            )
        )


# --- parts ---------------------------------------------------------------------------


def _check_top_keys(
    obj: dict[str, Any], allowed: frozenset[str], base: str, what: str, issues: list[FormatIssue]
) -> None:
    for key in obj:
        if key not in allowed:
            issues.append(
                FormatIssue(
                    "unrecognized_key",
                    key_path(base, key),
                    f"unrecognized key {key!r} in a {what} example; allowed: {', '.join(sorted(allowed))}",
                )
            )


def _messages_list(obj: dict[str, Any], base: str, issues: list[FormatIssue]) -> list[Any] | None:
    messages = obj.get("messages")
    if isinstance(messages, list) and messages:
        return messages
    if "messages" not in obj:
        problem = "no 'messages' list"
    elif isinstance(messages, list):
        problem = "'messages' is empty"
    else:
        problem = f"'messages' must be a list, not {_type_name(messages)}"
    issues.append(FormatIssue("missing_messages_list", f"{base}.messages", problem))
    return None


def _check_messages(
    messages: list[Any], base: str, issues: list[FormatIssue], *, allow_weight: bool
) -> None:
    call_ids: set[str] = set()
    for index, message in enumerate(messages):
        path = f"{base}[{index}]"
        if not isinstance(message, dict):
            issues.append(
                FormatIssue(
                    "invalid_message", path, f"message must be an object, not {_type_name(message)}"
                )
            )
            continue
        _check_message(message, path, issues, call_ids, allow_weight=allow_weight)


def _check_message(
    message: dict[str, Any],
    path: str,
    issues: list[FormatIssue],
    call_ids: set[str],
    *,
    allow_weight: bool,
) -> None:
    role = message.get("role")
    if "role" not in message:
        issues.append(FormatIssue("message_missing_key", path, "message has no 'role'"))
        allowed = _ANY_ROLE_KEYS
    elif role not in _ROLE_KEYS:
        issues.append(
            FormatIssue(
                "unrecognized_role",
                f"{path}.role",
                f"unrecognized role {role!r}; expected one of {', '.join(ROLES)}",
            )
        )
        allowed = _ANY_ROLE_KEYS
    else:
        allowed = _ROLE_KEYS[role]
    if not allow_weight:
        allowed = allowed - {"weight"}
    for key in message:
        if key not in allowed:
            where = (
                f"{role} messages" if isinstance(role, str) and role in _ROLE_KEYS else "messages"
            )
            issues.append(
                FormatIssue(
                    "message_unrecognized_key",
                    key_path(path, key),
                    f"key {key!r} is not allowed in {where}",
                )
            )

    has_call = role == "assistant" and bool(
        message.get("tool_calls") or message.get("function_call")
    )
    if "content" not in message:
        if not has_call:
            issues.append(FormatIssue("message_missing_key", path, "message has no 'content'"))
    else:
        _check_content(message["content"], role, f"{path}.content", has_call, issues)

    if "name" in message:
        name = message["name"]
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            issues.append(
                FormatIssue(
                    "invalid_name",
                    f"{path}.name",
                    f"name must be 1-64 letters, digits, '_' or '-', not {name!r}",
                )
            )
    elif role == "function":
        issues.append(FormatIssue("message_missing_key", path, "function message has no 'name'"))

    if "weight" in message and allow_weight and role == "assistant":
        weight = message["weight"]
        if isinstance(weight, bool) or weight not in (0, 1):
            issues.append(
                FormatIssue(
                    "invalid_weight", f"{path}.weight", f"weight must be 0 or 1, not {weight!r}"
                )
            )

    if "tool_calls" in message and role == "assistant":
        _check_tool_calls(message["tool_calls"], f"{path}.tool_calls", call_ids, issues)
    if "function_call" in message and role == "assistant":
        _check_function_call(message["function_call"], f"{path}.function_call", issues)
    if role == "tool":
        if "tool_call_id" not in message:
            issues.append(
                FormatIssue("message_missing_key", path, "tool message has no 'tool_call_id'")
            )
        else:
            call_id = message["tool_call_id"]
            if not isinstance(call_id, str) or call_id not in call_ids:
                issues.append(
                    FormatIssue(
                        "invalid_tool_call",
                        f"{path}.tool_call_id",
                        f"tool_call_id {call_id!r} answers no tool call of an earlier assistant message",
                    )
                )


def _check_content(
    content: object, role: object, path: str, has_call: bool, issues: list[FormatIssue]
) -> None:
    if isinstance(content, str):
        if not content and not has_call:
            issues.append(FormatIssue("missing_content", path, "content is empty"))
        return
    if content is None:
        if not has_call:
            issues.append(FormatIssue("missing_content", path, "content is null"))
        return
    if not isinstance(content, list):
        issues.append(
            FormatIssue(
                "invalid_content",
                path,
                f"content must be a string or a list of parts, not {_type_name(content)}",
            )
        )
        return
    if not content and not has_call:
        issues.append(FormatIssue("missing_content", path, "content is an empty list"))
    allowed = (
        _PART_TYPES.get(role, frozenset({"text", "image_url"}))
        if isinstance(role, str)
        else frozenset({"text", "image_url"})
    )
    for index, part in enumerate(content):
        _check_part(part, f"{path}[{index}]", role, allowed, issues)


def _check_part(
    part: object, path: str, role: object, allowed: frozenset[str], issues: list[FormatIssue]
) -> None:
    if not isinstance(part, dict):
        issues.append(
            FormatIssue(
                "invalid_content_part",
                path,
                f"content part must be an object, not {_type_name(part)}",
            )
        )
        return
    kind = part.get("type")
    if kind not in ("text", "image_url"):
        issues.append(
            FormatIssue(
                "invalid_content_part",
                f"{path}.type",
                f"unknown content part type {kind!r}; expected 'text' or 'image_url'",
            )
        )
        return
    if kind not in allowed:
        issues.append(
            FormatIssue(
                "invalid_content_part",
                f"{path}.type",
                f"{kind} parts are not allowed in {role} messages",
            )
        )
        return
    if kind == "text":
        if not isinstance(part.get("text"), str):
            issues.append(
                FormatIssue(
                    "invalid_content_part", f"{path}.text", "a text part needs a string 'text'"
                )
            )
        extra = set(part) - {"type", "text"}
    else:
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str) or not image["url"]:
            issues.append(
                FormatIssue(
                    "invalid_content_part",
                    f"{path}.image_url",
                    "an image_url part needs an object with a non-empty string 'url'",
                )
            )
        elif image.get("detail", "auto") not in ("auto", "low", "high"):
            issues.append(
                FormatIssue(
                    "invalid_content_part",
                    f"{path}.image_url.detail",
                    f"detail must be auto, low or high, not {image.get('detail')!r}",
                )
            )
        extra = set(part) - {"type", "image_url"}
    for key in sorted(extra):
        issues.append(
            FormatIssue(
                "invalid_content_part",
                key_path(path, key),
                f"unrecognized key {key!r} in a {kind} part",
            )
        )


def _check_tool_calls(
    calls: object, path: str, call_ids: set[str], issues: list[FormatIssue]
) -> None:
    if not isinstance(calls, list) or not calls:
        issues.append(
            FormatIssue(
                "invalid_tool_call", path, "tool_calls must be a non-empty list of tool calls"
            )
        )
        return
    for index, call in enumerate(calls):
        where = f"{path}[{index}]"
        if not isinstance(call, dict):
            issues.append(
                FormatIssue(
                    "invalid_tool_call",
                    where,
                    f"a tool call must be an object, not {_type_name(call)}",
                )
            )
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            issues.append(
                FormatIssue("invalid_tool_call", f"{where}.id", "a tool call needs a string 'id'")
            )
        else:
            call_ids.add(call_id)
        if call.get("type") != "function":
            issues.append(
                FormatIssue(
                    "invalid_tool_call",
                    f"{where}.type",
                    f"tool call type must be 'function', not {call.get('type')!r}",
                )
            )
        _check_function_call(call.get("function"), f"{where}.function", issues, "invalid_tool_call")


def _check_function_call(
    call: object, path: str, issues: list[FormatIssue], category: str = "invalid_function_call"
) -> None:
    if not isinstance(call, dict):
        issues.append(
            FormatIssue(
                category, path, "a function call must be an object with 'name' and 'arguments'"
            )
        )
        return
    name = call.get("name")
    if not isinstance(name, str) or not name:
        issues.append(
            FormatIssue(category, f"{path}.name", "a function call needs a string 'name'")
        )
    arguments = call.get("arguments")
    if not isinstance(arguments, str):
        issues.append(
            FormatIssue(
                category, f"{path}.arguments", "arguments must be a string holding a JSON object"
            )
        )
        return
    try:
        json.loads(arguments)
    except ValueError as error:
        issues.append(
            FormatIssue(category, f"{path}.arguments", f"arguments is not valid JSON: {error}")
        )


def _check_tool_definitions(obj: dict[str, Any], base: str, issues: list[FormatIssue]) -> None:
    if "tools" in obj:
        tools = obj["tools"]
        if not isinstance(tools, list):
            issues.append(
                FormatIssue(
                    "invalid_tools", f"{base}.tools", "tools must be a list of tool definitions"
                )
            )
        else:
            for index, tool in enumerate(tools):
                where = f"{base}.tools[{index}]"
                if not isinstance(tool, dict) or tool.get("type") != "function":
                    issues.append(
                        FormatIssue(
                            "invalid_tools", where, "a tool must be an object with type 'function'"
                        )
                    )
                    continue
                _check_function_definition(tool.get("function"), f"{where}.function", issues)
    if "functions" in obj:
        functions = obj["functions"]
        if not isinstance(functions, list):
            issues.append(
                FormatIssue(
                    "invalid_tools",
                    f"{base}.functions",
                    "functions must be a list of function definitions",
                )
            )
        else:
            for index, function in enumerate(functions):
                _check_function_definition(function, f"{base}.functions[{index}]", issues)
    if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
        issues.append(
            FormatIssue(
                "invalid_tools",
                f"{base}.parallel_tool_calls",
                "parallel_tool_calls must be true or false",
            )
        )


def _check_function_definition(function: object, path: str, issues: list[FormatIssue]) -> None:
    if not isinstance(function, dict):
        issues.append(FormatIssue("invalid_tools", path, "a function definition must be an object"))
        return
    name = function.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        issues.append(
            FormatIssue(
                "invalid_tools",
                f"{path}.name",
                f"function name must be 1-64 letters, digits, '_' or '-', not {name!r}",
            )
        )
    if "description" in function and not isinstance(function["description"], str):
        issues.append(
            FormatIssue("invalid_tools", f"{path}.description", "description must be a string")
        )
    if "parameters" in function and not isinstance(function["parameters"], dict):
        issues.append(
            FormatIssue(
                "invalid_tools", f"{path}.parameters", "parameters must be a JSON Schema object"
            )
        )
