"""The `transforms:` of a split, applied in the order written.

- `systemPrompt {text, mode}`: `ensure` adds the system message when an example has none
  (an existing one is kept); `replace` removes every system message and puts `text` first;
  `remove` removes every system message. Rows without a conversation are left alone.
- `dedupe`: drops rows whose canonical bytes equal an earlier row's (the first is kept).
- `nearDedupe {threshold, numPerm}`: drops rows whose text (prompt and answers) has a
  word 3-shingle Jaccard similarity of at least `threshold` with an earlier kept row
  (MinHash/LSH, see `ftctl.datasets.similarity`).
- `maxTokens {limit, action}`: rows above `limit` tokens (`auto`: the model's per-example
  limit) are dropped (`drop`), reported as errors (`error`), or truncated (`truncate`):
  trailing turns are removed so that the example ends at the latest assistant message that
  fits; if even the first exchange is too long, that assistant message is cut at a token
  boundary to fit. An example whose prompt alone exceeds the limit, or that is not a chat
  example (DPO, tool-call-only answers), cannot be truncated soundly and is dropped. A cut
  answer ends mid-sentence, which the `truncatedAnswers` check reports: prefer `drop`.
- `mapFields {prompt, completion, system}`: rows `{prompt, completion}` (or the field names
  given; with the default names `{input, output}` rows too) become
  `{"messages": [system?, user, assistant]}`; other fields of the row are not kept. Rows
  that already have `messages` pass unchanged.

Each transform reports how many rows it saw, kept, changed and dropped (with the origins of
the first dropped rows), so that a reviewer sees what happened to the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftctl.datasets.provenance import Origin

if TYPE_CHECKING:  # not at run time: row workers start without pydantic's models (~0.17 s)
    import tiktoken

    from ftctl.config.models import MapFieldsArgs, Transform

CountTokens = Callable[[dict[str, Any]], int]
CountMany = Callable[[Sequence[dict[str, Any]]], list[int]]
LISTED_DROPS = 20  # origins of dropped rows kept in the report, per transform


@dataclass
class TransformReport:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    changed: int = 0
    dropped: list[str] = field(default_factory=list)  # "file:line (why)", first LISTED_DROPS
    dropped_count: int = 0

    def drop(self, origin: Origin, why: str) -> None:
        self.dropped_count += 1
        if len(self.dropped) < LISTED_DROPS:
            self.dropped.append(f"{origin} ({why})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "changed": self.changed,
            "dropped": self.dropped_count,
            "dropped_rows": list(self.dropped),
        }


def transform_name(transform: Transform) -> str:
    alias = next(iter(transform.model_dump(by_alias=True)))
    return str(alias)


# --------------------------------------------------------------------------- systemPrompt


def _conversation(example: dict[str, Any]) -> tuple[dict[str, Any], list[Any]] | None:
    """The dict that holds the conversation (the row, or a DPO row's `input`) and its list."""
    if isinstance(example.get("messages"), list):
        return example, example["messages"]
    inner = example.get("input")
    if isinstance(inner, dict) and isinstance(inner.get("messages"), list):
        return inner, inner["messages"]
    return None


def _with_messages(example: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
    if isinstance(example.get("messages"), list):
        return {**example, "messages": messages}
    return {**example, "input": {**example["input"], "messages": messages}}


def _is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "system"


def set_system_prompt(example: dict[str, Any], text: str, mode: str) -> dict[str, Any]:
    """The example with its system prompt ensured, replaced or removed (`mode`)."""
    found = _conversation(example)
    if found is None:
        return example
    _holder, messages = found
    has_system = any(_is_system(m) for m in messages)
    if mode == "ensure":
        if has_system:
            return example
        return _with_messages(example, [{"role": "system", "content": text}, *messages])
    others = [m for m in messages if not _is_system(m)]
    if mode == "remove":
        return example if not has_system else _with_messages(example, others)
    replaced = [{"role": "system", "content": text}, *others]
    return example if replaced == messages else _with_messages(example, replaced)


# --------------------------------------------------------------------------- maxTokens


def truncate_example(
    example: dict[str, Any], limit: int, count: CountTokens, encoding: tiktoken.Encoding
) -> dict[str, Any] | None:
    """The example shortened to at most `limit` tokens, ending with an assistant message.

    None when that is not possible without losing the first answer's prompt.
    """
    messages = example.get("messages")
    if not isinstance(messages, list):
        return None
    answers = [
        i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"
    ]
    if not answers:
        return None
    # 1. Drop trailing turns: the longest prefix that ends with an assistant message and fits.
    for end in reversed(answers):
        candidate = {**example, "messages": messages[: end + 1]}
        if count(candidate) <= limit:
            return candidate
    # 2. Only the first exchange is left and is still too long: cut its answer.
    first = answers[0]
    answer = messages[first]
    content = answer.get("content")
    if not isinstance(content, str) or not content or answer.get("tool_calls"):
        return None

    def with_answer(text: str) -> dict[str, Any]:
        return {**example, "messages": [*messages[:first], {**answer, "content": text}]}

    budget = limit - count(with_answer(""))
    if budget <= 0:
        return None
    tokens = encoding.encode(content, disallowed_special=())
    keep = min(budget, len(tokens))
    while keep > 0:
        # Decoding a prefix can re-encode to a different length: check and shrink.
        text = encoding.decode(tokens[:keep])
        candidate = with_answer(text)
        if text.strip() and count(candidate) <= limit:
            return candidate
        keep -= 1
    return None


# --------------------------------------------------------------------------- mapFields


def map_fields(example: dict[str, Any], args: MapFieldsArgs) -> dict[str, Any] | str:
    """The chat form of a `{prompt, completion}` row, or why it cannot be mapped."""
    if "messages" in example:
        return example
    names = [(args.prompt, args.completion)]
    if (args.prompt, args.completion) == ("prompt", "completion"):
        names.append(("input", "output"))
    for prompt_key, completion_key in names:
        if prompt_key in example and completion_key in example:
            prompt, completion = example[prompt_key], example[completion_key]
            if not isinstance(prompt, str) or not isinstance(completion, str):
                return f"'{prompt_key}' and '{completion_key}' must be strings"
            messages: list[dict[str, Any]] = []
            if args.system is not None:
                messages.append({"role": "system", "content": args.system})
            messages.append({"role": "user", "content": prompt})
            messages.append({"role": "assistant", "content": completion})
            return {"messages": messages}
    wanted = " or ".join(f"'{p}' and '{c}'" for p, c in names)
    return f"row has neither 'messages' nor {wanted}"
