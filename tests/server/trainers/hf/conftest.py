"""Fixtures of the Hugging Face trainer's tests. Skipped without the `train` extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.catalog.hf import missing_train_packages

# Checked without importing them: importing trl here, at collection, would change how
# later tests in the same process see typing's caches (and the JSON Schemas they render).
if missing_train_packages():
    pytest.skip("the Hugging Face trainer needs the 'train' extra", allow_module_level=True)


@pytest.fixture
def tiny_model(tiny_hf_model: Path) -> Path:
    return tiny_hf_model


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CI machine has 2 shared cores: one thread per training process is several times
    # faster than torch's default there (and makes runs reproducible).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
