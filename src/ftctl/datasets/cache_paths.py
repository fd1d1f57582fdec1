"""Where a workspace's dataset cache lives (standard library only: the CLI reads a hint there
before it imports the build engine, `worker_prestart`)."""

from __future__ import annotations

from pathlib import Path


def cache_root(workspace_root: Path) -> Path:
    return workspace_root / ".ftctl" / "cache" / "datasets"
