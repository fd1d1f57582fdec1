"""Conversations through a Hugging Face model's own tokenizer and chat template.

One function decides which tokens of a rendered conversation are trained: both the data
report (`ftctl data stats`, policy, plan: token counts of `hf:` models) and the trainer
(the loss mask) use it, so what the plan counts is what the trainer trains.

Method: the conversation is rendered once with the template; for each assistant message
that is trained (`weight` not 0), the text the template adds for it is the difference
between rendering the conversation up to that message and rendering the conversation
before it with the generation prompt. The tokens whose characters fall in those spans
(the answer, its tool calls and the template's end-of-turn marker) are trained. A template
that rewrites earlier turns when later ones are added (so the renderings are not prefixes
of each other) is refused with `ChatTemplateError`.

Needs `transformers` (the `train` extra) only when a tokenizer is loaded; importing this
module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ChatTemplateError(ValueError):
    """The model's chat template cannot render this example for training."""


@dataclass(frozen=True)
class TokenizedConversation:
    input_ids: list[int]
    assistant_mask: list[int]  # 1 for trained tokens

    @property
    def trained(self) -> int:
        return sum(self.assistant_mask)


def text_of(content: object) -> str | None:
    """A message's content as one string (text parts joined), None when absent."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's tool call (arguments as a JSON string) as HF templates expect (a dict)."""
    out = dict(call)
    function = dict(out.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            function["arguments"] = json.loads(arguments)
    out["function"] = function
    return out


def normalize_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages as chat templates read them: text content, `developer` as
    `system`, tool-call arguments parsed, `weight` dropped."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        item: dict[str, Any] = {"role": "system" if role == "developer" else role}
        content = text_of(message.get("content"))
        item["content"] = content if content is not None else ""
        if message.get("tool_calls"):
            item["tool_calls"] = [_tool_call(c) for c in message["tool_calls"]]
        for key in ("name", "tool_call_id"):
            if key in message:
                item[key] = message[key]
        out.append(item)
    return out


def _trained(message: Mapping[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) not in (0, 0.0)


def _render(
    tokenizer: Any, messages: list[dict[str, Any]], tools: Any, generation_prompt: bool
) -> str:
    text = tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt
    )
    return str(text)


def tokenize_conversation(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    tools: Any = None,
    *,
    train_all_assistant: bool = False,
) -> TokenizedConversation:
    """Token ids of the rendered conversation and the mask of its trained tokens.

    `train_all_assistant` trains every assistant message whatever its weight (used to
    count a DPO output's tokens). Raises ChatTemplateError (see the module docstring).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateError("the model has no chat template, so it cannot train on chat data")
    normalized = normalize_messages(messages)
    full = _render(tokenizer, normalized, tools, False)
    spans: list[tuple[int, int]] = []
    for index, message in enumerate(messages):
        if not (train_all_assistant and message.get("role") == "assistant") and not _trained(
            message
        ):
            continue
        before = _render(tokenizer, normalized[:index], tools, True) if index else ""
        upto = _render(tokenizer, normalized[: index + 1], tools, False)
        if not upto.startswith(before) or not full.startswith(upto):
            raise ChatTemplateError(
                f"the chat template does not render message {index + 1} incrementally "
                "(earlier turns change when later ones are added), so its trained tokens "
                "cannot be told apart"
            )
        spans.append((len(before), len(upto)))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])
    mask = [0] * len(ids)
    for position, (start, end) in enumerate(encoded["offset_mapping"]):
        if end > start and any(a <= start < b for a, b in spans):
            mask[position] = 1
    return TokenizedConversation(ids, mask)


def prompt_ids(
    tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Any = None
) -> list[int]:
    """The tokens a model reads before answering `messages` (with the generation prompt)."""
    text = _render(tokenizer, normalize_messages(messages), tools, True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


_lock = threading.Lock()
_tokenizers: dict[str, Any] = {}


def load_tokenizer(model_dir: str) -> Any:
    """The model's tokenizer (fast), loaded once per process. Needs `transformers`."""
    with _lock:
        found = _tokenizers.get(model_dir)
        if found is None:
            from transformers import AutoTokenizer

            found = AutoTokenizer.from_pretrained(model_dir)
            _tokenizers[model_dir] = found
        return found
