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
from typing import Any

import tiktoken

from ftctl.config.models import (
    DedupeTransform,
    MapFieldsArgs,
    MapFieldsTransform,
    MaxTokensArgs,
    MaxTokensTransform,
    NearDedupeArgs,
    NearDedupeTransform,
    SystemPromptArgs,
    SystemPromptTransform,
    Transform,
)
from ftctl.config.yaml_marks import FieldPath, SourceMap
from ftctl.datasets.provenance import Record
from ftctl.datasets.similarity import (
    LazyTexts,
    example_text,
    near_duplicates_in_order,
)
from ftctl.errors import Diagnostic

CountTokens = Callable[[dict[str, Any]], int]
CountMany = Callable[[Sequence[dict[str, Any]]], list[int]]
LISTED_DROPS = 20  # origins of dropped rows kept in the report, per transform


@dataclass(frozen=True)
class TransformContext:
    source_map: SourceMap
    split: str
    count_tokens: CountTokens
    encoding: tiktoken.Encoding
    model_limit: int
    count_many: CountMany | None = None  # the counts of many examples at once (batched)

    def field(self, index: int, *rest: str | int) -> FieldPath:
        return ("spec", "data", self.split, "transforms", index, *rest)


@dataclass
class TransformReport:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    changed: int = 0
    dropped: list[str] = field(default_factory=list)  # "file:line (why)", first LISTED_DROPS
    dropped_count: int = 0

    def drop(self, record: Record, why: str) -> None:
        self.dropped_count += 1
        if len(self.dropped) < LISTED_DROPS:
            self.dropped.append(f"{record.origin} ({why})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "changed": self.changed,
            "dropped": self.dropped_count,
            "dropped_rows": list(self.dropped),
        }


@dataclass
class TransformResult:
    records: list[Record]
    reports: list[TransformReport]
    diagnostics: list[Diagnostic]


def apply_transforms(
    records: Sequence[Record], transforms: Sequence[Transform], context: TransformContext
) -> TransformResult:
    current = list(records)
    reports: list[TransformReport] = []
    diagnostics: list[Diagnostic] = []
    for index, transform in enumerate(transforms):
        report = TransformReport(name=transform_name(transform), rows_in=len(current))
        current = _apply_one(current, transform, index, context, report, diagnostics)
        report.rows_out = len(current)
        reports.append(report)
    return TransformResult(current, reports, diagnostics)


def transform_name(transform: Transform) -> str:
    alias = next(iter(transform.model_dump(by_alias=True)))
    return str(alias)


def _apply_one(
    records: list[Record],
    transform: Transform,
    index: int,
    context: TransformContext,
    report: TransformReport,
    diagnostics: list[Diagnostic],
) -> list[Record]:
    if isinstance(transform, SystemPromptTransform):
        return _system_prompt(records, transform.system_prompt, index, context, report, diagnostics)
    if isinstance(transform, DedupeTransform):
        return _dedupe(records, report)
    if isinstance(transform, NearDedupeTransform):
        return _near_dedupe(records, transform.near_dedupe, report)
    if isinstance(transform, MaxTokensTransform):
        return _max_tokens(records, transform.max_tokens, index, context, report, diagnostics)
    if isinstance(transform, MapFieldsTransform):
        return _map_fields(records, transform.map_fields, report, diagnostics)
    raise AssertionError(f"unknown transform {transform!r}")


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


def _system_prompt(
    records: list[Record],
    args: SystemPromptArgs,
    index: int,
    context: TransformContext,
    report: TransformReport,
    diagnostics: list[Diagnostic],
) -> list[Record]:
    if args.mode != "remove" and not args.text.strip():
        diagnostics.append(
            context.source_map.diagnostic(
                context.field(index, "systemPrompt", "text"),
                f"systemPrompt mode '{args.mode}' needs a non-empty text",
            )
        )
        return records
    out: list[Record] = []
    for record in records:
        example = set_system_prompt(record.example, args.text, args.mode)
        if example is not record.example:
            report.changed += 1
            record = record.with_example(example)
        out.append(record)
    return out


# --------------------------------------------------------------------------- dedupe


def _dedupe(records: list[Record], report: TransformReport) -> list[Record]:
    first: dict[bytes, Record] = {}
    out: list[Record] = []
    for record in records:
        earlier = first.get(record.canonical)
        if earlier is not None:
            report.drop(record, f"duplicate of {earlier.origin}")
            continue
        first[record.canonical] = record
        out.append(record)
    return out


def _near_dedupe(
    records: list[Record], args: NearDedupeArgs, report: TransformReport
) -> list[Record]:
    # Made one at a time as compared (and again only for a candidate): never all held.
    texts = LazyTexts([r.example for r in records], example_text)
    matches = near_duplicates_in_order(texts, args.threshold, args.num_perm, keep_all=False)
    out: list[Record] = []
    for record, match in zip(records, matches, strict=True):
        if match is not None:
            report.drop(
                record,
                f"near-duplicate of {records[match.key].origin}, {match.similarity:.0%} similar",
            )
            continue
        out.append(record)
    return out


# --------------------------------------------------------------------------- maxTokens


def _max_tokens(
    records: list[Record],
    args: MaxTokensArgs,
    index: int,
    context: TransformContext,
    report: TransformReport,
    diagnostics: list[Diagnostic],
) -> list[Record]:
    limit = context.model_limit if args.limit == "auto" else args.limit
    field_name = f"data.{context.split}.transforms[{index}].maxTokens"
    out: list[Record] = []
    if context.count_many is not None:
        totals = context.count_many([r.example for r in records])
    else:
        totals = [context.count_tokens(r.example) for r in records]
    for record, tokens in zip(records, totals, strict=True):
        if tokens <= limit:
            out.append(record)
            continue
        if args.action == "error":
            diagnostics.append(
                Diagnostic(
                    file=record.origin.file,
                    line=record.origin.line,
                    field=field_name,
                    message=f"example has {tokens} tokens, more than the limit of {limit}",
                )
            )
            out.append(record)
        elif args.action == "truncate":
            cut = truncate_example(record.example, limit, context.count_tokens, context.encoding)
            if cut is None:
                report.drop(record, f"{tokens} tokens > {limit}, cannot be truncated")
            else:
                report.changed += 1
                out.append(record.with_example(cut))
        else:
            report.drop(record, f"{tokens} tokens > {limit}")
    return out


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


def _map_fields(
    records: list[Record],
    args: MapFieldsArgs,
    report: TransformReport,
    diagnostics: list[Diagnostic],
) -> list[Record]:
    out: list[Record] = []
    for record in records:
        mapped = map_fields(record.example, args)
        if isinstance(mapped, str):
            diagnostics.append(
                Diagnostic(
                    file=record.origin.file,
                    line=record.origin.line,
                    field="mapFields",
                    message=mapped,
                )
            )
            continue  # reported once here, not again by the format check
        if mapped is not record.example:
            report.changed += 1
            record = record.with_example(mapped)
        out.append(record)
    return out
