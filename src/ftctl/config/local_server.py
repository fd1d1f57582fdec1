"""The files a local fine-tuning server keeps in its data directory, and how they are read.

This is the contract between the server program (`ftctl.server`, which writes them) and
its clients (`ftctl.providers.local_launcher`, which starts and finds servers): neither
imports the other, both import this.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SERVER_INFO = "server.json"
SERVER_LOG = "server.log"
SERVER_LOCK = "server.lock"
LAUNCH_LOCK = "launcher.lock"
SERVER_DATABASE = "state.sqlite3"
HEALTH_PATH = "/health"


def has_data(data_dir: Path) -> bool:
    """True when a server has ever run on `data_dir` (so it may know files and jobs)."""
    return (data_dir / SERVER_DATABASE).is_file()


@dataclass(frozen=True)
class ServerInfo:
    """`server.json`: the running server of a data directory."""

    pid: int
    port: int
    url: str
    started_at: str
    # The *name* of the variable holding the API key (never the key), so that a caller
    # asking for a different key setting gets a server started with it.
    api_key_env: str | None = None

    @classmethod
    def read(cls, data_dir: Path) -> ServerInfo | None:
        try:
            raw = json.loads((data_dir / SERVER_INFO).read_text())
            key_env = raw.get("api_key_env")
            return cls(
                int(raw["pid"]),
                int(raw["port"]),
                str(raw["url"]),
                str(raw["started_at"]),
                str(key_env) if key_env else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, data_dir: Path) -> None:
        path = data_dir / SERVER_INFO
        temporary = path.with_name(f".{SERVER_INFO}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        os.replace(temporary, path)


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """flock on `path`: yields whether it was taken (always True when `wait`)."""
    handle: IO[str] = open(path, "a")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()
