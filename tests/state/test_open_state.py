"""open_state: the backend ftctl.yaml names."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.config.loader import load_workspace
from ftctl.errors import StateError
from ftctl.state.store import StateStore, open_state

HEAD = "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: acme}\n"


def test_sqlite_state_lives_where_the_workspace_says(tmp_path: Path) -> None:
    (tmp_path / "ftctl.yaml").write_text(HEAD + "state: {backend: sqlite, path: var/st.db}\n")
    store = open_state(load_workspace(tmp_path))
    assert isinstance(store, StateStore)
    assert store.read().workspace_id.startswith("acme.")
    assert (tmp_path / "var" / "st.db").is_file()


def test_an_invalid_postgres_schema_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ftctl.yaml").write_text(
        HEAD + 'state: {backend: postgres, schemaName: "x; DROP TABLE y"}\n'
    )
    monkeypatch.setenv("FTCTL_STATE_DSN", "host=/nonexistent")
    with pytest.raises(StateError, match="invalid PostgreSQL schema name"):
        open_state(load_workspace(tmp_path))


def test_a_missing_postgres_dsn_names_the_line_of_ftctl_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ftctl.yaml").write_text(
        HEAD + "state:\n  backend: postgres\n  dsnEnv: FTCTL_TEST_UNSET_DSN\n"
    )
    monkeypatch.delenv("FTCTL_TEST_UNSET_DSN", raising=False)

    with pytest.raises(StateError) as raised:
        open_state(load_workspace(tmp_path))

    [diagnostic] = raised.value.diagnostics
    assert str(diagnostic).startswith(
        "ftctl.yaml:6:11: error: state.dsnEnv: environment variable FTCTL_TEST_UNSET_DSN is not set"
    )
