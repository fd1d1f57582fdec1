"""The user prompt as minPromptDiversity compares it: the fast path is the plain one."""

from __future__ import annotations

import random
import sys
from typing import Any

from ftctl.datasets.similarity import normalized_prompt

# Every whitespace character str.split() splits at, and some that are not whitespace.
WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
OTHERS = ["a", "Z", "É", "ß", "İ", "Σ", "東", "_", "-", "\u200b", "\ufeff", "\x00", "\U0001f600"]


def _plain(example: dict[str, Any]) -> str:
    """What the diversity check compared before the fast path, written out."""
    text = "\n".join(m["content"] for m in example["messages"] if m.get("role") == "user")
    return " ".join(text.lower().split())


def _chat(*users: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": "Be brief."}]
    for user in users:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": "ok"}]
    return {"messages": messages}


def test_the_properties_the_fast_path_rests_on_hold_for_every_code_point() -> None:
    # If a Python's Unicode tables broke either, prompts would be compared differently.
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char.isspace() and char != " ":
            assert not char.isprintable(), hex(code)
        if not char.isspace():
            assert not any(c.isspace() for c in char.lower()), hex(code)


def test_the_same_prompt_as_split_and_join_makes() -> None:
    alphabet = WHITESPACE + OTHERS * 4 + [" "] * 20
    rng = random.Random(14)
    for _ in range(20_000):
        users = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            for _ in range(rng.randint(1, 3))
        ]
        example = _chat(*users)
        assert normalized_prompt(example) == _plain(example), users


def test_regular_and_irregular_prompts() -> None:
    assert normalized_prompt(_chat("Hello World", "Second ÜBER message")) == (
        "hello world second über message"
    )
    assert normalized_prompt(_chat("  Hello\tWorld  ")) == "hello world"
    assert normalized_prompt(_chat("a\u3000b", "c\xa0 d")) == "a b c d"
    assert normalized_prompt(_chat("", "")) == ""
    assert normalized_prompt({"messages": []}) == ""
