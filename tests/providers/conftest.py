"""A real local fine-tuning server (subprocess, loopback HTTP) for the provider tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import LocalServerHandle

from ..support.azure_double.fixtures import azure
from ..support.local_server import provider, running_local_server

__all__ = ["azure", "provider"]  # fixtures: pytest finds them in this module

SERVER_KEY_ENV = "FTCTL_TEST_PROVIDER_KEY"
SERVER_KEY = "sk-test-secret-key-0123456789"


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server without faults and without an API key (any key is accepted)."""
    with running_local_server(tmp_path_factory.mktemp("server")) as handle:
        yield handle


@pytest.fixture
def server_key() -> str:
    return SERVER_KEY


@pytest.fixture(scope="session")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server past the training cut-off that requires SERVER_KEY."""
    data_dir = tmp_path_factory.mktemp("closed-server")
    env = {"FTCTL_SERVER_FAULTS": "training_not_available", SERVER_KEY_ENV: SERVER_KEY}
    with running_local_server(data_dir, SERVER_KEY_ENV, env) as handle:
        yield handle


@pytest.fixture(scope="session")
def flaky_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server that answers half of the /v1 requests with 429/500/503 (seeded)."""
    data_dir = tmp_path_factory.mktemp("flaky-server")
    env = {"FTCTL_SERVER_FAULTS": "rate=0.5,codes=429:500:503,seed=3,retry_after_ms=1"}
    with running_local_server(data_dir, env=env) as handle:
        yield handle


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} plus one?"},
                {"role": "assistant", "content": f"{i + 1}"},
            ]
        }
        for i in range(12)
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
