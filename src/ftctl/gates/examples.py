"""Eval examples: the prompt to send and the reference answer, from test-set rows.

A chat row (`{"messages": [...]}`) is cut at its last assistant message: everything
before it is the prompt, its text is the reference. A row without an assistant message
is all prompt and has no reference. A DPO row's prompt is `input.messages` and its
reference the last preferred output. Training-only keys (`weight`) are dropped from the
prompt because the chat completions API does not accept them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.errors import Diagnostic, GateError

Message = dict[str, Any]
_TRAINING_ONLY_KEYS = frozenset({"weight"})


@dataclass(frozen=True)
class EvalExample:
    """One test example: where it came from, what the model is asked, what it should say."""

    index: int  # 0-based position in the eval set
    source: str  # file (or split name) it came from, for messages
    line: int  # 1-based line in `source`
    prompt: tuple[Message, ...]
    reference: str | None


def message_text(message: Mapping[str, Any]) -> str | None:
    """The text of a message: a string, or its text parts joined; None when it has none."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def _prompt_message(message: Mapping[str, Any]) -> Message:
    return {k: v for k, v in message.items() if k not in _TRAINING_ONLY_KEYS}


def _split(row: Mapping[str, Any]) -> tuple[list[Message], str | None] | str:
    """(prompt, reference) of a row, or a message saying why the row is unusable."""
    if isinstance(row.get("input"), Mapping) and "preferred_output" in row:
        messages = row["input"].get("messages")
        preferred = row.get("preferred_output")
        if not isinstance(messages, list) or not messages:
            return "a DPO row needs input.messages, a non-empty list"
        reference = None
        if isinstance(preferred, list) and preferred and isinstance(preferred[-1], Mapping):
            reference = message_text(preferred[-1])
        return [_prompt_message(m) for m in messages if isinstance(m, Mapping)], reference
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return "missing 'messages' (a non-empty list of chat messages)"
    if not all(isinstance(m, Mapping) for m in messages):
        return "every message must be an object with 'role' and 'content'"
    last_answer = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None
    )
    if last_answer is None:
        return [_prompt_message(m) for m in messages], None
    prompt = [_prompt_message(m) for m in messages[:last_answer]]
    if not prompt:
        return "the assistant message has no prompt before it"
    return prompt, message_text(messages[last_answer])


def examples_from_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]], source: str, limit: int | None = None
) -> list[EvalExample]:
    """Eval examples of `(line, row)` pairs; raises GateError naming every bad line."""
    examples: list[EvalExample] = []
    problems: list[Diagnostic] = []
    for line, row in rows:
        if limit is not None and len(examples) >= limit:
            break
        split = _split(row) if isinstance(row, Mapping) else "each line must be a JSON object"
        if isinstance(split, str):
            problems.append(Diagnostic(source, line, None, "error", "", split))
            continue
        prompt, reference = split
        examples.append(EvalExample(len(examples), source, line, tuple(prompt), reference))
    if problems:
        raise GateError(f"{len(problems)} unusable example(s) in eval set {source}", problems)
    if not examples:
        raise GateError(f"the eval set {source} has no examples")
    return examples


def load_eval_examples(
    path: Path, limit: int | None = None, source: str | None = None
) -> list[EvalExample]:
    """Read a JSONL test set (blank lines skipped); `limit` keeps the first examples."""
    name = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateError(f"cannot read eval set {name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GateError(f"eval set {name} is not UTF-8 text: {exc.reason}") from exc
    rows: list[tuple[int, Any]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((line, json.loads(raw)))
        except json.JSONDecodeError as exc:
            diagnostic = Diagnostic(name, line, exc.colno, "error", "", f"invalid JSON: {exc.msg}")
            raise GateError(f"eval set {name} is not valid JSONL", [diagnostic]) from exc
    return examples_from_rows(rows, name, limit)
