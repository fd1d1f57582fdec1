"""A real local server and a provider for the refresh tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import LocalServerHandle
from ftctl.providers.openai_api import OpenAIProvider

from ..support.local_server import provider, running_local_server

__all__ = ["provider"]  # a fixture: pytest finds it in this module


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    with running_local_server(tmp_path_factory.mktemp("refresh-server")) as handle:
        yield handle


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
