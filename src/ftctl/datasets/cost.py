"""Epochs and billed training tokens, by OpenAI's rule (the data-prep notebook's constants).

With `n_epochs: auto` OpenAI trains for 3 epochs, but adjusts so that the model sees at
least 100 and at most 25,000 examples in total, keeping the epochs within 1..25. Each
example is billed up to the model's per-example token limit (longer ones are truncated),
times the number of epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ftctl.catalog.models import ModelInfo
from ftctl.errors import DataError

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

if TYPE_CHECKING:  # numpy is imported where it is used: `ftctl plan` should not pay for it
    import numpy as np
    import numpy.typing as npt


def auto_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks for `n_epochs: auto` on `n_examples` examples."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


@dataclass(frozen=True)
class CostEstimate:
    epochs: int
    billed_tokens: int  # over all epochs
    cost_usd: float | None  # None when the model is not billed per token


def billed_tokens_per_epoch(
    example_tokens: Sequence[int] | npt.NDArray[np.integer], limit: int
) -> int:
    """sum(min(limit, tokens)) over the examples: what one epoch is billed."""
    import numpy as np

    tokens = np.asarray(example_tokens, dtype=np.int64)
    if tokens.size == 0:
        return 0
    return int(np.minimum(tokens, limit).sum())


def estimate_cost(
    example_tokens: Sequence[int] | npt.NDArray[np.integer],
    model: ModelInfo,
    n_epochs: int | Literal["auto"],
) -> CostEstimate:
    """Epochs, billed tokens and USD cost of training `model` on examples of these sizes."""
    n_examples = len(example_tokens)
    if n_epochs == "auto":
        epochs = auto_epochs(n_examples)
    else:
        if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 1:
            raise DataError(f"n_epochs must be 'auto' or a positive integer, not {n_epochs!r}")
        epochs = n_epochs
    billed = billed_tokens_per_epoch(example_tokens, model.max_tokens_per_example) * epochs
    price = model.training_price_per_1m
    cost = None if price is None else round(billed * price / 1_000_000, 6)
    return CostEstimate(epochs=epochs, billed_tokens=billed, cost_usd=cost)
