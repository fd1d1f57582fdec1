"""From OpenAI chat-format rows to training instances, and the checks that rows are trainable.

One *instance* is one assistant message to learn: the conversation before it (the prompt,
seen as hashed word features) and its bytes followed by EOS (the target). A multi-turn
example yields one instance per assistant message with `weight` 1 (the default); assistant
messages with `weight: 0` stay in later prompts but are never targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.server.trainers.numpy_lm.tokenizer import (
    EOS,
    ROLE_TOKENS,
    encode_text,
    message_text,
    prompt_features,
)

DPO_NOT_SUPPORTED = (
    "DPO is not supported by the local trainer: the training file contains preference pairs "
    "(input / preferred_output / non_preferred_output); use method supervised with chat "
    'examples ({"messages": [...]}) or a provider that supports DPO'
)


@dataclass(frozen=True)
class Instance:
    """One assistant message to learn, with the prompt that precedes it."""

    feature_ids: npt.NDArray[np.int64]
    feature_weights: npt.NDArray[np.float64]
    targets: npt.NDArray[np.int64]  # answer bytes followed by EOS


def _weight(message: Mapping[str, Any]) -> int:
    weight = message.get("weight", 1)
    return 1 if weight is None else int(weight)


def instances_of(row: Mapping[str, Any], n_buckets: int) -> list[Instance]:
    """The instances of one example (a row already accepted by `validate_training_file`)."""
    messages: Sequence[Mapping[str, Any]] = row["messages"]
    found: list[Instance] = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or _weight(message) != 1:
            continue
        ids, weights = prompt_features(messages[:index], n_buckets)
        targets = np.array([*encode_text(message_text(message)), EOS], dtype=np.int64)
        found.append(Instance(ids, weights, targets))
    return found


def _check_message(line: int, position: int, message: object) -> str | None:
    where = f"line {line}, message {position}"
    if not isinstance(message, Mapping):
        return f"{where}: a message must be an object with 'role' and 'content'"
    role = message.get("role")
    if role not in ROLE_TOKENS:
        return f"{where}: unknown role {role!r} (expected one of: system, developer, user, assistant, tool)"
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if (
                not isinstance(part, Mapping)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                return f"{where}: content part of type {kind!r} is not supported by the local trainer (text only)"
    elif content is not None and not isinstance(content, str):
        return f"{where}: 'content' must be a string or a list of text parts"
    if (
        role == "assistant"
        and content is None
        and not message.get("tool_calls")
        and not message.get("function_call")
    ):
        return f"{where}: an assistant message needs 'content' or 'tool_calls'"
    if "weight" in message and message["weight"] not in (0, 1):
        return f"{where}: 'weight' must be 0 or 1, got {message['weight']!r}"
    if "weight" in message and role != "assistant":
        return f"{where}: 'weight' is only allowed on assistant messages"
    return None


def validate_training_file(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """None if the local trainer can train on these rows, else a message naming the first problem.

    Lines are counted from 1 (the JSONL line), messages from 1 within their example.
    """
    if not rows:
        return "the training file has no examples"
    for line, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            return f"line {line}: each line must be a JSON object"
        if "preferred_output" in row or "non_preferred_output" in row:
            return DPO_NOT_SUPPORTED
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            return f"line {line}: missing 'messages' (a non-empty list of chat messages)"
        for position, message in enumerate(messages, start=1):
            problem = _check_message(line, position, message)
            if problem is not None:
                return problem
        if not any(m.get("role") == "assistant" and _weight(m) == 1 for m in messages):
            return f"line {line}: no assistant message with weight 1, so there is nothing to learn from this example"
    return None
