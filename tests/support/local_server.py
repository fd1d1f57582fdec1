"""The local fine-tuning server (a subprocess on loopback HTTP) for package conftests.

Conftests import this as `from ..support.local_server import ...`: pytest runs in importlib
mode, where `tests/` and its folders are namespace packages. A conftest defines its own
`local_server` fixture (its data directory, scope and faults) and imports `provider`, which
talks to whichever `local_server` the requesting test sees.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import LocalServerHandle, ensure_local_server, stop_local_server
from ftctl.providers.openai_api import OpenAIProvider


@contextmanager
def running_local_server(
    data_dir: Path, api_key_env: str | None = None, env: Mapping[str, str] | None = None
) -> Iterator[LocalServerHandle]:
    """The server of `data_dir`, stopped on exit; `env` is set only while it starts."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        handle = ensure_local_server(data_dir, api_key_env)
    try:
        yield handle
    finally:
        stop_local_server(data_dir)
        drop_weights(data_dir)


def drop_weights(data_dir: Path) -> None:
    """Delete a stopped server's model weights, its bulk (tens of MB a job), to keep the run's
    disk use low; its log and database stay for whoever debugs a failure."""
    shutil.rmtree(data_dir / "weights", ignore_errors=True)


@pytest.fixture
def provider(local_server: LocalServerHandle) -> Iterator[OpenAIProvider]:
    """ftctl's OpenAI provider talking to the package's `local_server`."""
    p = OpenAIProvider("local", api_key="unused", base_url=local_server.base_url)
    yield p
    p.close()
