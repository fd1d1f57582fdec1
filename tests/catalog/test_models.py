"""The dated model catalog: lookups by id, alias and fine-tuned name; unknown models."""

from __future__ import annotations

from datetime import date

import pytest

from ftctl.catalog.models import OPENAI_TRAINING_CUTOFF, lookup_model
from ftctl.errors import DataError


@pytest.mark.parametrize(
    ("model", "price", "limit", "encoding"),
    [
        ("gpt-4o-mini-2024-07-18", 3.00, 65_536, "o200k_base"),
        ("gpt-4o-2024-08-06", 25.00, 65_536, "o200k_base"),
        ("gpt-4.1-2025-04-14", 25.00, 65_536, "o200k_base"),
        ("gpt-4.1-mini-2025-04-14", 5.00, 65_536, "o200k_base"),
        ("gpt-4.1-nano-2025-04-14", 1.50, 65_536, "o200k_base"),
        ("gpt-3.5-turbo-0125", 8.00, 16_385, "cl100k_base"),
    ],
)
def test_openai_models(model: str, price: float, limit: int, encoding: str) -> None:
    info = lookup_model(model)
    assert (info.id, info.provider) == (model, "openai")
    assert info.training_price_per_1m == price
    assert info.max_tokens_per_example == limit
    assert info.encoding == encoding
    assert info.training_available_until == OPENAI_TRAINING_CUTOFF == date(2027, 1, 6)


def test_fine_tuned_names_and_aliases_map_to_their_base() -> None:
    assert lookup_model("ft:gpt-4o-mini-2024-07-18:acme:support:AbC123").id == (
        "gpt-4o-mini-2024-07-18"
    )
    assert lookup_model("ft:gpt-3.5-turbo-0125:acme::xyz").encoding == "cl100k_base"
    assert lookup_model("gpt-4o-mini").id == "gpt-4o-mini-2024-07-18"


def test_local_models_are_free() -> None:
    for name in ("local-tiny", "ft:local-tiny:support:7"):
        info = lookup_model(name)
        assert info.provider == "local" and info.training_price_per_1m == 0
        assert info.max_tokens_per_example == 4096 and info.encoding == "o200k_base"
        assert info.training_available_until is None


def test_unknown_model_names_it_and_lists_known_ones() -> None:
    with pytest.raises(DataError) as caught:
        lookup_model("gpt-5-mega")
    assert "'gpt-5-mega'" in str(caught.value)
    assert "gpt-4o-mini-2024-07-18" in str(caught.value) and "local-tiny" in str(caught.value)
