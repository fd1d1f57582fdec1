"""Fixtures of the reliability tests (helpers live in `_kit.py`, importable from here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test modules import the helpers as `_kit` (no package: pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).parent))

from _kit import ServerFactory, ServerProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start a server: `start_server("--faults", "rate=...")`; all stopped at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, data_dir: Path | None = None) -> ServerProcess:
        directory = data_dir or tmp_path / f"server{len(started)}"
        server = ServerProcess(directory, tmp_path / f"server{len(started)}.log", args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
