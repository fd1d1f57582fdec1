"""Real components for executor tests: the local server over loopback, SQLite state."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import LocalServerHandle
from ftctl.state.sqlite import SqliteStateStore

from ..support.local_server import provider, running_local_server

__all__ = ["provider"]  # a fixture: pytest finds it in this module

_FACTORIES = Path(__file__).parent.parent / "plan" / "factories.py"
if "plan_factories" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("plan_factories", _FACTORIES)
    assert _spec and _spec.loader
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["plan_factories"] = _module
    _spec.loader.exec_module(_module)

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "projects" / "support-triage" / "data" / "train.jsonl"


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    with running_local_server(tmp_path_factory.mktemp("server")) as handle:
        yield handle


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    return SqliteStateStore(tmp_path / "state.db", workspace_name="apply-tests")


@pytest.fixture
def data_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """train (24 rows), validation (6) and test (4) JSONL files and their sha256."""
    lines = SOURCE.read_text().splitlines(True)
    tests = SOURCE.with_name("test.jsonl").read_text().splitlines(True)
    out: dict[str, tuple[Path, str]] = {}
    for split, rows in (("train", lines[:24]), ("validation", lines[24:30]), ("test", tests[:4])):
        path = tmp_path / f"{split}.jsonl"
        data = "".join(rows).encode()
        path.write_bytes(data)
        out[split] = (path, hashlib.sha256(data).hexdigest())
    return out
