"""open_provider: credentials from the environment, the local server started on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.config.loader import LoadedWorkspace, load_workspace
from ftctl.config.local_server import ServerInfo
from ftctl.errors import ConfigError, CredentialsError
from ftctl.providers.local_launcher import LocalServerHandle, stop_local_server
from ftctl.providers.registry import open_provider

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {{name: reg-test}}
providers:
  openai: {{type: openai, apiKeyEnv: FTCTL_TEST_MISSING_KEY}}
  on-demand: {{type: local, dataDir: .ftctl/server}}
  shared: {{type: local, baseUrl: "{base_url}", apiKeyEnv: FTCTL_TEST_PROVIDER_KEY}}
"""


@pytest.fixture
def workspace(tmp_path: Path, closed_server: LocalServerHandle) -> Iterator[LoadedWorkspace]:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE.format(base_url=closed_server.base_url))
    yield load_workspace(tmp_path)
    stop_local_server(tmp_path / ".ftctl" / "server")


def test_missing_api_key_is_named_before_any_request(
    workspace: LoadedWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FTCTL_TEST_MISSING_KEY", raising=False)
    with pytest.raises(CredentialsError, match="FTCTL_TEST_MISSING_KEY is not set"):
        open_provider(workspace, "openai")


def test_unknown_provider_names_the_known_ones(workspace: LoadedWorkspace) -> None:
    with pytest.raises(ConfigError, match=r"no provider named 'nope'.*on-demand, openai, shared"):
        open_provider(workspace, "nope")


def test_local_provider_starts_its_server_under_the_workspace(
    workspace: LoadedWorkspace,
) -> None:
    provider = open_provider(workspace, "on-demand")
    assert "local-tiny" in {m.id for m in provider.list_models()}
    info = ServerInfo.read(workspace.root / ".ftctl" / "server")
    assert info is not None  # the server this provider talks to keeps its data there
    assert provider.request_count == 1


def test_local_provider_with_base_url_uses_the_key_from_its_env_var(
    workspace: LoadedWorkspace, monkeypatch: pytest.MonkeyPatch, server_key: str
) -> None:
    monkeypatch.setenv("FTCTL_TEST_PROVIDER_KEY", server_key)
    assert open_provider(workspace, "shared").list_jobs() == []
    monkeypatch.delenv("FTCTL_TEST_PROVIDER_KEY")
    with pytest.raises(CredentialsError, match="FTCTL_TEST_PROVIDER_KEY"):
        open_provider(workspace, "shared")
