"""Messages between a process and the worker processes it started (`data build`'s
`row_pool`, `data stats`' `stats_procs`): each a pickle after 8 bytes of its length, on the
subprocess's stdin and stdout. The pickles are the parent's own, from a process it started.
Also the environment both kinds of worker start in (`worker_env`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from typing import IO, Any, Protocol

HEADER = 8
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux's fcntl to resize a pipe


def send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(HEADER, "little"))
    stream.write(data)
    stream.flush()


def receive(stream: IO[bytes], who: str = "worker") -> Any:
    """The next message; EOFError when the other side has stopped."""
    header = stream.read(HEADER)
    if len(header) < HEADER:
        raise EOFError(f"the {who} stopped")
    size = int.from_bytes(header, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError(f"the {who} stopped")
    return pickle.loads(data)


class Piped(Protocol):
    """A worker process's pipes (a `subprocess.Popen`, or a forked worker's)."""

    @property
    def stdin(self) -> IO[bytes] | None: ...
    @property
    def stdout(self) -> IO[bytes] | None: ...


def widen(process: Piped) -> None:
    """Pipes of 1 MB instead of 64 KB (Linux; elsewhere nothing): a message of about a
    megabyte then crosses in one go instead of sixteen turns of the two processes."""
    for stream in (process.stdin, process.stdout):
        if stream is None:
            continue
        with contextlib.suppress(OSError, ImportError):
            import fcntl

            fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)


def worker_env() -> dict[str, str]:
    """The environment of a worker process: this one's, with the ftctl this process runs
    first on the path, so that the workers import the same ftctl wherever it was found."""
    import ftctl

    env = dict(os.environ)
    package_root = str(Path(ftctl.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env
