"""Tokens of the local models: bytes, plus a few special tokens.

`local-tiny` (and every model fine-tuned from it) reads and writes UTF-8 *bytes*: token ids
0..255 are the bytes, so any text is representable and "one token" means "one byte" in
every count the local server reports (prompt_tokens, completion_tokens, trained_tokens).
Special tokens mark the chat structure. The prompt is additionally turned into a bag of
hashed word unigrams and bigrams (`prompt_features`), which is how the model sees the
*whole* prompt rather than only the last few bytes.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

N_BYTES = 256
EOS = 256  # end of a message; as an output class it means "the answer is complete"
BOS = 257
SYSTEM = 258
USER = 259
ASSISTANT = 260
TOOL = 261
VOCAB_SIZE = 262
OUTPUT_SIZE = 257  # the model predicts a byte or EOS

ROLE_TOKENS: Mapping[str, int] = {
    "system": SYSTEM,
    "developer": SYSTEM,
    "user": USER,
    "assistant": ASSISTANT,
    "tool": TOOL,
    "function": TOOL,
}

# Words (letters/digits runs) and single punctuation characters: "!!!" and "$" carry signal too.
_WORD_RE = re.compile(r"[^\W_]+|[^\w\s]")
# The prefix of every feature says where in the prompt the word was: the system prompt, a user
# turn, an earlier assistant turn, or the *last* message (which usually is the request itself).
_ROLE_PREFIX: Mapping[str, str] = {
    "system": "s",
    "developer": "s",
    "user": "u",
    "assistant": "a",
    "tool": "t",
    "function": "t",
}
_BIAS_FEATURE = b"\x00bias"
LONG_PROMPT_FEATURES = 512


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message: its content (string or text parts) and any tool calls.

    Tool calls and function calls are rendered as compact JSON after the content, so that a
    model can be fine-tuned to emit them as text.
    """
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
    for key in ("tool_calls", "function_call"):
        calls = message.get(key)
        if calls:
            parts.append(json.dumps(calls, separators=(",", ":"), sort_keys=True))
    return "".join(parts)


def encode_text(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def decode_tokens(tokens: Sequence[int]) -> str:
    """Bytes back to text; special tokens are dropped, broken UTF-8 becomes U+FFFD."""
    return bytes(t for t in tokens if t < N_BYTES).decode("utf-8", errors="replace")


def encode_prompt(messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """The prompt as tokens: BOS, then per message `<role> bytes EOS`, then `<assistant>`.

    Its length is what the local server reports as `prompt_tokens`.
    """
    tokens = [BOS]
    for message in messages:
        tokens.append(ROLE_TOKENS.get(str(message.get("role")), USER))
        tokens.extend(encode_text(message_text(message)))
        tokens.append(EOS)
    tokens.append(ASSISTANT)
    return tokens


_DIGIT_RE = re.compile(r"\d")


def _normalise(text: str) -> str:
    """Lower-case; digits become 0 (order numbers are noise, their shape is not); apostrophes go
    so that "don't" is one word whose bigram with the next word carries the negation."""
    return _DIGIT_RE.sub("0", text.lower()).replace("'", "").replace("\u2019", "")


def _bucket(feature: bytes, n_buckets: int) -> int:
    # crc32, not hash(): Python's string hash is salted per process and would break determinism.
    return zlib.crc32(feature) % n_buckets


def prompt_features(
    messages: Sequence[Mapping[str, Any]], n_buckets: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Hashed bag of word unigrams and bigrams of the whole prompt: (bucket ids, weights).

    Each message contributes its lower-cased words and adjacent word pairs, prefixed by its
    role; the last message contributes them a second time with its own prefix. A constant
    bias feature makes every prompt non-empty. Weights are plain counts: the prompt vector
    is a sum, so one telling word keeps its full weight (a mean or a 1/sqrt(n) scaling
    measurably lowered accuracy on the support-triage task). Only prompts of more than
    `LONG_PROMPT_FEATURES` features are scaled down, by sqrt(LONG_PROMPT_FEATURES / n), so
    that a long document cannot saturate the model.
    """
    features: list[bytes] = [_BIAS_FEATURE]
    for index, message in enumerate(messages):
        words = _WORD_RE.findall(_normalise(message_text(message)))
        prefixes = [_ROLE_PREFIX.get(str(message.get("role")), "u")]
        if index == len(messages) - 1:
            prefixes.append("L")
        for prefix in prefixes:
            features.extend(f"{prefix}|{w}".encode() for w in words)
            features.extend(f"{prefix}|{a} {b}".encode() for a, b in itertools.pairwise(words))
    buckets = np.fromiter(
        (_bucket(f, n_buckets) for f in features), dtype=np.int64, count=len(features)
    )
    ids, counts = np.unique(buckets, return_counts=True)
    weights = counts.astype(np.float64) * min(1.0, np.sqrt(LONG_PROMPT_FEATURES / len(features)))
    return ids.astype(np.int64), weights
