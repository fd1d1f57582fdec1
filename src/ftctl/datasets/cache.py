"""The dataset cache: canonical JSONL files by content hash, build results by input hash.

Layout under `<workspace>/.ftctl/cache/datasets/`:

    objects/<sha256>.jsonl          the canonical bytes of a split (what is uploaded)
    objects/<sha256>.origins.jsonl  `[file, line]` of each of its rows, in order
    builds/<key>.json               a project's build result, keyed by the hash of every
                                    input (source bytes, project.yaml, policy defaults,
                                    ftctl version, cache format)

Only builds that pass are written. Writes are atomic (temporary file + rename), so a
crash or two concurrent builds leave either the old file or the new one, never a torn one.
Objects are verified against their hash before reuse: a damaged cache means a rebuild,
never wrong bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Bump when what a build produces for the same inputs changes (transforms, checks, report).
CACHE_FORMAT = 2


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


class DatasetCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / f"{sha256}.jsonl"

    def origins_path(self, sha256: str) -> Path:
        return self.root / "objects" / f"{sha256}.origins.jsonl"

    def put_object(self, sha256: str, data: bytes, origins: bytes) -> Path:
        path = self.object_path(sha256)
        if not self.has_object(sha256):
            atomic_write(path, data)
        atomic_write(self.origins_path(sha256), origins)
        return path

    def has_object(self, sha256: str) -> bool:
        path = self.object_path(sha256)
        if not path.is_file():
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest() == sha256

    def get_build(self, key: str) -> dict[str, Any] | None:
        path = self.root / "builds" / f"{key}.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put_build(self, key: str, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1)
        atomic_write(self.root / "builds" / f"{key}.json", text.encode("utf-8"))
