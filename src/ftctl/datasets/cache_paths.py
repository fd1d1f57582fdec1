"""Where a workspace's dataset cache lives, and how a file in it is written (standard library
only: the CLI reads and the build writes a hint there, `worker_prestart`, whose module must
not import the build engine)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root(workspace_root: Path) -> Path:
    return workspace_root / ".ftctl" / "cache" / "datasets"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
