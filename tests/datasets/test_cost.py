"""Epochs for `auto` and billed tokens, by OpenAI's rule."""

from __future__ import annotations

import numpy as np
import pytest

from ftctl.catalog.models import lookup_model
from ftctl.datasets.cost import auto_epochs, estimate_cost
from ftctl.errors import DataError


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (8, 12),
        (33, 3),
        (34, 3),
        (100, 3),
        (8333, 3),
        (8334, 2),
        (12_500, 2),
        (12_501, 1),
        (50_000, 1),
    ],
)
def test_auto_epochs(n: int, epochs: int) -> None:
    assert auto_epochs(n) == epochs


def test_billed_tokens_are_capped_per_example_and_multiplied_by_epochs() -> None:
    gpt35 = lookup_model("gpt-3.5-turbo-0125")
    estimate = estimate_cost([100, 20_000, 16_385], gpt35, 2)
    assert estimate.epochs == 2
    assert estimate.billed_tokens == 2 * (100 + 16_385 + 16_385)
    assert estimate.cost_usd == pytest.approx(estimate.billed_tokens * 8.0 / 1e6)


def test_auto_uses_the_example_count_and_accepts_numpy() -> None:
    mini = lookup_model("gpt-4o-mini-2024-07-18")
    estimate = estimate_cost(np.full(10, 1000), mini, "auto")
    assert estimate.epochs == 10 and estimate.billed_tokens == 100_000
    assert estimate.cost_usd == pytest.approx(0.30)


def test_models_not_billed_per_token_have_no_cost() -> None:
    assert estimate_cost([10], lookup_model("o4-mini"), 1).cost_usd is None
    assert estimate_cost([10], lookup_model("local-tiny"), 1).cost_usd == 0


def test_bad_epochs() -> None:
    with pytest.raises(DataError):
        estimate_cost([10], lookup_model("local-tiny"), 0)
