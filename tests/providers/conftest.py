"""A real local fine-tuning server (subprocess, loopback HTTP) for the provider tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.openai_api import OpenAIProvider
from ftctl.server.launcher import LocalServerHandle, ensure_local_server, stop_local_server

SERVER_KEY_ENV = "FTCTL_TEST_PROVIDER_KEY"
SERVER_KEY = "sk-test-secret-key-0123456789"


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server without faults and without an API key (any key is accepted)."""
    data_dir = tmp_path_factory.mktemp("server")
    handle = ensure_local_server(data_dir)
    yield handle
    stop_local_server(data_dir)


@pytest.fixture
def server_key() -> str:
    return SERVER_KEY


@pytest.fixture(scope="session")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server past the training cut-off that requires SERVER_KEY."""
    data_dir = tmp_path_factory.mktemp("closed-server")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FTCTL_SERVER_FAULTS", "training_not_available")
        env.setenv(SERVER_KEY_ENV, SERVER_KEY)
        handle = ensure_local_server(data_dir, SERVER_KEY_ENV)
    yield handle
    stop_local_server(data_dir)


@pytest.fixture(scope="session")
def flaky_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    """A server that answers half of the /v1 requests with 429/500/503 (seeded)."""
    data_dir = tmp_path_factory.mktemp("flaky-server")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FTCTL_SERVER_FAULTS", "rate=0.5,codes=429:500:503,seed=3,retry_after_ms=1")
        handle = ensure_local_server(data_dir)
    yield handle
    stop_local_server(data_dir)


@pytest.fixture
def provider(local_server: LocalServerHandle) -> Iterator[OpenAIProvider]:
    p = OpenAIProvider("local", api_key="unused", base_url=local_server.base_url)
    yield p
    p.close()


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
