"""Where a workspace's dataset cache lives, and how a file in it is written (standard library
only: the CLI reads and the build writes a hint there, `worker_prestart`, whose module must
not import the build engine)."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO


def cache_root(workspace_root: Path) -> Path:
    return workspace_root / ".ftctl" / "cache" / "datasets"


def user_cache_dir() -> Path | None:
    """The user's ftctl cache, shared by workspaces: `$FTCTL_CACHE_DIR`, else
    `$XDG_CACHE_HOME/ftctl` (~/.cache/ftctl); None when neither is set and there is no home
    directory to find (a container's user without one): nothing is cached then."""
    root = os.environ.get("FTCTL_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if not xdg:
        try:
            xdg = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(xdg) / "ftctl"


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


def open_staged(path: Path) -> BinaryIO:
    """A new or empty file (a staged one: `tempfile.mkstemp` made it) opened to be written,
    without truncating it: on ext4 a file truncated to nothing is written out when it is
    closed (`auto_da_alloc`, for programs that rewrite a file in place), and closing a
    420 MB split took 0.2 s. A staged file is renamed into place whole and verified before
    it is used, so it needs no such care."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o666), "wb")


class WriteBehind:
    """Writes done in order by a thread of their own (hashing and writing release the GIL),
    so that the build goes on with its next rows meanwhile; at most `in_flight` wait for it
    (what bounds the memory they hold). A split's object (`cache.StagedWriter`) and a row
    snapshot (`row_snapshot.SnapshotWriter`) are written this way."""

    def __init__(self, name: str, in_flight: int) -> None:
        self._name = name
        self._in_flight = in_flight
        self._thread: ThreadPoolExecutor | None = None  # started by the first write
        self._writes: deque[Future[None]] = deque()

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        """Run `write(*args)` after the writes before it; wait while too many are queued."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        self._writes.append(self._thread.submit(write, *args))
        while len(self._writes) > self._in_flight:
            self._writes.popleft().result()

    def wait(self) -> None:
        """Wait for every write under way (the first that failed raises) and end the thread
        (a second call does nothing)."""
        try:
            while self._writes:
                self._writes.popleft().result()
        finally:
            if self._thread is not None:
                self._thread.shutdown()
                self._thread = None
