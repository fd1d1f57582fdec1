"""Token counting: OpenAI's documented chat method, extended to tools, images, DPO and RFT."""

from __future__ import annotations

import pytest
import tiktoken

from ftctl.datasets.counting import (
    IMAGE_TOKENS,
    RepeatedTexts,
    compact_json,
    count_example,
    count_examples,
    count_tokens_batch,
)
from ftctl.datasets.tokenizers import get_encoding


@pytest.fixture(scope="module")
def enc() -> tiktoken.Encoding:
    return get_encoding("o200k_base")


def n(enc: tiktoken.Encoding, text: str) -> int:
    return len(enc.encode_ordinary(text))


def test_chat_follows_the_documented_method(enc: tiktoken.Encoding) -> None:
    example = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a colour.", "name": "alice"},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another?"},
            {"role": "assistant", "content": "Red.", "weight": 0},
        ]
    }
    expected = 3  # reply priming
    for m in example["messages"]:
        expected += 3 + n(enc, m["role"]) + n(enc, m["content"])
    expected += n(enc, "alice") + 1
    count = count_example(example, "chat", enc)
    assert count.total == expected
    assert count.trained == n(enc, "Blue.")  # the weight-0 answer is not trained


def test_tools_tool_calls_and_images_are_counted(enc: tiktoken.Encoding) -> None:
    tools = [{"type": "function", "function": {"name": "track", "parameters": {"type": "object"}}}]
    calls = [{"id": "c1", "type": "function", "function": {"name": "track", "arguments": "{}"}}]
    plain = {
        "messages": [
            {"role": "user", "content": "Where?"},
            {"role": "assistant", "content": "Here."},
        ]
    }
    with_tools = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Where?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                ],
            },
            {"role": "assistant", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c1", "content": "here"},
            {"role": "assistant", "content": "Here."},
        ],
        "tools": tools,
    }
    base = count_example(plain, "chat", enc)
    full = count_example(with_tools, "chat", enc)
    call_tokens = n(enc, compact_json(calls))
    tool_message = 3 + n(enc, "tool") + n(enc, "c1") + n(enc, "here")
    call_message = 3 + n(enc, "assistant") + call_tokens
    assert full.total == (
        base.total + n(enc, compact_json(tools)) + IMAGE_TOKENS + call_message + tool_message
    )
    assert full.trained == base.trained + call_tokens


def test_dpo_trains_both_outputs_and_rft_trains_nothing(enc: tiktoken.Encoding) -> None:
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello there!"}],
        "non_preferred_output": [{"role": "assistant", "content": "What."}],
    }
    count = count_example(dpo, "dpo", enc)
    assert count.trained == n(enc, "Hello there!") + n(enc, "What.")
    assert count.total == (
        3 + (3 + n(enc, "user") + n(enc, "Hi")) + 2 * (3 + n(enc, "assistant")) + count.trained
    )
    rft = {"messages": [{"role": "user", "content": "2+2?"}], "reference_answer": "4"}
    rft_count = count_example(rft, "reinforcement", enc)
    assert rft_count.trained == 0
    assert rft_count.total == 3 + 3 + n(enc, "user") + n(enc, "2+2?")


def test_batch_counts_equal_one_by_one(enc: tiktoken.Encoding) -> None:
    texts = [
        "",
        "Hello   ",
        "  trailing spaces then newline \n",
        "\n\n",
        "Ünïcödé 東京 123456789 $19.99",
        "word",
        "'s 're",
        "ends with space ",
    ]
    assert count_tokens_batch(enc, texts).tolist() == [n(enc, t) for t in texts]
    # A text holding the separator itself: still exact (falls back to one call per text).
    tricky = [*texts, "before <|endoftext|> after"]
    assert count_tokens_batch(enc, tricky).tolist() == [n(enc, t) for t in tricky]
    assert count_tokens_batch(enc, []).tolist() == []


def test_count_examples_equals_one_by_one(enc: tiktoken.Encoding) -> None:
    examples = [
        {
            "messages": [
                {"role": "user", "content": f"Q{i} " * i},
                {"role": "assistant", "content": "A " * i, "weight": i % 2},
            ]
        }
        for i in range(1, 20)
    ]
    assert count_examples(examples, "chat", enc) == [
        count_example(e, "chat", enc) for e in examples
    ]
    assert count_examples([], "chat", enc) == []


def test_repeated_texts_are_counted_once_with_the_same_numbers(enc: tiktoken.Encoding) -> None:
    """Roles, system prompts and tool definitions recur: `count_examples` encodes each once
    per call, and not at all once a `RepeatedTexts` knows it, with the numbers of counting
    one example at a time, in every call that shares it."""
    tools = [{"type": "function", "function": {"name": "track", "parameters": {}}}]
    examples = [
        {
            "messages": [
                {"role": "system", "content": f"You are helper {i % 3}."},
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": f"Q{i} " * i},
                {"role": "assistant", "content": "A " * i, "weight": i % 2},
            ],
            **({"tools": tools} if i % 2 else {}),
        }
        for i in range(1, 30)
    ]
    one_by_one = [count_example(e, "chat", enc) for e in examples]
    repeated = RepeatedTexts()
    assert count_examples(examples[:10], "chat", enc, repeated) == one_by_one[:10]
    assert "You are helper 1." in repeated.counts and "system" in repeated.counts
    assert count_examples(examples[10:], "chat", enc, repeated) == one_by_one[10:]
    assert count_examples(examples, "chat", enc) == one_by_one  # no cache across calls
    dpo = {
        "input": {
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
        },
        "preferred_output": [{"role": "assistant", "content": "yes"}],
        "non_preferred_output": [{"role": "assistant", "content": "no"}],
    }
    assert count_examples([dpo, dpo], "dpo", enc, repeated) == [count_example(dpo, "dpo", enc)] * 2


def test_repeated_texts_stop_growing_at_their_bound() -> None:
    repeated = RepeatedTexts()
    for i in range(RepeatedTexts.MAX_TEXTS + 5):
        repeated.remember(f"prompt {i}", 3)
    assert len(repeated.counts) == RepeatedTexts.MAX_TEXTS
    big = RepeatedTexts()
    big.remember("x" * RepeatedTexts.MAX_CHARS, 1)
    big.remember("y", 1)
    assert big.counts == {"x" * RepeatedTexts.MAX_CHARS: 1}
