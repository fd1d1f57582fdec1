"""A real local server and a provider for the refresh tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.openai_api import OpenAIProvider
from ftctl.server.launcher import LocalServerHandle, ensure_local_server, stop_local_server


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    data_dir = tmp_path_factory.mktemp("refresh-server")
    handle = ensure_local_server(data_dir)
    yield handle
    stop_local_server(data_dir)


@pytest.fixture
def provider(local_server: LocalServerHandle) -> Iterator[OpenAIProvider]:
    p = OpenAIProvider("local", api_key="unused", base_url=local_server.base_url)
    yield p
    p.close()


@pytest.fixture
def train_file_id(provider: OpenAIProvider, tmp_path: Path) -> str:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(12)
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return provider.upload_file(path, "train.jsonl").id
