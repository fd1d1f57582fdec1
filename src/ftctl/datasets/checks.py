"""The per-example data checks, one implementation for `data stats` and `data build`.

`ExampleChecks.examine(example)` looks at one example once and returns what every
per-example check found (`ExampleFindings`): a refusal as its answer, a missing or empty
answer, an answer that looks cut off, secrets. `data stats` counts them per line; the policy
(`ftctl.datasets.policy`) turns them into findings at the check's level. Exact duplicates
are found the same way by both, on the canonical bytes of each example
(`duplicate_positions`), so `data stats` and `data build` agree about the same file.

`REGISTRY` names each check: its policy field and its key in the `data stats` report. A new
per-example check is a function here, a field of `ExampleFindings` and an entry there.

Rules:

- **refusal**: the last answer (DPO: the preferred output) is recognised by the refusal
  matcher (`ftctl.text.refusals`, shared with the eval gate).
- **empty answer** (`answer_problem`): no assistant message, or one without text and without a
  tool call; DPO: an output missing or without text. Not applicable to reinforcement data.
- **cut-off answer** (`looks_cut_off`): the last answer has at least `CUT_OFF_MIN_WORDS` words
  and ends in a letter or digit, or in a connective (`, ; : - – — ( / & +`), as if the text
  stopped mid-sentence. Terminal punctuation, a closing bracket or quote, an emoji, a code
  fence, a JSON answer and short answers are not flagged. Not applicable to reinforcement data.
- **secrets**: API keys, tokens, private keys in any string of the example
  (`ftctl.datasets.secrets`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.datasets.formats import Format
from ftctl.datasets.secrets import secrets_in_example, secrets_in_strings
from ftctl.datasets.similarity import answers_of, content_text, messages_of
from ftctl.text.refusals import DEFAULT_REFUSAL_PHRASES, RefusalMatcher

CUT_OFF_MIN_WORDS = 8
# Changes with what the checks find: part of every cache key of a result holding findings.
CHECKS_VERSION = 2
_WORD = re.compile(r"\w+")
_CONNECTIVES = frozenset(",;:-–—(/&+")


@dataclass(frozen=True)
class CheckInfo:
    """One per-example check: its policy field and its `data stats` report key."""

    policy_key: str
    stats_key: str
    what: str


REGISTRY: tuple[CheckInfo, ...] = (
    CheckInfo("maxRefusalRatio", "refusals", "answers that are refusals"),
    CheckInfo("maxDuplicateRatio", "duplicates", "exact duplicates of an earlier example"),
    CheckInfo("emptyAnswers", "empty_answers", "examples without an answer"),
    CheckInfo("truncatedAnswers", "truncated_answers", "answers that look cut off"),
    CheckInfo("secrets", "secrets", "examples containing secrets"),
)


@dataclass(frozen=True)
class ExampleFindings:
    """What the per-example checks found in one example (None / False / (): nothing)."""

    refusal: bool = False
    empty: str | None = None  # why the example has no usable answer
    cut_off: str | None = None  # the message: the answer's last words
    secrets: tuple[str, ...] = ()  # kinds of secret, never the secret


NOTHING = ExampleFindings()


def last_answer_text(example: dict[str, Any]) -> str | None:
    """The text of the answer the example ends with (DPO: the preferred one)."""
    preferred = example.get("preferred_output")
    if isinstance(preferred, list) and preferred and isinstance(preferred[-1], dict):
        return content_text(preferred[-1].get("content"))
    answers = [m for m in messages_of(example) if m.get("role") == "assistant"]
    if not answers:
        return None
    return content_text(answers[-1].get("content"))


def answer_problem(example: dict[str, Any], fmt: Format) -> str | None:
    """Why the example has no usable answer, or None."""
    if fmt == "reinforcement":
        return None  # the model writes its own answers
    if fmt == "dpo":
        for key in ("preferred_output", "non_preferred_output"):
            outputs = example.get(key)
            if not isinstance(outputs, list) or not outputs:
                return f"{key} is missing"
            if not any(
                content_text(m.get("content")).strip() for m in outputs if isinstance(m, dict)
            ):
                return f"{key} has an empty answer"
        return None
    answers = answers_of(example)
    if not answers:
        return "example has no assistant message"
    for position, message in enumerate(answers, start=1):
        calls = message.get("tool_calls") or message.get("function_call")
        if not calls and not content_text(message.get("content")).strip():
            return f"assistant message {position} of {len(answers)} is empty"
    return None


def looks_cut_off(text: str) -> bool:
    """True when an answer looks cut off mid-sentence (see the module docstring)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    # The cheap tests first: most answers end in punctuation and are decided here.
    last = stripped[-1]
    if not (last.isalnum() or last in _CONNECTIVES) or stripped.endswith("```"):
        return False
    words = 0
    for _ in _WORD.finditer(stripped):
        words += 1
        if words >= CUT_OFF_MIN_WORDS:
            break
    if words < CUT_OFF_MIN_WORDS:
        return False
    try:
        json.loads(stripped)
        return False
    except ValueError:
        return True


