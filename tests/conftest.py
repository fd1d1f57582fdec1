"""Shared fixtures. Package-specific fixtures live in tests/<package>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random chat model directory (`baseModel: hf:<it>`); skips without the extra."""
    from ftctl.catalog.hf import missing_train_packages

    if missing_train_packages():
        pytest.skip("the Hugging Face trainer needs the 'train' extra")
    from .support.hf_tiny import make_tiny_model, tokenizer_texts

    return make_tiny_model(tmp_path_factory.mktemp("hf") / "tiny-chat", tokenizer_texts())
