"""`exists()`: read-only commands ask it first, so that looking creates no state."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.errors import StateError
from ftctl.state.sqlite import SqliteStateStore


def test_a_new_store_does_not_exist_until_it_is_read(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / ".ftctl" / "state.db")
    assert not store.exists()
    assert not (tmp_path / ".ftctl").exists()  # asking created nothing

    lineage = store.read().lineage

    assert store.exists()
    assert SqliteStateStore(tmp_path / ".ftctl" / "state.db").read().lineage == lineage


def test_a_directory_in_the_way_is_an_error_not_an_empty_state(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()
    store = SqliteStateStore(tmp_path / "state.db")

    assert store.exists()
    with pytest.raises(StateError, match="cannot open state database"):
        store.read()
