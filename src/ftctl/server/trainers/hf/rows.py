"""Which rows the hf trainer accepts, and the TRL shape of a DPO row.

Supervised: OpenAI chat rows (`messages`, optional `tools`), at least one assistant message
with weight 1. DPO: OpenAI preference rows (`input.messages`, `preferred_output`,
`non_preferred_output`, each output a list with one assistant message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ftctl.text.chat_tokens import normalize_messages

REINFORCEMENT_NOT_SUPPORTED = (
    "reinforcement (GRPO) is not supported by the Hugging Face trainer of the local server "
    "yet; use method supervised or dpo"
)
_ROLES = ("system", "developer", "user", "assistant", "tool")


def _check_messages(line: int, messages: object, where: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"line {line}: missing '{where}' (a non-empty list of chat messages)"
    for position, message in enumerate(messages, start=1):
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            return (
                f"line {line}, message {position}: each message needs a role ({', '.join(_ROLES)})"
            )
        content = message.get("content")
        if isinstance(content, list) and any(
            not isinstance(p, Mapping) or p.get("type") != "text" for p in content
        ):
            return f"line {line}, message {position}: only text content is supported"
    return None


def validate_rows(rows: list[dict[str, Any]], method: str) -> str | None:
    """None when the hf trainer can train `method` on `rows`, else the first problem."""
    if method == "reinforcement":
        return REINFORCEMENT_NOT_SUPPORTED
    if not rows:
        return "the training file has no examples"
    for line, row in enumerate(rows, start=1):
        if method == "dpo":
            inp = row.get("input")
            if not isinstance(inp, Mapping) or "preferred_output" not in row:
                return (
                    f"line {line}: a DPO example needs 'input', 'preferred_output' and "
                    "'non_preferred_output'"
                )
            problem = _check_messages(line, inp.get("messages"), "input.messages")
            for key in ("preferred_output", "non_preferred_output"):
                problem = problem or _check_messages(line, row.get(key), key)
            if problem:
                return problem
            continue
        if "preferred_output" in row:
            return f"line {line}: a preference (DPO) example in a supervised job"
        problem = _check_messages(line, row.get("messages"), "messages")
        if problem:
            return problem
        if not any(
            m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in row["messages"]
        ):
            return f"line {line}: no assistant message with weight 1, so nothing to learn"
    return None


def dpo_example(row: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI preference row as TRL's conversational preference example."""
    return {
        "prompt": normalize_messages(row["input"]["messages"]),
        "chosen": normalize_messages(row["preferred_output"]),
        "rejected": normalize_messages(row["non_preferred_output"]),
    }
