"""Which training files the local trainer accepts, and the hyperparameter defaults."""

from __future__ import annotations

from typing import Any

import pytest

from ftctl.server.trainers.numpy_lm import Hyper, resolve_hyperparameters, validate_training_file

OK = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_a_chat_file_is_trainable() -> None:
    parts = {
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
            {"role": "user", "content": "call it"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
            {"role": "assistant", "content": "It is 42.", "weight": 1},
        ]
    }
    assert validate_training_file([OK, parts]) is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "the training file has no examples"),
        ([OK, {"prompt": "x", "completion": "y"}], "line 2: missing 'messages'"),
        (
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "a", "weight": 0},
                    ]
                }
            ],
            "line 1: no assistant message with weight 1",
        ),
        (
            [{"messages": [{"role": "user", "content": "hi"}]}],
            "line 1: no assistant message with weight 1",
        ),
        (
            [
                {
                    "messages": [
                        {"role": "robot", "content": "hi"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            ],
            "line 1, message 1: unknown role 'robot'",
        ),
        (
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "a", "weight": 2},
                    ]
                }
            ],
            "line 1, message 2: 'weight' must be 0 or 1",
        ),
        (
            [
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": "x"}}],
                        },
                        {"role": "assistant", "content": "a cat"},
                    ]
                }
            ],
            "line 1, message 1: content part of type 'image_url' is not supported by the local trainer",
        ),
        (
            [
                {
                    "input": {"messages": [{"role": "user", "content": "hi"}]},
                    "preferred_output": [{"role": "assistant", "content": "hello"}],
                    "non_preferred_output": [{"role": "assistant", "content": "go away"}],
                }
            ],
            "DPO is not supported by the local trainer",
        ),
    ],
)
def test_untrainable_files_get_a_message_naming_the_problem(
    rows: list[dict[str, Any]], message: str
) -> None:
    problem = validate_training_file(rows)
    assert problem is not None and problem.startswith(message), problem


@pytest.mark.parametrize(
    ("n_examples", "n_epochs", "batch_size"),
    [
        (10, 10, 1),  # too few examples: more epochs so that ~100 examples are seen
        (3, 25, 1),  # capped at 25 epochs
        (300, 3, 1),  # the target: 3 epochs; 0.2% of 300 rounds to 1
        (5_000, 3, 10),
        (20_000, 1, 40),  # too many: at most 25,000 examples seen
        (1_000_000, 1, 256),  # batch size capped at 256
    ],
)
def test_auto_hyperparameters_follow_openais_rules(
    n_examples: int, n_epochs: int, batch_size: int
) -> None:
    hyper = resolve_hyperparameters(n_examples, None, None, None)
    assert (hyper.n_epochs, hyper.batch_size) == (n_epochs, batch_size)
    assert 0 < hyper.learning_rate_multiplier <= 2.0


def test_explicit_hyperparameters_are_kept() -> None:
    assert resolve_hyperparameters(300, 6, 8, 0.5) == Hyper(6, 8, 0.5)
    assert resolve_hyperparameters(300, None, 8, None).learning_rate_multiplier == 2.0
    assert resolve_hyperparameters(300, None, 2, None).learning_rate_multiplier == 1.0
