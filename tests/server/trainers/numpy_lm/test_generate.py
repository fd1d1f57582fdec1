"""Generation: stopping rules, token counts, greedy vs seeded sampling."""

from __future__ import annotations

from typing import Any

from ftctl.server.trainers.numpy_lm import base_weights, generate, prompt_of

ASK = [{"role": "system", "content": "Route."}, {"role": "user", "content": "my invoice is wrong"}]


def test_greedy_answer_ends_at_the_end_token(
    trained: Any, valid_rows: list[dict[str, Any]]
) -> None:
    row = valid_rows[0]
    generation = generate(trained.outcome.weights, prompt_of(row), 100, 0.0, None, None)
    assert generation.finish_reason == "stop"
    assert generation.text == row["messages"][-1]["content"]
    assert generation.completion_tokens == len(generation.text.encode())


def test_prompt_tokens_are_bytes_plus_chat_markers() -> None:
    generation = generate(base_weights("local-tiny", 0), ASK, 1, 0.0, None, None)
    # BOS, then role + bytes + end per message, then the assistant marker.
    assert generation.prompt_tokens == 1 + (1 + 6 + 1) + (1 + 19 + 1) + 1


def test_max_tokens_cuts_the_answer(trained: Any, valid_rows: list[dict[str, Any]]) -> None:
    generation = generate(trained.outcome.weights, prompt_of(valid_rows[0]), 5, 0.0, None, None)
    assert generation == generation.__class__('{"que', generation.prompt_tokens, 5, "length")


def test_stop_strings_end_the_answer_before_them(
    trained: Any, valid_rows: list[dict[str, Any]]
) -> None:
    generation = generate(
        trained.outcome.weights, prompt_of(valid_rows[0]), 100, 0.0, None, [": ", "zz"]
    )
    assert (generation.text, generation.finish_reason) == ('{"queue"', "stop")


def test_sampling_is_reproducible_with_a_seed_and_varies_across_seeds() -> None:
    weights = base_weights("local-tiny", 0)
    first = generate(weights, ASK, 30, 1.0, 11, None)
    assert generate(weights, ASK, 30, 1.0, 11, None) == first
    assert {generate(weights, ASK, 30, 1.0, seed, None).text for seed in range(5)} != {first.text}
    # Greedy decoding ignores the seed.
    assert generate(weights, ASK, 30, 0.0, 1, None) == generate(weights, ASK, 30, 0.0, 2, None)
