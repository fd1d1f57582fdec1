"""Token counts of one example, by OpenAI's documented method for chat messages.

Per message: 3 tokens of framing, plus the encoded value of each key (`role`, the content,
`name` plus 1 more token, `tool_call_id`), then 3 tokens to prime the reply per
conversation. This is the method of OpenAI's "How to count tokens with tiktoken" cookbook
and of the data-prep notebook; it matches the notebook exactly for text messages. ftctl
extends it, the same way, to what the notebook leaves out:

- content given as a list of parts: each text part's text is encoded; each image counts
  `IMAGE_TOKENS` (the cost of a low-detail image; a high-detail image costs more and
  cannot be known without the image);
- `tool_calls` and `function_call` of a message, and the top-level `tools`/`functions`
  definitions, are encoded as compact JSON (`json.dumps(value, separators=(",", ":"))`);
- `weight` is a training switch, not text the model reads: it is not counted.

`trained` counts the tokens the model is trained to produce: the content and tool calls of
assistant messages whose weight is not 0 (chat); the content of both outputs (DPO:
preferred + non-preferred; the framing is not counted); 0 for reinforcement, whose
answers the model samples itself. DPO's `total` counts the input once plus both outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ftctl.datasets.formats import Format
from ftctl.datasets.tokenizers import ENDOFTEXT

if TYPE_CHECKING:  # loaded where rows are counted (`tokenizers`), not by every importer
    import tiktoken

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_CONVERSATION = 3
IMAGE_TOKENS = 85

# add_text(text, trained, repeated): a text to encode. `repeated` marks texts that recur
# across examples (roles, system prompts, tool definitions) so that a caller may cache them.
AddText = Callable[[str, bool, bool], None]


@dataclass(frozen=True)
class TokenCount:
    total: int
    trained: int  # assistant tokens with weight != 0 (DPO: preferred + non-preferred)


def compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tally_example(example: dict[str, Any], fmt: Format, add_text: AddText) -> int:
    """Call `add_text` for every text of `example` that is encoded; return the fixed tokens.

    Tolerates malformed examples (skips what it cannot read), so that a file with format
    errors still gets token statistics.
    """
    fixed = 0
    if fmt == "dpo":
        inp = example.get("input")
        if isinstance(inp, dict):
            fixed += _tally_tools(inp, add_text)
            fixed += _tally_messages(inp.get("messages"), add_text, train_assistant=False)
        fixed += TOKENS_PER_CONVERSATION
        for key in ("preferred_output", "non_preferred_output"):
            fixed += _tally_messages(example.get(key), add_text, train_assistant=True)
        return fixed
    fixed += _tally_tools(example, add_text)
    fixed += _tally_messages(example.get("messages"), add_text, train_assistant=(fmt == "chat"))
    return fixed + TOKENS_PER_CONVERSATION


def _tally_tools(obj: dict[str, Any], add_text: AddText) -> int:
    for key in ("tools", "functions"):
        if key in obj:
            add_text(compact_json(obj[key]), False, True)
    return 0


def _tally_messages(messages: object, add_text: AddText, *, train_assistant: bool) -> int:
    if not isinstance(messages, list):
        return 0
    fixed = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        fixed += TOKENS_PER_MESSAGE
        role = message.get("role")
        trained = train_assistant and role == "assistant" and message.get("weight", 1) != 0
        repeated = role in ("system", "developer")
        for key, value in message.items():
            if key == "weight":
                continue
            if key == "content":
                fixed += _tally_content(value, add_text, trained, repeated)
            elif key in ("tool_calls", "function_call"):
                add_text(compact_json(value), trained, False)
            elif key == "role":
                add_text(value if isinstance(value, str) else compact_json(value), False, True)
            else:
                add_text(value if isinstance(value, str) else compact_json(value), False, False)
                if key == "name":
                    fixed += TOKENS_PER_NAME
    return fixed


def _tally_content(content: object, add_text: AddText, trained: bool, repeated: bool) -> int:
    if isinstance(content, str):
        add_text(content, trained, repeated)
        return 0
    if not isinstance(content, list):
        return 0
    fixed = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            fixed += IMAGE_TOKENS
        elif isinstance(part.get("text"), str):
            add_text(part["text"], trained, repeated)
    return fixed


def count_example(example: dict[str, Any], fmt: Format, enc: tiktoken.Encoding) -> TokenCount:
    """Total and trained tokens of one example (see the module docstring for the method)."""
    total = 0
    trained = 0

    def add_text(text: str, is_trained: bool, _repeated: bool) -> None:
        nonlocal total, trained
        n = len(enc.encode_ordinary(text))
        total += n
        if is_trained:
            trained += n

    fixed = tally_example(example, fmt, add_text)  # before reading `total`: it updates it
    return TokenCount(total=total + fixed, trained=trained)


def count_tokens_batch(enc: tiktoken.Encoding, texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """`[len(enc.encode_ordinary(t)) for t in texts]`, in one tiktoken call.

    The texts are joined with `<|endoftext|>` and encoded with that special token allowed.
    tiktoken encodes the pieces between special tokens independently, so each text's count
    is the distance between separators: exactly its `encode_ordinary` count. If a text
    holds the separator itself, the batch falls back to one call per text. tiktoken
    releases the GIL while encoding, so batches can run in threads (see `encode_joined`
    and `counts_from_tokens` for doing the two halves on different threads).
    """
    if not texts:
        return np.zeros(0, dtype=np.int64)
    return counts_from_tokens(enc, encode_joined(enc, ENDOFTEXT.join(texts)), texts)


def encode_joined(enc: tiktoken.Encoding, joined: str) -> npt.NDArray[np.uint32]:
    """The tokens of texts joined with `<|endoftext|>` (the separators encoded as such).

    Holds the GIL only to start and to wrap the result: the part to run on a helper thread.
    """
    return enc.encode_to_numpy(joined, allowed_special={ENDOFTEXT}, disallowed_special=())


def counts_from_tokens(
    enc: tiktoken.Encoding, tokens: npt.NDArray[np.uint32], texts: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Each text's token count from `encode_joined(enc, ENDOFTEXT.join(texts))`."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    separators = np.flatnonzero(tokens == enc.eot_token)
    if separators.size != len(texts) - 1:
        return np.array([len(enc.encode_ordinary(t)) for t in texts], dtype=np.int64)
    bounds = np.concatenate(([-1], separators, [tokens.size]))
    return (np.diff(bounds) - 1).astype(np.int64)


class RepeatedTexts:
    """Token counts of texts that recur across examples (roles, system prompts, tool
    definitions: `add_text`'s `repeated`), kept from batch to batch by one counter (a build
    worker's `count_examples`, `data stats`' main thread), bounded.

    `count_examples` encodes each such text once in a batch and not at all once it is
    known here: in a 2.4 KB chat example of nine messages the roles and the system prompt
    are a tenth of the texts, and each text joined costs tiktoken a segment of its own
    (~6 µs an example of a data build's workers, 0.3 CPU-s per 50,000 examples)."""

    MAX_TEXTS = 20_000
    MAX_CHARS = 8_000_000  # a dataset whose system prompts are all different stops adding

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._chars = 0

    def remember(self, text: str, count: int) -> None:
        if len(self.counts) >= self.MAX_TEXTS or self._chars + len(text) > self.MAX_CHARS:
            return
        self.counts[text] = count
        self._chars += len(text)


def count_examples(
    examples: Sequence[dict[str, Any]],
    fmt: Format,
    enc: tiktoken.Encoding,
    repeated: RepeatedTexts | None = None,
) -> list[TokenCount]:
    """`[count_example(e, fmt, enc) for e in examples]`, with one tiktoken call for all.

    Several times faster than counting one example at a time; same numbers (a text's count
    does not depend on the texts around it). A text that recurs across examples is encoded
    once in the call, and not at all if `repeated` knows it already.
    """
    texts: list[str] = []
    owners: list[int] = []  # per reference to a text: the example
    refs: list[int] = []  # and the text (repeated texts are referred to more than once)
    trained_flags: list[bool] = []
    fixed: list[int] = []
    known: dict[str, int] = {} if repeated is None else repeated.counts
    known_total = [0] * len(examples)
    known_trained = [0] * len(examples)
    slots: dict[str, int] = {}  # the repeated texts of this call, by their place in `texts`
    for index, example in enumerate(examples):

        def add_text(text: str, trained: bool, is_repeated: bool, index: int = index) -> None:
            if is_repeated:
                count = known.get(text)
                if count is not None:
                    known_total[index] += count
                    if trained:
                        known_trained[index] += count
                    return
                slot = slots.get(text)
                if slot is None:
                    slot = slots[text] = len(texts)
                    texts.append(text)
            else:
                slot = len(texts)
                texts.append(text)
            owners.append(index)
            refs.append(slot)
            trained_flags.append(trained)

        fixed.append(tally_example(example, fmt, add_text))
    counts = count_tokens_batch(enc, texts)
    if repeated is not None:
        for text, slot in slots.items():
            repeated.remember(text, int(counts[slot]))
    per_ref = counts[np.array(refs, dtype=np.int64)]
    owner = np.array(owners, dtype=np.int64)
    trained_mask = np.array(trained_flags, dtype=np.bool_)
    n = len(examples)
    totals = np.bincount(owner, per_ref, minlength=n).astype(np.int64)
    trained = np.bincount(owner[trained_mask], per_ref[trained_mask], minlength=n).astype(np.int64)
    return [
        TokenCount(
            total=int(totals[i]) + fixed[i] + known_total[i],
            trained=int(trained[i]) + known_trained[i],
        )
        for i in range(n)
    ]