def cut_off_message(answer: str) -> str:
    return f"the answer looks cut off mid-sentence: …{_tail(answer)}"


def _tail(text: str, width: int = 30) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat[-width:], ensure_ascii=False)


def _simple_chat(example: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The messages of a plain text chat example (`role` + non-empty string `content`
    only, no other key), for which the checks need no general walk; else None."""
    if len(example) != 1:
        return None
    messages = example.get("messages")
    if type(messages) is not list or not messages:
        return None
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        content = message.get("content")
        if type(content) is not str or not content or type(message.get("role")) is not str:
            return None
    return messages


class ExampleChecks:
    """The per-example checks of one format, with the checks that are on."""

    def __init__(
        self,
        fmt: Format,
        *,
        phrases: Sequence[str] = DEFAULT_REFUSAL_PHRASES,
        refusals: bool = True,
        empty: bool = True,
        cut_off: bool = True,
        secrets: bool = True,
    ) -> None:
        self.fmt = fmt
        self._refusal = RefusalMatcher(tuple(phrases)) if refusals else None
        self._empty = empty and fmt != "reinforcement"
        self._cut_off = cut_off and fmt != "reinforcement"
        self._secrets = secrets

    def examine(self, example: dict[str, Any]) -> ExampleFindings:
        messages = _simple_chat(example) if self.fmt != "dpo" else None
        if messages is not None:
            return self.examine_plain(messages)
        answer = last_answer_text(example)
        problem = answer_problem(example, self.fmt)
        kinds = tuple(secrets_in_example(example)) if self._secrets else ()
        return self._found(answer, problem, kinds)

    def examine_plain(self, messages: list[dict[str, Any]]) -> ExampleFindings:
        """`examine` of a plain text chat example (not DPO) given its messages: each exactly
        a string `role` and a non-empty string `content`, as `_simple_chat` checks them
        (`data stats` has checked that already). The same answers as the general path,
        without its walks."""
        answer: str | None = None
        empty_at: int | None = None
        answers = 0
        for message in messages:
            if message["role"] == "assistant":
                answers += 1
                answer = message["content"]
                if empty_at is None and not answer.strip():
                    empty_at = answers
        if answers == 0:
            problem: str | None = "example has no assistant message"
        elif empty_at is not None:
            problem = f"assistant message {empty_at} of {answers} is empty"
        else:
            problem = None
        # its strings: each message's role and content
        kinds = (
            tuple(secrets_in_strings([x for m in messages for x in m.values()]))
            if self._secrets
            else ()
        )
        return self._found(answer, problem, kinds)

    def _found(
        self, answer: str | None, problem: str | None, kinds: tuple[str, ...]
    ) -> ExampleFindings:
        refusal = self._refusal is not None and self._refusal(answer or "")
        empty_found = problem if self._empty else None
        cut = (
            cut_off_message(answer) if self._cut_off and answer and looks_cut_off(answer) else None
        )
        if not (refusal or empty_found or cut or kinds):
            return NOTHING
        return ExampleFindings(refusal, empty_found, cut, kinds)


def example_digest(canonical: bytes) -> bytes:
    """A 16-byte digest of an example's canonical bytes: equal examples, equal digests."""
    return hashlib.blake2b(canonical, digest_size=16).digest()


def duplicate_positions(
    digests: Sequence[bytes],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(positions, originals): each example whose digest an earlier one has, in order, and
    the position of the first example with that digest."""
    first: dict[bytes, int] = {}
    positions: list[int] = []
    originals: list[int] = []
    for position, digest in enumerate(digests):
        earlier = first.setdefault(digest, position)
        if earlier != position:
            positions.append(position)
            originals.append(earlier)
    return np.array(positions, dtype=np.int64), np.array(originals, dtype=np.int64)
