"""Provider types come from the `ftctl.providers` entry points and declare what they can do."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from ftctl.config.loader import load_workspace
from ftctl.errors import ConfigError
from ftctl.providers.registry import (
    ENTRY_POINT_GROUP,
    capabilities,
    outage_timeouts,
    provider_type,
    provider_types,
)

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: types-test}
providers:
  openai: {type: openai}
  endpoint: {type: openai, baseUrl: "http://127.0.0.1:9/v1", apiKeyEnv: ENDPOINT_KEY}
  on-demand: {type: local}
  shared: {type: local, baseUrl: "http://127.0.0.1:9/v1"}
"""


def test_built_in_types_are_registered_as_entry_points_like_a_third_partys() -> None:
    names = {e.name for e in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"openai", "local", "azure"} <= names
    assert {"openai", "local", "azure"} <= set(provider_types())


def test_an_unregistered_type_is_named_with_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"no provider type 'vertex' is registered.*local"):
        provider_type("vertex")


def test_capabilities_follow_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    workspace = load_workspace(tmp_path)
    openai, endpoint = capabilities(workspace, "openai"), capabilities(workspace, "endpoint")
    assert openai is not None and endpoint is not None
    assert (openai.openai_itself, openai.own_models, openai.pricing) == (True, False, "openai")
    assert (endpoint.openai_itself, endpoint.own_models, endpoint.pricing) == (
        False,
        True,
        "unknown",
    )
    assert "dpo" in openai.training_methods
    local = capabilities(workspace, "on-demand")
    assert local is not None and local.training_methods == frozenset({"supervised", "dpo"})
    assert not local.serving_needs_deployment
    assert capabilities(workspace, "nowhere") is None
    # Only the server ftctl starts itself comes back elsewhere after a restart.
    assert outage_timeouts(workspace) == {"on-demand": 0.0}
