"""Text generation with a local model: greedy at temperature 0, seeded sampling otherwise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ftctl.server.trainers.base import Generation
from ftctl.server.trainers.numpy_lm.model import Weights
from ftctl.server.trainers.numpy_lm.tokenizer import (
    ASSISTANT,
    EOS,
    decode_tokens,
    encode_prompt,
    prompt_features,
)


def _truncate_at_stop(text: str, stop: Sequence[str]) -> str | None:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return None if cut < 0 else text[:cut]


def generate(
    weights: Weights,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float,
    seed: int | None,
    stop: list[str] | None,
) -> Generation:
    """Complete the conversation `messages` with one assistant message.

    Stops at the model's end-of-answer token (finish_reason "stop"), at the first of the
    `stop` strings (which is not included in the text; "stop"), or after `max_tokens` bytes
    ("length"). `seed` makes sampling (temperature > 0) reproducible; greedy decoding ignores it.
    """
    config, params = weights.config, weights.params
    prompt_tokens = len(encode_prompt(messages))
    ids, feature_weights = prompt_features(messages, config.n_buckets)
    prompt = (params["E"][ids] * feature_weights[:, None].astype(params["E"].dtype)).sum(axis=0)
    w1 = params["W1"]
    prompt_dim, context_dim = config.prompt_dim, config.context * config.token_dim
    # The prompt's share of the first layer is the same at every position: compute it once.
    fixed = prompt @ w1[:prompt_dim] + params["b1"]
    w1_context, w1_position = (
        w1[prompt_dim : prompt_dim + context_dim],
        w1[prompt_dim + context_dim :],
    )
    rng = np.random.default_rng(seed)

    window = [ASSISTANT] * config.context
    generated: list[int] = []
    stop_strings = [s for s in (stop or []) if s]
    while len(generated) < max_tokens:
        position = min(len(generated), config.n_positions - 1)
        pre = (
            fixed
            + params["C"][window].reshape(-1) @ w1_context
            + params["Q"][position] @ w1_position
        )
        logits = (np.tanh(pre) @ params["W2"] + params["b2"]).astype(np.float64)
        if temperature <= 0:
            token = int(logits.argmax())
        else:
            scaled = logits / temperature
            probs = np.exp(scaled - scaled.max())
            token = int(rng.choice(len(probs), p=probs / probs.sum()))
        if token == EOS:
            return Generation(decode_tokens(generated), prompt_tokens, len(generated), "stop")
        generated.append(token)
        window = [*window[1:], token]
        if stop_strings:
            cut = _truncate_at_stop(decode_tokens(generated), stop_strings)
            if cut is not None:
                return Generation(cut, prompt_tokens, len(generated), "stop")
    return Generation(decode_tokens(generated), prompt_tokens, len(generated), "length")


def prompt_of(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The messages of a chat example before its last assistant message (what a model is asked)."""
    messages: list[dict[str, Any]] = list(row["messages"])
    last = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages)
    )
    return messages[:last]
